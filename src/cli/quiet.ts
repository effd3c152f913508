/**
 * Dawn prints two warnings at every adapter request on lavapipe ("maxDynamicUniformBuffersPerPipelineLayout
 * artificially reduced from 1000000 to 16 …"): native writes to file descriptor 2 that no JavaScript hook
 * reaches, and that a user can do nothing about. So `flowgpu` runs its command in a child process whose
 * stderr it reads, dropping exactly those lines and passing everything else through as it arrives
 * (a progress bar's partial lines included). The child knows whether the real stderr is a terminal
 * (FLOWGPU_STDERR_TTY) and owns the work: locks name its PID, signals reach it (Ctrl-C goes to the
 * whole process group; SIGTERM to this process is forwarded), and its exit code is this one's.
 * FLOWGPU_RAW_STDERR=1 runs the command in this process instead.
 */
import { spawn } from 'node:child_process';

const DAWN_NOISE = /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;
const PREFIX = 'Warning: maxDynamic';

/** True in the child (or when asked not to filter): run the command here. */
export function runsHere(): boolean {
  return !!process.env.FLOWGPU_CHILD || !!process.env.FLOWGPU_RAW_STDERR;
}

/** Is stderr a terminal (the real one, when this is the child)? */
export function stderrIsTTY(): boolean {
  return process.env.FLOWGPU_STDERR_TTY ? process.env.FLOWGPU_STDERR_TTY === '1' : !!process.stderr.isTTY;
}

/** Runs this same command in a child with Dawn's noise filtered from its stderr; resolves with its exit code. */
export function runFiltered(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, FLOWGPU_CHILD: '1', FLOWGPU_STDERR_TTY: process.stderr.isTTY ? '1' : '0' },
  });
  let held = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const lines = (held + chunk).split('\n');
    held = lines.pop()!;
    let out = lines.filter((l) => !DAWN_NOISE.test(l)).map((l) => l + '\n').join('');
    // a partial line goes out at once (progress bars redraw with \r) unless it may become the noise
    if (!(PREFIX.startsWith(held) || held.startsWith(PREFIX))) {
      out += held;
      held = '';
    }
    if (out) process.stderr.write(out);
  });
  // Ctrl-C reaches the child through the process group; a signal sent to this process alone is passed on
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGINT', forward('SIGINT')).on('SIGTERM', forward('SIGTERM'));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (held && !DAWN_NOISE.test(held)) process.stderr.write(held);
      resolve(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1));
    });
  });
}
