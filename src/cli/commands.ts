/** The subcommands of `flowgpu`; each takes its argv tail and returns an exit code. */
import { parseArgs } from 'node:util';
import { destroyGpu, initGpu } from '../index.js';
import { UsageError } from './errors.js';
import { TOY_HELP, trainToy } from './toy.js';
import { evalMnist, EVAL_MNIST_HELP } from './classifier.js';
import { MNIST_HELP, trainMnist } from './mnist.js';
import { withGpu } from './loop.js';
import { reflowCmd } from './reflow.js';
import { evalToy, nll, SAMPLE_HELP, sampleCkpt } from './toycmds.js';
export { UsageError };

type Command = (argv: string[]) => Promise<number>;

export function usage(): string {
  return `flowgpu — flow matching on the GPU through WebGPU

Usage:
  flowgpu info                              adapter, limits and features
  flowgpu train toy [options]               train a 2-D flow (see flowgpu train toy --help)
  flowgpu train mnist [options]             train an MNIST flow (see flowgpu train mnist --help)
  flowgpu sample CKPT [options]             sample from a checkpoint (toy or MNIST)
  flowgpu nll CKPT --data FILE.npy          log-likelihood of points
  flowgpu eval toy|mnist ...                sample-quality metrics (MNIST: FD and accuracy of an in-engine classifier)
  flowgpu reflow CKPT [options]             rectified flow: retrain on the model's own (x0, x1) pairs for few-step sampling
  flowgpu bench [--quick] [--filter RE]     the benchmark suite
`;
}

async function info(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, strict: true });
  const g = await initGpu();
  try {
    const i = g.info;
    if (values.json) {
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

async function train(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === 'toy') return trainToy(rest);
  if (what === 'mnist') return trainMnist(rest);
  throw new UsageError(`flowgpu train: say what to train: 'flowgpu train toy …' or 'flowgpu train mnist …'${what ? ` (got '${what}')` : ''}\n\n${TOY_HELP}\n${MNIST_HELP}`);
}

async function sampleCmd(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SAMPLE_HELP);
    return 0;
  }
  return withGpu(() => sampleCkpt(argv));
}

async function nllCmd(argv: string[]): Promise<number> {
  await initGpu();
  try {
    return await nll(argv);
  } finally {
    destroyGpu();
  }
}

async function evalCmd(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === 'toy') {
    await evalToy(rest);
    return 0;
  }
  if (what === 'mnist') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(EVAL_MNIST_HELP);
      return 0;
    }
    return withGpu(() => evalMnist(rest));
  }
  throw new UsageError(`usage: flowgpu eval toy SAMPLES.npy --dataset NAME | flowgpu eval mnist SAMPLES.npy [--labels L.npy]${what ? ` (got '${what}')` : ''}`);
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

export const COMMANDS: Record<string, Command> = {
  info,
  bench: benchCmd,
  train,
  sample: sampleCmd,
  nll: nllCmd,
  eval: evalCmd,
  reflow: reflowCmd,
};
