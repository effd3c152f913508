#!/usr/bin/env node
/**
 * The `flowgpu` command: argument parsing, printing, progress and files over the package's public
 * entry (src/node.ts) — the library does the work. `flowgpu help` lists the commands.
 * A user error is one line on stderr and exit 2; set FLOWGPU_DEBUG=1 (or --debug) for stack traces.
 */
import { FlowGpuError } from '../node.js';
import { COMMANDS, usage, VERSION } from './commands.js';
import { runFiltered, runsHere } from './quiet.js';

const debug = process.argv.includes('--debug') || !!process.env.FLOWGPU_DEBUG;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(usage());
    return 0;
  }
  if (cmd === '--version' || cmd === '-v') {
    process.stdout.write(`flowgpu ${VERSION}\n`);
    return 0;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    process.stderr.write(`flowgpu: unknown command '${cmd}'\n\n${usage()}`);
    return 2;
  }
  return run(rest);
}

(runsHere() ? main(process.argv.slice(2).filter((a) => a !== '--debug')) : runFiltered()).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as Error;
    if (err?.name === 'HelpRequest') {
      process.stdout.write(err.message);
      process.exit(0);
    }
    if (debug) process.stderr.write(`${err?.stack ?? String(e)}\n${err?.cause instanceof Error ? `caused by: ${err.cause.stack}\n` : ''}`);
    if (e instanceof FlowGpuError || err?.name === 'UsageError') {
      process.stderr.write(`flowgpu: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`flowgpu: ${debug ? 'internal error (stack above)' : `${err?.message ?? String(e)} (run with --debug for the stack trace)`}\n`);
    process.exit(1);
  },
);
