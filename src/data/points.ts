/**
 * Point clouds of any dimension as training data: checked rows [N, D], a per-dimension
 * standardisation stored with the model and undone after sampling, a seeded held-out split for the
 * metrics, CSV text parsing, and a GPU-resident data source for the Trainer — with paired sources
 * (a paired flow), a source set (a data-to-data flow) or continuous conditions when given.
 *
 * Standardisation: z = (x − mean) / scale per dimension, with scale the standard deviation rounded
 * to a power of two (so dividing and multiplying by it are exact) and 1 for a constant column. The
 * arithmetic runs in float64, so `unstandardize(standardize(x))` gives back x's float32 values
 * exactly.
 */
import { FlowGpuError } from '../gpu/errors.js';
import { HostRng } from '../nn/module.js';
import { gatherRowsRaw } from '../tensor/primitives.js';
import { keep, tensor, type Tensor } from '../tensor/tensor.js';
import { EpochSampler } from './mnist.js';
import { validateFinite } from './toy.js';

/** Per-dimension centre and scale (plain JSON: stored in a run's config). */
export interface Standardization {
  mean: number[];
  scale: number[];
}

/** Rows [n·dim] checked: finite (the first bad row is named), a whole number of rows, at least `minRows`. */
export function checkPoints(x: ArrayLike<number>, dim: number, what = 'data', minRows = 1): number {
  validateFinite(x, dim, what);
  const n = x.length / dim;
  if (n < minRows) throw new FlowGpuError(`${what}: ${n} rows, fewer than the ${minRows} needed`);
  return n;
}

/** The standardisation of rows [n·dim] (see the file comment). */
export function standardization(x: ArrayLike<number>, dim: number): Standardization {
  const n = checkPoints(x, dim);
  const mean = new Array<number>(dim).fill(0);
  const sq = new Array<number>(dim).fill(0);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d] / n;
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) sq[d] += (x[i * dim + d] - mean[d]) ** 2 / n;
  const constant = mean.map((_, d) => {
    for (let i = 1; i < n; i++) if (x[i * dim + d] !== x[d]) return false;
    return true;
  });
  const scale = sq.map((v, d) => (!constant[d] && v > 0 && Number.isFinite(v) ? 2 ** Math.round(Math.log2(Math.sqrt(v))) : 1));
  return { mean, scale };
}

/** (x − mean) / scale per dimension, computed in float64. */
export function standardize(x: ArrayLike<number>, s: Standardization): Float32Array {
  const dim = s.mean.length;
  return Float32Array.from(x, (v, i) => (v - s.mean[i % dim]) / s.scale[i % dim]);
}

/** z·scale + mean per dimension: the inverse of `standardize`. */
export function unstandardize(z: ArrayLike<number>, s: Standardization): Float32Array {
  const dim = s.mean.length;
  return Float32Array.from(z, (v, i) => v * s.scale[i % dim] + s.mean[i % dim]);
}

/** A seeded split of row indices 0…n−1: `holdout` ⌊n·fraction⌋ rows (at least one when fraction > 0), the rest `train`. */
export function holdoutSplit(n: number, fraction: number, seed = 0): { train: Int32Array; holdout: Int32Array } {
  if (!(fraction >= 0 && fraction < 1)) throw new FlowGpuError(`held-out fraction must be in [0, 1), got ${fraction}`);
  const perm = new EpochSampler(n, 1, seed ^ 0x51ed270b).permutation(0);
  const k = fraction > 0 ? Math.max(1, Math.floor(n * fraction)) : 0;
  if (n - k < 1) throw new FlowGpuError(`${n} rows leave none to train on after holding out ${k}`);
  return { holdout: perm.slice(0, k).sort(), train: perm.slice(k).sort() };
}

/** Rows `idx` of x [n·dim]. */
export function pickRows(x: ArrayLike<number>, dim: number, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * dim);
  for (let i = 0; i < idx.length; i++) for (let d = 0; d < dim; d++) out[i * dim + d] = x[idx[i] * dim + d];
  return out;
}

/** n rows of width `width` from x [m·width], cycling through x's rows when m < n (its first n otherwise). */
export function cycleRows(x: ArrayLike<number>, width: number, n: number): Float32Array {
  if (x.length === 0 || x.length % width !== 0) throw new FlowGpuError(`cycleRows: ${x.length} values are not a whole, non-zero number of rows of ${width}`);
  return Float32Array.from({ length: n * width }, (_, i) => x[i % x.length]);
}

/**
 * Numbers from CSV text: one row per line, columns separated by commas (or semicolons, tabs or
 * spaces), an optional header line (a first line that is not all numbers). Errors name the line.
 */
export function parseCsv(text: string, what = 'csv'): { data: Float32Array; rows: number; cols: number; header: string[] | null } {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const split = (l: string) => l.split(/\s*[,;\t]\s*|\s+/);
  let header: string[] | null = null;
  if (lines.length && split(lines[0]).some((c) => c !== '' && !Number.isFinite(Number(c)) && !/^[+-]?(nan|inf(inity)?)$/i.test(c))) {
    header = split(lines.shift()!);
  }
  if (!lines.length) throw new FlowGpuError(`${what}: no rows of numbers`);
  const cols = split(lines[0]).length;
  if (header && header.length !== cols) throw new FlowGpuError(`${what}: the header has ${header.length} columns, the first row ${cols}`);
  const data = new Float32Array(lines.length * cols);
  lines.forEach((l, r) => {
    const cells = split(l);
    if (cells.length !== cols) throw new FlowGpuError(`${what}: row ${r} has ${cells.length} columns, the first has ${cols}`);
    cells.forEach((c, j) => {
      const v = /^[+-]?nan$/i.test(c) ? NaN : /^[+-]?inf(inity)?$/i.test(c) ? (c.startsWith('-') ? -Infinity : Infinity) : Number(c);
      if (c === '' || (Number.isNaN(v) && !/nan/i.test(c))) throw new FlowGpuError(`${what}: row ${r}, column ${j}: '${c}' is not a number`);
      data[r * cols + j] = v;
    });
  });
  return { data, rows: lines.length, cols, header };
}

