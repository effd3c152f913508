/** The subcommands of `flowgpu`; each takes its argv tail and returns an exit code. */
import { parseArgs } from 'node:util';
import { destroyGpu, initGpu } from '../index.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

type Command = (argv: string[]) => Promise<number>;

export function usage(): string {
  return `flowgpu — flow matching on the GPU through WebGPU

Usage:
  flowgpu info                              adapter, limits and features
  flowgpu train toy [options]               train a 2-D flow (see flowgpu train toy --help)
  flowgpu train mnist [options]             train an MNIST flow
  flowgpu sample CKPT [options]             sample from a checkpoint
  flowgpu nll CKPT --data FILE.npy          log-likelihood of points
  flowgpu eval toy|mnist ...                sample-quality metrics
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

export const COMMANDS: Record<string, Command> = {
  info,
};
