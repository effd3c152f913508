/**
 * A tiny raster plotting library (browser-safe): an RGB canvas with alpha-blended, anti-aliased
 * lines (Xiaolin Wu) and dots, a 5×7 bitmap font, axes with "nice" ticks (linear, or log for
 * losses), and the pictures flowgpu writes:
 *
 *   scatterPlot     data | samples, two panels with the same axes (equal aspect, from the data)
 *   trajectoryPlot  faint paths x0 → x1 for a subset of points, start and end markers
 *   lossPlot        raw loss (faint) and an exponential moving average, log-y
 *   imageGrid       [N, 1, H, W] images in [0, 1], 10 columns, 1-pixel gaps (gray output)
 *
 * Every function returns a RasterImage for encodePng (src/io/png.ts).
 */
import { FlowGpuError } from '../gpu/errors.js';
import { GLYPH_ADVANCE, GLYPH_H, glyph } from './font5x7.js';
import type { RasterImage } from './png.js';

export type Rgb = readonly [number, number, number];

export const COLORS = {
  black: [0, 0, 0] as Rgb,
  white: [255, 255, 255] as Rgb,
  grid: [228, 228, 228] as Rgb,
  text: [40, 40, 40] as Rgb,
  blue: [31, 119, 180] as Rgb,
  orange: [255, 127, 14] as Rgb,
  red: [214, 39, 40] as Rgb,
  green: [44, 160, 44] as Rgb,
  gray: [120, 120, 120] as Rgb,
};