/**
 * Rows that travel with each point (same row order): the paired source x0 of a paired flow
 * (width dim), and/or a continuous condition (width condDim).
 */
export interface PointExtras {
  /** Paired sources [N·dim]: row i flows to row i of the data. */
  x0?: Float32Array;
  /** Conditions [N·condDim]. */
  cond?: Float32Array;
  condDim?: number;
}

/** What `PointDataset.batches` yields for a step (a Trainer TrainBatch). */
export interface PointBatch {
  x1: Tensor;
  x0?: Tensor;
  cond?: Tensor;
  source?: Tensor;
}

/**
 * Points resident on the GPU for training: `batches(batch, seed)` is a Trainer DataSource whose
 * batch s holds the rows of EpochSampler batch s (a seeded shuffle per epoch), [batch, dim], with
 * the same rows of the paired sources and conditions when the dataset has them. With
 * `{ source }` (another PointDataset of the same dimension) each batch also carries `source`, a
 * batch of the source set drawn by its own shuffle: a data-to-data flow, coupled by the Trainer.
 */
export class PointDataset {
  readonly count: number;
  readonly condDim: number;
  private tables: { x1: Tensor; x0?: Tensor; cond?: Tensor } | null;

  constructor(x: Float32Array, readonly dim: number, what = 'data', extras: PointExtras = {}) {
    this.count = checkPoints(x, dim, what);
    this.condDim = extras.cond ? extras.condDim ?? 1 : 0;
    if (extras.x0) {
      const n0 = checkPoints(extras.x0, dim, `${what}: paired sources`);
      if (n0 !== this.count) throw new FlowGpuError(`${what}: ${n0} source rows for ${this.count} data rows: pairs need the same number of rows (row i of one goes with row i of the other)`);
    }
    if (extras.cond) {
      if (!(Number.isInteger(this.condDim) && this.condDim >= 1)) throw new FlowGpuError(`${what}: condDim must be a positive integer, got ${extras.condDim}`);
      const nc = checkPoints(extras.cond, this.condDim, `${what}: conditions`);
      if (nc !== this.count) throw new FlowGpuError(`${what}: ${nc} condition rows for ${this.count} data rows: give one condition per row`);
    }
    this.tables = {
      x1: keep(tensor(x, [this.count, dim])),
      ...(extras.x0 ? { x0: keep(tensor(extras.x0, [this.count, dim])) } : {}),
      ...(extras.cond ? { cond: keep(tensor(extras.cond, [this.count, this.condDim])) } : {}),
    };
  }

  /** The rows `idx` (host indices) of every table. */
  private gather(rows: Int32Array): { x1: Tensor; x0?: Tensor; cond?: Tensor } {
    if (!this.tables) throw new FlowGpuError('PointDataset: used after dispose()');
    const idx = tensor(rows, [rows.length], 'i32');
    const t = this.tables;
    const out = { x1: gatherRowsRaw(t.x1, idx), ...(t.x0 ? { x0: gatherRowsRaw(t.x0, idx) } : {}), ...(t.cond ? { cond: gatherRowsRaw(t.cond, idx) } : {}) };
    idx.dispose();
    return out;
  }

  batches(batch: number, seed = 0, o: { source?: PointDataset } = {}): { batch(step: number): PointBatch; dispose(): void } {
    if (batch > this.count) throw new FlowGpuError(`the batch (${batch}) is larger than the ${this.count} training rows: use a batch ≤ ${this.count}`);
    const src = o.source;
    if (src) {
      if (src.dim !== this.dim) throw new FlowGpuError(`the source has ${src.dim} dimensions and the data ${this.dim}: a flow maps between sets of the same dimension`);
      if (batch > src.count) throw new FlowGpuError(`the batch (${batch}) is larger than the ${src.count} source rows: use a batch ≤ ${src.count}`);
      if (this.tables?.x0) throw new FlowGpuError('a paired dataset already has its sources (x0): give either pairs or a source set, not both');
    }
    const sampler = new EpochSampler(this.count, batch, seed);
    // the source set is shuffled on its own stream: its batches are independent of the data's
    const srcSampler = src ? new EpochSampler(src.count, batch, (seed ^ 0x3c6ef372) >>> 0) : null;
    return {
      batch: (step) => {
        const b: PointBatch = this.gather(sampler.batchAt(step));
        if (src && srcSampler) b.source = src.gather(srcSampler.batchAt(step)).x1;
        return b;
      },
      dispose: () => {
        this.dispose();
        src?.dispose();
      },
    };
  }

  dispose(): void {
    if (!this.tables) return;
    for (const t of Object.values(this.tables)) t.dispose();
    this.tables = null;
  }
}

/** Draws from a seeded host generator: n rows of N(mean, L·Lᵀ) for a lower-triangular L (tests, demos). */
export function gaussianPoints(n: number, mean: number[], chol: number[][], seed = 0): Float32Array {
  const dim = mean.length;
  const rng = new HostRng(seed);
  const out = new Float32Array(n * dim);
  const z = new Array<number>(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) z[d] = rng.normal();
    for (let d = 0; d < dim; d++) {
      let v = mean[d];
      for (let k = 0; k <= d; k++) v += chol[d][k] * z[k];
      out[i * dim + d] = v;
    }
  }
  return out;
}
