#!/usr/bin/env node
/**
 * The `flowgpu` command. Argument parsing, progress and files only: the math lives in the library.
 *   flowgpu info
 *   flowgpu train toy --dataset checkerboard [...]      (see `flowgpu help`)
 *   flowgpu sample CKPT --n N --solver S --nfe K --out FILE.npy
 *   flowgpu nll CKPT --data FILE.npy
 *   flowgpu eval toy|mnist ...
 *   flowgpu bench [--quick] [--filter RE]
 */
import { FlowGpuError } from '../gpu/errors.js';
import { COMMANDS, usage } from './commands.js';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(usage());
    return 0;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    process.stderr.write(`flowgpu: unknown command '${cmd}'\n\n${usage()}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if ((e as Error)?.name === 'HelpRequest') {
      process.stdout.write((e as Error).message);
      process.exit(0);
    }
    if (e instanceof FlowGpuError || (e as { code?: string })?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (e as Error)?.name === 'UsageError') {
      process.stderr.write(`flowgpu: ${(e as Error).message}\n`);
      process.exit(2);
    }
    process.stderr.write(`flowgpu: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