export class Canvas {
  readonly pixels: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = COLORS.white,
  ) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new FlowGpuError(`canvas: invalid size ${width}×${height}`);
    }
    this.pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.pixels.set(background, 3 * i);
  }

  /** Blends `color` over pixel (x, y) with opacity `alpha` (ignored outside the canvas). */
  blend(x: number, y: number, color: Rgb, alpha = 1): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || !(alpha > 0)) return;
    const a = Math.min(alpha, 1);
    const i = 3 * (y * this.width + x);
    for (let c = 0; c < 3; c++) this.pixels[i + c] = Math.round(this.pixels[i + c] + (color[c] - this.pixels[i + c]) * a);
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb, alpha = 1): void {
    for (let j = Math.max(0, Math.floor(y)); j < Math.min(this.height, Math.floor(y + h)); j++) {
      for (let i = Math.max(0, Math.floor(x)); i < Math.min(this.width, Math.floor(x + w)); i++) this.blend(i, j, color, alpha);
    }
  }

  /** An anti-aliased line (Xiaolin Wu); `width` > 1 draws parallel strokes. */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, alpha = 1, width = 1): void {
    if (![x0, y0, x1, y1].every(Number.isFinite)) return;
    if (width <= 1) {
      this.wu(x0, y0, x1, y1, color, alpha);
      return;
    }
    const len = Math.hypot(x1 - x0, y1 - y0) || 1;
    const nx = -(y1 - y0) / len;
    const ny = (x1 - x0) / len;
    const strokes = Math.max(2, Math.round(width * 2));
    for (let s = 0; s < strokes; s++) {
      const o = (s / (strokes - 1) - 0.5) * (width - 1);
      this.wu(x0 + nx * o, y0 + ny * o, x1 + nx * o, y1 + ny * o, color, alpha);
    }
  }

  private wu(x0: number, y0: number, x1: number, y1: number, color: Rgb, alpha: number): void {
    // Clip to a generous box so a wild value does not loop over millions of pixels.
    const lim = 4 * (this.width + this.height);
    if (Math.max(Math.abs(x0), Math.abs(x1), Math.abs(y0), Math.abs(y1)) > lim) {
      const c = clipSegment(x0, y0, x1, y1, -2, -2, this.width + 2, this.height + 2);
      if (!c) return;
      [x0, y0, x1, y1] = c;
    }
    const steep = Math.abs(y1 - y0) > Math.abs(x1 - x0);
    if (steep) [x0, y0, x1, y1] = [y0, x0, y1, x1];
    if (x0 > x1) [x0, y0, x1, y1] = [x1, y1, x0, y0];
    const dx = x1 - x0;
    const grad = dx === 0 ? 0 : (y1 - y0) / dx;
    const plot = (x: number, y: number, c: number) => (steep ? this.blend(y, x, color, alpha * c) : this.blend(x, y, color, alpha * c));
    const xs = Math.round(x0);
    const xe = Math.round(x1);
    let y = y0 + grad * (xs - x0);
    for (let x = xs; x <= xe; x++) {
      const fy = Math.floor(y);
      const f = y - fy;
      // End pixels get partial coverage so joined segments do not double up.
      const cover = xs === xe ? Math.max(dx, 0.5) : x === xs ? 0.5 + xs - x0 : x === xe ? 0.5 + x1 - xe : 1;
      plot(x, fy, (1 - f) * Math.min(1, cover));
      plot(x, fy + 1, f * Math.min(1, cover));
      y += grad;
    }
  }

  /** A filled, anti-aliased disc. */
  dot(cx: number, cy: number, r: number, color: Rgb, alpha = 1): void {
    if (!Number.isFinite(cx) || !Number.isFinite(cy)) return;
    const x0 = Math.floor(cx - r - 1);
    const x1 = Math.ceil(cx + r + 1);
    const y0 = Math.floor(cy - r - 1);
    const y1 = Math.ceil(cy + r + 1);
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        const cover = Math.min(1, Math.max(0, r + 0.5 - d));
        if (cover > 0) this.blend(x, y, color, alpha * cover);
      }
    }
  }

  /** Width in pixels of `s` at `scale`. */
  static textWidth(s: string, scale = 1): number {
    return s.length ? ([...s].length * GLYPH_ADVANCE - 1) * scale : 0;
  }

  /** Draws text with its top at y; `align` positions it relative to x. */
  text(s: string, x: number, y: number, opts: { color?: Rgb; scale?: number; align?: 'left' | 'center' | 'right' } = {}): void {
    const scale = opts.scale ?? 1;
    const color = opts.color ?? COLORS.text;
    const w = Canvas.textWidth(s, scale);
    let px = Math.round(opts.align === 'center' ? x - w / 2 : opts.align === 'right' ? x - w : x);
    // Keep labels inside the canvas (a tick label at the right edge would be cut off).
    px = Math.max(0, Math.min(px, this.width - w));
    const py = Math.round(y);
    for (const ch of s) {
      const g = glyph(ch);
      for (let row = 0; row < GLYPH_H; row++) {
        for (let col = 0; col < 5; col++) {
          if (g[row] & (16 >> col)) this.fillRect(px + col * scale, py + row * scale, scale, scale, color);
        }
      }
      px += GLYPH_ADVANCE * scale;
    }
  }

  toImage(): RasterImage {
    return { width: this.width, height: this.height, channels: 3, pixels: this.pixels };
  }
}

function clipSegment(x0: number, y0: number, x1: number, y1: number, xmin: number, ymin: number, xmax: number, ymax: number): [number, number, number, number] | null {
  // Liang–Barsky.
  let t0 = 0;
  let t1 = 1;
  const dx = x1 - x0;
  const dy = y1 - y0;
  const p = [-dx, dx, -dy, dy];
  const q = [x0 - xmin, xmax - x0, y0 - ymin, ymax - y0];
  for (let i = 0; i < 4; i++) {
    if (p[i] === 0) {
      if (q[i] < 0) return null;
    } else {
      const r = q[i] / p[i];
      if (p[i] < 0) t0 = Math.max(t0, r);
      else t1 = Math.min(t1, r);
    }
  }
  if (t0 > t1) return null;
  return [x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy];
}

// ------------------------------------------------------------------ ticks and axes

