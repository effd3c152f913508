/** The subcommands of `flowgpu`; each takes its argv tail and returns an exit code. */
import { destroyGpu, initGpu } from '../node.js';
import { parse, UsageError } from './args.js';
import { evalDiscreteCmd, trainDiscreteCmd } from './discrete.js';
import { reflowCmd } from './reflow.js';
import { evalCmd, nllCmd, sampleCmd } from './sample.js';
import { trainCmd } from './train.js';

export const VERSION = '0.1.0';

export function usage(): string {
  return `flowgpu ${VERSION} — flow matching on the GPU through WebGPU

Usage:
  flowgpu info [--json]                     adapter, limits and features
  flowgpu train toy [options]               train a 2-D flow (see flowgpu train toy --help)
  flowgpu train mnist [options]             train an MNIST flow (see flowgpu train mnist --help)
  flowgpu train points --data FILE          train a flow on the rows of a .npy or .csv file, any dimension
  flowgpu train images --data DIR|FILE      train an image flow on a folder of PNGs, an .npy or an IDX file
  flowgpu train discrete [options]          discrete flow matching on 2-D tokens or MNIST in K gray levels (see --help)
  flowgpu sample CKPT [options]             sample from a checkpoint (toy or MNIST)
  flowgpu nll CKPT --data FILE.npy          log-likelihood of points
  flowgpu eval toy|mnist ...                sample-quality metrics (MNIST: FD and accuracy of an in-engine classifier)
  flowgpu eval discrete CKPT [options]      CTMC samples of a discrete run: support, TV, ELBO (MNIST: the judge, guidance)
  flowgpu reflow CKPT [options]             rectified flow: retrain on the model's own (x0, x1) pairs for few-step sampling
  flowgpu bench [--quick] [--filter RE]     the benchmark suite
  flowgpu --version

Exit codes: 0 done, 1 failure, 2 bad command line or input, 130 interrupted (a checkpoint was written).
`;
}

const INFO_HELP = 'flowgpu info [--json]: the adapter flowgpu finds, its limits and features\n';

async function info(argv: string[]): Promise<number> {
  const { flag } = parse(argv, { json: { type: 'boolean' } }, INFO_HELP);
  const g = await initGpu();
  try {
    const i = g.info;
    if (flag('json')) {
      process.stdout.write(JSON.stringify(i, null, 2) + '\n');
      return 0;
    }
    const lines = [
      `adapter:      ${[i.vendor, i.architecture, i.device].filter(Boolean).join(' / ') || '(unnamed)'}`,
      `description:  ${i.description || '-'}`,
      `backend:      ${i.backend}`,
      `features:     ${i.features.join(', ')}`,
      'limits:',
      ...Object.entries(i.limits)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `  ${k.padEnd(44)} ${v}`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    destroyGpu();
  }
}

/** `flowgpu bench …` runs the bench suite bundled beside this file (dist/node/bench.js). */
async function benchCmd(argv: string[]): Promise<number> {
  const { fileURLToPath } = await import('node:url');
  const { existsSync } = await import('node:fs');
  const { spawnSync } = await import('node:child_process');
  const bench = fileURLToPath(new URL('./bench.js', import.meta.url));
  if (!existsSync(bench)) throw new UsageError(`the bench suite is not built (${bench} is missing): run \`npm run build\` in the flowgpu checkout`);
  const r = spawnSync(process.execPath, [bench, ...argv], { stdio: 'inherit' });
  return r.status ?? 1;
}

export const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  info,
  bench: benchCmd,
  train: (argv) => (argv[0] === 'discrete' ? trainDiscreteCmd(argv.slice(1)) : trainCmd(argv)),
  sample: sampleCmd,
  nll: nllCmd,
  eval: (argv) => (argv[0] === 'discrete' ? evalDiscreteCmd(argv.slice(1)) : evalCmd(argv)),
  reflow: reflowCmd,
};
