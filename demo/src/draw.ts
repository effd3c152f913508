/** Canvas drawing for the demo pages: point clouds, trajectories, arrows, a loss curve, image grids. */

/** The data square every 2-D view shows: [−EXTENT, EXTENT]². */
export const EXTENT = 5;

export interface View2d {
  ctx: CanvasRenderingContext2D;
  w: number;
  h: number;
}

/** A canvas's 2-D context, scaled for the device pixel ratio, cleared to the background. */
export function view2d(canvas: HTMLCanvasElement, background = '#fff'): View2d {
  const dpr = Math.min(2, globalThis.devicePixelRatio || 1);
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, w, h);
  return { ctx, w, h };
}

/** Data coordinates → canvas pixels (y up). */
export function toPx(v: View2d, x: number, y: number): [number, number] {
  const s = Math.min(v.w, v.h) / (2 * EXTENT);
  return [v.w / 2 + x * s, v.h / 2 - y * s];
}

/** Canvas pixels → data coordinates. */
export function fromPx(v: { w: number; h: number }, px: number, py: number): [number, number] {
  const s = Math.min(v.w, v.h) / (2 * EXTENT);
  return [(px - v.w / 2) / s, (v.h / 2 - py) / s];
}

/** Faint axes and the unit grid. */
export function axes(v: View2d): void {
  const { ctx } = v;
  ctx.strokeStyle = '#eee';
  ctx.lineWidth = 1;
  for (let k = -4; k <= 4; k++) {
    const [x] = toPx(v, k, 0);
    const [, y] = toPx(v, 0, k);
    ctx.beginPath();
    ctx.moveTo(x, 0);
    ctx.lineTo(x, v.h);
    ctx.moveTo(0, y);
    ctx.lineTo(v.w, y);
    ctx.stroke();
  }
}

/** Points [n·2] as small squares. */
export function points(v: View2d, pts: ArrayLike<number>, color: string, size = 2): void {
  const { ctx } = v;
  ctx.fillStyle = color;
  for (let i = 0; i + 1 < pts.length; i += 2) {
    const [x, y] = toPx(v, pts[i], pts[i + 1]);
    ctx.fillRect(x - size / 2, y - size / 2, size, size);
  }
}

/** Paths through the states of a trajectory (each [n·2]), start dots grey, end dots coloured. */
export function trajectories(v: View2d, states: Float32Array[], color: string): void {
  if (!states.length) return;
  const { ctx } = v;
  const n = states[0].length / 2;
  ctx.strokeStyle = color;
  ctx.globalAlpha = 0.35;
  ctx.lineWidth = 1;
  for (let i = 0; i < n; i++) {
    ctx.beginPath();
    states.forEach((s, k) => {
      const [x, y] = toPx(v, s[2 * i], s[2 * i + 1]);
      if (k === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
  points(v, states[0], '#999', 3);
  points(v, states[states.length - 1], color, 3);
}

/** Arrows of a vector field: at grid points [n·2], vectors [n·2], scaled so the longest spans a cell. */
export function arrows(v: View2d, grid: Float32Array, vel: Float32Array, cell: number, color: string): void {
  const { ctx } = v;
  let max = 1e-9;
  for (let i = 0; i < vel.length; i += 2) max = Math.max(max, Math.hypot(vel[i], vel[i + 1]));
  const k = (0.9 * cell) / max;
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = 1.2;
  for (let i = 0; i < grid.length; i += 2) {
    const [x0, y0] = toPx(v, grid[i], grid[i + 1]);
    const [x1, y1] = toPx(v, grid[i] + vel[i] * k, grid[i + 1] + vel[i + 1] * k);
    const a = Math.atan2(y1 - y0, x1 - x0);
    const len = Math.hypot(x1 - x0, y1 - y0);
    ctx.globalAlpha = 0.35 + 0.65 * Math.min(1, Math.hypot(vel[i], vel[i + 1]) / max);
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.stroke();
    if (len > 3) {
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(x1 - 4 * Math.cos(a - 0.45), y1 - 4 * Math.sin(a - 0.45));
      ctx.lineTo(x1 - 4 * Math.cos(a + 0.45), y1 - 4 * Math.sin(a + 0.45));
      ctx.fill();
    }
  }
  ctx.globalAlpha = 1;
}

/** A loss curve over steps (log-scaled y when the values span a decade). */
export function lossCurve(v: View2d, steps: number[], loss: number[], color: string): void {
  const { ctx, w, h } = v;
  const pad = 28;
  ctx.fillStyle = '#666';
  ctx.font = '11px system-ui, sans-serif';
  if (loss.length < 2) {
    ctx.fillText('loss (appears once training starts)', pad, h / 2);
    return;
  }
  const lo = Math.min(...loss);
  const hi = Math.max(...loss);
  const log = hi / Math.max(lo, 1e-9) > 10 && lo > 0;
  const f = (y: number) => (log ? Math.log(y) : y);
  const ylo = f(lo);
  const yhi = f(hi) + 1e-9;
  const sMax = steps[steps.length - 1];
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  loss.forEach((l, i) => {
    const x = pad + ((w - pad - 6) * steps[i]) / sMax;
    const y = 6 + (h - 22) * (1 - (f(l) - ylo) / (yhi - ylo));
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
  ctx.fillText(hi.toPrecision(3), 2, 12);
  ctx.fillText(lo.toPrecision(3), 2, h - 18);
  ctx.fillText(`step ${sMax}`, w - 60, h - 4);
}

/** Gray images [n·s·s] with values in [0, 1] as one row, each cell `scale` px per pixel. */
export function imageRow(ctx: CanvasRenderingContext2D, pixels: Float32Array, n: number, s: number, scale: number, x0: number, y0: number, gap = 2): void {
  const img = ctx.createImageData(s, s);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < s * s; i++) {
      const p = Math.round(255 * Math.min(1, Math.max(0, pixels[k * s * s + i])));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = p;
      img.data[4 * i + 3] = 255;
    }
    const tmp = new OffscreenCanvas(s, s);
    tmp.getContext('2d')!.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, x0 + k * (s * scale + gap), y0, s * scale, s * scale);
  }
}

/** "0.1234" or "4.6e-5": a figure in a few characters. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(1);
}