/** "Nice" tick values (1, 2, 5 × 10^k steps) covering [lo, hi], about `target` of them. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  // Integer multiples of the step (no accumulated rounding); -0 becomes 0.
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k === 0 ? 0 : k * step);
  return out;
}

/** Tick values for a log axis over [lo, hi] (lo > 0): decades, else 1-2-5, else linear nice ticks. */
export function logTicks(lo: number, hi: number): number[] {
  const inRange = (v: number) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  const e0 = Math.floor(Math.log10(lo));
  const e1 = Math.ceil(Math.log10(hi));
  for (const mults of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    const ticks: number[] = [];
    for (let e = e0; e <= e1; e++) for (const m of mults) if (inRange(m * 10 ** e)) ticks.push(m * 10 ** e);
    if (ticks.length >= 3) return ticks.length > 12 ? ticks.filter((_, i) => i % Math.ceil(ticks.length / 8) === 0) : ticks;
  }
  return niceTicks(lo, hi, 4).filter((v) => v > 0);
}

/** Short tick label: "0", "2.5", "1000", "0.001"; e-notation ("1e6", "2.5e-4") beyond 1e6 or below 1e-3. */
export function formatTick(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) {
    const [m, e] = v.toExponential(3).split('e');
    return `${trimZeros(m)}e${Number(e)}`;
  }
  // Six significant digits removes float noise (0.30000000000000004) from nice tick values.
  return String(Number(v.toPrecision(6)));
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

export interface Axes {
  /** Plot area in canvas pixels (left, top, width, height). */
  x: number;
  y: number;
  w: number;
  h: number;
  xlim: readonly [number, number];
  ylim: readonly [number, number];
  logY?: boolean;
}

export function toPixel(ax: Axes, vx: number, vy: number): [number, number] {
  const px = ax.x + ((vx - ax.xlim[0]) / (ax.xlim[1] - ax.xlim[0])) * ax.w;
  const fy = ax.logY
    ? (Math.log(vy) - Math.log(ax.ylim[0])) / (Math.log(ax.ylim[1]) - Math.log(ax.ylim[0]))
    : (vy - ax.ylim[0]) / (ax.ylim[1] - ax.ylim[0]);
  return [px, ax.y + ax.h - fy * ax.h];
}

export interface AxesLabels {
  title?: string;
  xlabel?: string;
  ylabel?: string;
}

/** Grid, frame, tick labels and title for `ax`. Draw data after this, then call `frame` again if needed. */
export function drawAxes(c: Canvas, ax: Axes, labels: AxesLabels = {}): void {
  const xt = niceTicks(ax.xlim[0], ax.xlim[1], Math.max(3, Math.round(ax.w / 90)));
  const yt = ax.logY ? logTicks(ax.ylim[0], ax.ylim[1]) : niceTicks(ax.ylim[0], ax.ylim[1], Math.max(3, Math.round(ax.h / 70)));
  for (const v of xt) {
    const [px] = toPixel(ax, v, ax.logY ? ax.ylim[0] : 0);
    const x = Math.round(px);
    if (x < ax.x || x > ax.x + ax.w) continue;
    c.fillRect(x, ax.y, 1, ax.h, COLORS.grid);
    c.fillRect(x, ax.y + ax.h, 1, 4, COLORS.black);
    c.text(formatTick(v), x, ax.y + ax.h + 7, { align: 'center' });
  }
  for (const v of yt) {
    const [, py] = toPixel(ax, ax.xlim[0], v);
    const y = Math.round(py);
    if (y < ax.y || y > ax.y + ax.h) continue;
    c.fillRect(ax.x, y, ax.w, 1, COLORS.grid);
    c.fillRect(ax.x - 4, y, 4, 1, COLORS.black);
    c.text(formatTick(v), ax.x - 7, y - 3, { align: 'right' });
  }
  frame(c, ax);
  if (labels.title) {
    const scale = Canvas.textWidth(labels.title, 2) <= ax.w ? 2 : 1;
    c.text(labels.title, ax.x + ax.w / 2, ax.y - 8 - 7 * scale, { scale, align: 'center' });
  }
  if (labels.xlabel) c.text(labels.xlabel, ax.x + ax.w / 2, ax.y + ax.h + 20, { align: 'center' });
  if (labels.ylabel) c.text(labels.ylabel, ax.x, ax.y - 10, { align: 'left' });
}

