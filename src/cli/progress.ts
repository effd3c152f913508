import { stderrIsTTY } from './quiet.js';

/** A one-line progress bar for the terminal: step, loss, steps/s, ETA. Plain lines when not a TTY. */
export class Progress {
  private readonly start = Date.now();
  private lastPrint = 0;
  private readonly tty: boolean;
  constructor(
    private readonly total: number,
    private readonly label = 'train',
    private readonly startStep = 0,
  ) {
    this.tty = stderrIsTTY();
  }

  update(step: number, fields: Record<string, string | number> = {}, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastPrint < (this.tty ? 100 : 5000)) return;
    this.lastPrint = now;
    const done = step - this.startStep;
    const elapsed = (now - this.start) / 1000;
    const rate = done > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (this.total - step) / rate : NaN;
    const width = 24;
    const filled = Math.round((width * step) / Math.max(this.total, 1));
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? fmtNum(v) : v}`)
      .join('  ');
    const line = `${this.label} ${bar} ${step}/${this.total}  ${extra}  ${rate.toFixed(rate < 10 ? 2 : 1)} steps/s  ETA ${fmtTime(eta)}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(`${line}\n`);
  }

  finish(step: number, fields: Record<string, string | number> = {}): void {
    this.update(step, fields, true);
    if (this.tty) process.stderr.write('\n');
  }
}

function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