export function frame(c: Canvas, ax: Axes): void {
  c.fillRect(ax.x - 1, ax.y - 1, ax.w + 2, 1, COLORS.black);
  c.fillRect(ax.x - 1, ax.y + ax.h, ax.w + 2, 1, COLORS.black);
  c.fillRect(ax.x - 1, ax.y - 1, 1, ax.h + 2, COLORS.black);
  c.fillRect(ax.x + ax.w, ax.y - 1, 1, ax.h + 2, COLORS.black);
}

/** Square limits around the points' bounding box (equal aspect), with a relative margin. */
export function squareLimits(points: ArrayLike<number>[], margin = 0.08): { xlim: [number, number]; ylim: [number, number] } {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of points) {
    for (let i = 0; i + 1 < p.length; i += 2) {
      const x = p[i];
      const y = p[i + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (!Number.isFinite(x0)) return { xlim: [-1, 1], ylim: [-1, 1] };
  const half = (Math.max(x1 - x0, y1 - y0, 1e-6) / 2) * (1 + 2 * margin);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  return { xlim: [cx - half, cx + half], ylim: [cy - half, cy + half] };
}

function pointAlpha(n: number, area: number): number {
  return Math.min(0.8, Math.max(0.06, (area / 60) / Math.max(n, 1)));
}

function checkPoints(p: ArrayLike<number>, what: string): void {
  if (p.length % 2 !== 0) throw new FlowGpuError(`${what}: ${p.length} values are not (x, y) pairs`);
}

// ------------------------------------------------------------------ figures

/** Options of `scatterPlot`: panel titles, panel size (default 360 px), axis limits and a caption. */
export interface ScatterOptions {
  titles?: [string, string];
  /** Plot-area side of each panel in pixels (default 360). */
  size?: number;
  /** Axis limits (default: square box around the data). */
  limits?: { xlim: [number, number]; ylim: [number, number] };
  /** A line of text under the panels (e.g. the quality metrics). */
  caption?: string;
}

/**
 * Two panels side by side with the same axes: data (blue) | samples (orange). The axes come from
 * the data, so samples that stray show as missing; the samples' title counts points outside the
 * view and non-finite ones.
 */
export function scatterPlot(data: ArrayLike<number>, samples: ArrayLike<number>, opts: ScatterOptions = {}): RasterImage {
  checkPoints(data, 'scatterPlot data');
  checkPoints(samples, 'scatterPlot samples');
  const S = opts.size ?? 360;
  const L = 48, T = 40, B = 34, G = 60;
  const c = new Canvas(L + S + G + S + 20, T + S + B + (opts.caption ? 18 : 0));
  const lim = opts.limits ?? squareLimits([data]);
  const sets = [data, samples];
  const colors = [COLORS.blue, COLORS.orange];
  const titles = opts.titles ?? ['data', 'samples'];
  sets.forEach((pts, k) => {
    const ax: Axes = { x: L + k * (S + G), y: T, w: S, h: S, ...lim };
    let outside = 0, bad = 0;
    for (let i = 0; i + 1 < pts.length; i += 2) {
      const x = pts[i], y = pts[i + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) bad++;
      else if (x < lim.xlim[0] || x > lim.xlim[1] || y < lim.ylim[0] || y > lim.ylim[1]) outside++;
    }
    const notes = [outside ? `${outside} outside` : '', bad ? `${bad} non-finite` : ''].filter(Boolean).join(', ');
    drawAxes(c, ax, { title: notes ? `${titles[k]} (${notes})` : titles[k] });
    const alpha = pointAlpha(pts.length / 2, S * S);
    for (let i = 0; i + 1 < pts.length; i += 2) {
      const [px, py] = toPixel(ax, pts[i], pts[i + 1]);
      if (px >= ax.x && px <= ax.x + ax.w && py >= ax.y && py <= ax.y + ax.h) c.dot(px, py, 1.3, colors[k], alpha);
    }
    frame(c, ax);
  });
  if (opts.caption) c.text(opts.caption, L, T + S + B, {});
  return c.toImage();
}

/**
 * Options of `trajectoryPlot`: how many paths (default 300), plot size (default 480 px), title and
 * background data.
 */
export interface TrajectoryOptions {
  /** How many points' paths to draw (default 300; the first ones). */
  count?: number;
  /** Plot-area side in pixels (default 480). */
  size?: number;
  title?: string;
  /** Data drawn faintly in the background. */
  data?: ArrayLike<number>;
}

/**
 * Paths of points through the ODE solve: `states[k]` is the [N·2] state after step k (states[0]
 * = x0 at t=0, the last = x1 at t=1; two states draw straight lines x0 → x1). Faint gray lines,
 * blue start markers, red end markers.
 */
export function trajectoryPlot(states: readonly ArrayLike<number>[], opts: TrajectoryOptions = {}): RasterImage {
  if (states.length < 2) throw new FlowGpuError('trajectoryPlot: need at least the start and end states');
  const n = states[0].length / 2;
  states.forEach((s, k) => {
    checkPoints(s, `trajectoryPlot state ${k}`);
    if (s.length !== 2 * n) throw new FlowGpuError(`trajectoryPlot: state ${k} has ${s.length / 2} points, state 0 has ${n}`);
  });
  const m = Math.min(n, opts.count ?? 300);
  const S = opts.size ?? 480;
  const L = 48, T = 40, B = 34;
  const c = new Canvas(L + S + 20, T + S + B);
  const first = states[0];
  const last = states[states.length - 1];
  const lim = squareLimits([first.length > 2 * m ? Array.prototype.slice.call(first, 0, 2 * m) : first, last.length > 2 * m ? Array.prototype.slice.call(last, 0, 2 * m) : last]);
  const ax: Axes = { x: L, y: T, w: S, h: S, ...lim };
  drawAxes(c, ax, { title: opts.title ?? 'trajectories' });
  if (opts.data) {
    checkPoints(opts.data, 'trajectoryPlot data');
    for (let i = 0; i + 1 < opts.data.length; i += 2) {
      const [px, py] = toPixel(ax, opts.data[i], opts.data[i + 1]);
      c.dot(px, py, 1, COLORS.green, 0.08);
    }
  }
  const lineAlpha = Math.min(0.5, Math.max(0.12, 40 / m));
  for (let i = 0; i < m; i++) {
    for (let k = 0; k + 1 < states.length; k++) {
      const [ax0, ay0] = toPixel(ax, states[k][2 * i], states[k][2 * i + 1]);
      const [ax1, ay1] = toPixel(ax, states[k + 1][2 * i], states[k + 1][2 * i + 1]);
      c.line(ax0, ay0, ax1, ay1, COLORS.gray, lineAlpha);
    }
  }
  for (let i = 0; i < m; i++) {
    const [sx, sy] = toPixel(ax, first[2 * i], first[2 * i + 1]);
    const [ex, ey] = toPixel(ax, last[2 * i], last[2 * i + 1]);
    c.dot(sx, sy, 1.6, COLORS.blue, 0.8);
    c.dot(ex, ey, 1.6, COLORS.red, 0.8);
  }
  frame(c, ax);
  c.text('start (t=0)', L + 6, T + 6, { color: COLORS.blue });
  c.text('end (t=1)', L + 6, T + 16, { color: COLORS.red });
  c.text(`${m} of ${n} points, ${states.length - 1} steps`, L + 6, T + 26, { color: COLORS.gray });
  return c.toImage();
}

/**
 * Options of `lossPlot`: each value's step, title, size and the EMA smoothing time constant
 * (default 2% of the run).
 */
export interface LossPlotOptions {
  /** The step of each value (default 1, 2, …). */
  steps?: ArrayLike<number>;
  title?: string;
  width?: number;
  height?: number;
  /** EMA time constant in points (default 2% of the run, at least 1). */
  smoothing?: number;
}

/**
 * Exponential moving average with bias correction (Adam's): the first values are not pulled
 * towards zero. Non-finite values are skipped (the average carries over).
 */
export function emaSmooth(values: ArrayLike<number>, timeConstant: number): Float64Array {
  const beta = timeConstant <= 1 ? 0 : Math.exp(-1 / timeConstant);
  const out = new Float64Array(values.length);
  let m = 0, w = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      m = beta * m + (1 - beta) * v;
      w = beta * w + (1 - beta);
    }
    out[i] = w > 0 ? m / w : NaN;
  }
  return out;
}

/** Loss against step on a log-y axis: raw values faint, the EMA bold. */
export function lossPlot(loss: ArrayLike<number>, opts: LossPlotOptions = {}): RasterImage {
  const n = loss.length;
  const W = opts.width ?? 720, H = opts.height ?? 400;
  const L = 64, T = 40, R = 20, B = 40;
  const c = new Canvas(W, H);
  const steps = opts.steps ?? Float64Array.from({ length: n }, (_, i) => i + 1);
  if (steps.length !== n) throw new FlowGpuError(`lossPlot: ${steps.length} steps for ${n} values`);
  let lo = Infinity, hi = -Infinity, bad = 0;
  for (let i = 0; i < n; i++) {
    const v = loss[i];
    if (Number.isFinite(v) && v > 0) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    } else bad++;
  }
  if (!Number.isFinite(lo)) lo = hi = 1;
  if (hi / lo < 1.05) {
    const mid = Math.sqrt(hi * lo);
    lo = mid / 1.05;
    hi = mid * 1.05;
  }
  const pad = Math.pow(hi / lo, 0.04);
  const s0 = n ? steps[0] : 0;
  const s1 = n ? steps[n - 1] : 1;
  const ax: Axes = { x: L, y: T, w: W - L - R, h: H - T - B, xlim: [s0, s1 > s0 ? s1 : s0 + 1], ylim: [lo / pad, hi * pad], logY: true };
  const note = bad ? ` (${bad} non-finite or ≤ 0 values not drawn)` : '';
  drawAxes(c, ax, { title: (opts.title ?? 'loss') + note, xlabel: 'step' });
  const draw = (vals: ArrayLike<number>, color: Rgb, alpha: number, width: number) => {
    let prev: [number, number] | null = null;
    for (let i = 0; i < n; i++) {
      const v = vals[i];
      if (!(Number.isFinite(v) && v > 0)) {
        prev = null;
        continue;
      }
      const p = toPixel(ax, steps[i], v);
      if (prev) c.line(prev[0], prev[1], p[0], p[1], color, alpha, width);
      else if (n === 1) c.dot(p[0], p[1], 2, color, alpha);
      prev = p;
    }
  };
  // Thin the raw curve to at most ~4 segments per pixel column: the envelope survives, the cost does not grow with n.
  draw(loss, COLORS.blue, n > 4 * ax.w ? 0.12 : 0.3, 1);
  draw(emaSmooth(loss, opts.smoothing ?? Math.max(1, n / 50)), COLORS.blue, 1, 2);
  frame(c, ax);
  if (n) {
    const last = emaSmooth(loss, opts.smoothing ?? Math.max(1, n / 50))[n - 1];
    c.text(`smoothed final ${formatTick(Number(last.toPrecision(4)))}`, ax.x + ax.w - 4, ax.y + 6, { align: 'right', color: COLORS.blue });
  }
  return c.toImage();
}

/**
 * Options of `imageGrid`: columns (default 10), gap (default 1 px), integer upscaling, the gap
 * gray level (default 128) and the channels of the images (1 gray, the default, or 3 RGB).
 */
export interface ImageGridOptions {
  /** Columns (default 10). */
  cols?: number;
  /** Gap between images in output pixels (default 1). */
  gap?: number;
  /** Integer upscaling factor (default 1). */
  scale?: number;
  /** Gray level of gaps and empty cells, 0–255 (default 128). */
  gapValue?: number;
  /** Channels of each image: 1 (gray, default) or 3 (RGB, planar [3, h, w]: an RGB grid). */
  channels?: 1 | 3;
}

/**
 * Images [count, C, h, w] (C = opts.channels, 1 or 3) with values in [0, 1] (clamped; NaN draws
 * black) tiled `cols` per row with `gap`-pixel gaps; one row per class when the caller orders them
 * so. Returns a grayscale image for C = 1, an RGB one for C = 3.
 */
export function imageGrid(images: ArrayLike<number>, count: number, h: number, w: number, opts: ImageGridOptions = {}): RasterImage {
  const ch = opts.channels ?? 1;
  if (ch !== 1 && ch !== 3) throw new FlowGpuError(`imageGrid: images of ${String(ch)} channels; draw gray (1) or RGB (3) images`);
  if (images.length !== count * ch * h * w) {
    throw new FlowGpuError(`imageGrid: ${images.length} values are not ${count} images of ${ch}×${h}×${w}`);
  }
  const cols = Math.min(opts.cols ?? 10, Math.max(count, 1));
  const rows = Math.max(1, Math.ceil(count / cols));
  const gap = opts.gap ?? 1;
  const s = opts.scale ?? 1;
  const W = cols * w * s + (cols + 1) * gap;
  const H = rows * h * s + (rows + 1) * gap;
  const px = new Uint8Array(W * H * ch).fill(opts.gapValue ?? 128);
  for (let k = 0; k < count; k++) {
    const ox = gap + (k % cols) * (w * s + gap);
    const oy = gap + Math.floor(k / cols) * (h * s + gap);
    for (let y = 0; y < h * s; y++) {
      for (let x = 0; x < w * s; x++) {
        for (let c = 0; c < ch; c++) {
          const v = images[((k * ch + c) * h + Math.floor(y / s)) * w + Math.floor(x / s)];
          px[((oy + y) * W + ox + x) * ch + c] = Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, v)) * 255) : 0;
        }
      }
    }
  }
  return { width: W, height: H, channels: ch, pixels: px };
}

/**
 * The sample grid of `flowgpu train mnist|images` and `sample`: images [n, C, H, W] (`shape` is
 * [C, H, W], or the side S of square gray images) with values in [0, 1]; with labels of several
 * classes, one row per class present (the first 16, in order) holding its first (up to) ten samples
 * (empty cells stay gray); otherwise the first 100 samples, ten per row. Gray for C = 1, RGB for C = 3.
 */
export function sampleGrid(pixels: Float32Array, labels: ArrayLike<number> | null, shape: number | readonly number[]): RasterImage {
  const [c, h, w] = typeof shape === 'number' ? [1, shape, shape] : shape;
  if (c !== 1 && c !== 3) throw new FlowGpuError(`sampleGrid: images of ${c} channels; draw gray (1) or RGB (3) images`);
  const d = c * h * w;
  const n = pixels.length / d;
  let images: Float32Array;
  let count: number;
  const present = labels ? [...new Set(Array.from({ length: n }, (_, i) => labels[i]))].filter((k) => k >= 0).sort((a, b) => a - b).slice(0, 16) : [];
  if (present.length <= 1) {
    count = Math.min(100, n);
    images = pixels.slice(0, count * d);
  } else {
    count = present.length * 10;
    images = new Float32Array(count * d).fill(NaN);
    const used = new Array<number>(present.length).fill(0);
    for (let i = 0; i < n; i++) {
      const row = present.indexOf(labels![i]);
      if (row < 0 || used[row] >= 10) continue;
      images.set(pixels.subarray(i * d, (i + 1) * d), (row * 10 + used[row]) * d);
      used[row]++;
    }
  }
  const side = Math.max(h, w);
  return imageGrid(images, count, h, w, { cols: 10, scale: side <= 16 ? 3 : side <= 32 ? 2 : 1, gap: 2, channels: c as 1 | 3 });
}

/** Options of `cornerPlot`: dimensions shown (default the first four), panel size and title. */
export interface CornerOptions {
  /** Which dimensions, in order (default the first min(D, 4)). */
  dims?: number[];
  /** Side of each panel in pixels (default 150). */
  size?: number;
  title?: string;
  /** A line of text under the panels. */
  caption?: string;
}

/**
 * The pairwise picture of points in D dimensions, data (blue) against samples (orange): below the
 * diagonal, the samples over the data in each pair of dimensions; on the diagonal, each dimension's
 * marginal as two histograms (outlines, 40 bins over the data's range ± 10%).
 */
export function cornerPlot(data: ArrayLike<number>, samples: ArrayLike<number>, dim: number, opts: CornerOptions = {}): RasterImage {
  for (const [p, what] of [[data, 'data'], [samples, 'samples']] as const) {
    if (p.length % dim !== 0) throw new FlowGpuError(`cornerPlot ${what}: ${p.length} values are not rows of ${dim}`);
  }
  const dims = opts.dims ?? Array.from({ length: Math.min(dim, 4) }, (_, i) => i);
  if (!dims.length || dims.some((d) => !(Number.isInteger(d) && d >= 0 && d < dim))) throw new FlowGpuError(`cornerPlot: dims must be in 0…${dim - 1}`);
  const k = dims.length;
  const S = opts.size ?? 150;
  const L = 48, T = opts.title ? 62 : 30, G = 26;
  const c = new Canvas(L + k * (S + G), T + k * (S + G) + 16 + (opts.caption ? 18 : 0));
  const range = dims.map((d) => {
    let lo = Infinity, hi = -Infinity;
    for (let i = d; i < data.length; i += dim) if (Number.isFinite(data[i])) (lo = Math.min(lo, data[i])), (hi = Math.max(hi, data[i]));
    if (!Number.isFinite(lo)) return [-1, 1] as [number, number];
    const pad = Math.max(hi - lo, 1e-6) * 0.1;
    return [lo - pad, hi + pad] as [number, number];
  });
  const colors = [COLORS.blue, COLORS.orange];
  for (let r = 0; r < k; r++) {
    for (let q = 0; q <= r; q++) {
      const box = { x: L + q * (S + G), y: T + r * (S + G), w: S, h: S };
      if (q === r) {
        const bins = 40;
        const [lo, hi] = range[r];
        const hists = [data, samples].map((p) => {
          const h = new Array<number>(bins).fill(0);
          const n = p.length / dim;
          for (let i = dims[r]; i < p.length; i += dim) {
            const b = Math.floor(((p[i] - lo) / (hi - lo)) * bins);
            if (b >= 0 && b < bins) h[b] += 1 / n;
          }
          return h;
        });
        const top = Math.max(...hists.flat(), 1e-9) * 1.1;
        const ax: Axes = { ...box, xlim: range[r], ylim: [0, top] };
        drawAxes(c, ax, { title: `dim ${dims[r]}` });
        hists.forEach((h, s) => {
          for (let b = 0; b < bins; b++) {
            const [x0, y0] = toPixel(ax, lo + ((hi - lo) * b) / bins, h[b]);
            const [x1] = toPixel(ax, lo + ((hi - lo) * (b + 1)) / bins, h[b]);
            const [, yn] = toPixel(ax, 0, b + 1 < bins ? h[b + 1] : 0);
            c.line(x0, y0, x1, y0, colors[s], 0.9, 1);
            c.line(x1, y0, x1, yn, colors[s], 0.9, 1);
          }
        });
      } else {
        const ax: Axes = { ...box, xlim: range[q], ylim: range[r] };
        drawAxes(c, ax, {});
        [data, samples].forEach((p, s) => {
          const n = p.length / dim;
          const alpha = pointAlpha(n, S * S) * 0.7;
          for (let i = 0; i < n; i++) {
            const [px, py] = toPixel(ax, p[i * dim + dims[q]], p[i * dim + dims[r]]);
            if (px >= ax.x && px <= ax.x + ax.w && py >= ax.y && py <= ax.y + ax.h) c.dot(px, py, 1, colors[s], alpha);
          }
        });
        frame(c, ax);
      }
    }
  }
  if (opts.title) c.text(opts.title, L, 8, { scale: 2 });
  const legendY = T + k * (S + G) - 4;
  c.text('data', L, legendY, { color: COLORS.blue });
  c.text('samples', L + 40, legendY, { color: COLORS.orange });
  if (opts.caption) c.text(opts.caption, L, legendY + 16, {});
  return c.toImage();
}
