/**
 * Couplings: how source samples x0 are paired with the data x1 of a batch.
 *
 * - independent: x0 ~ N(0, I) drawn inside the interpolation kernel, paired by position (no work).
 * - minibatch optimal transport (Tong et al. 2023, Pooladian et al. 2023): re-pair the batch's x0
 *   to its x1 so that Σ‖x0 − x1‖² is small; the learned paths cross less and straighten.
 *     exact     — a linear assignment (Hungarian / Jonker–Volgenant shortest augmenting paths) on
 *                 the CPU. It needs the cost matrix on the host: ONE READ-BACK PER STEP (n² floats)
 *                 and O(n³) CPU time (≈ tens of ms at n = 256 in JS); use it for batches up to ~1k.
 *     sinkhorn  — log-domain entropic OT on the GPU (kernels/sinkhorn.wgsl), then one x0 per x1 row
 *                 drawn from the plan (Gumbel-max) or its row argmax. No read-back: it fits inside a
 *                 one-submit training step; use it beyond ~1k, or whenever a read-back hurts.
 *
 * Every coupling keeps x1's order (so class labels stay aligned with their data) and returns the
 * x0 to pair with each x1 row. The source is N(0, I) noise, or a batch of another data set (a
 * data-to-data flow, `source`): the couplings re-pair its rows as they re-pair noise. The x0 drawn here for (seed, step) is the same noise the
 * independent coupling's kernel draws (stream STREAM.source), before re-pairing.
 */
import sinkhornSrc from '../../kernels/sinkhorn.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { fill, gatherRowsRaw, kernel, reduceRaw, registerKernel } from '../tensor/primitives.js';
import { empty, gpu, run, tensor, type Tensor } from '../tensor/tensor.js';
import { randNormal, randomLibrary, splitU64, STREAM } from './random.js';

registerKernel('sinkhorn', randomLibrary() + sinkhornSrc);

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

function rows2d(x: Tensor, what: string): Tensor {
  if (x.rank < 1 || x.dtype !== 'f32' || x.shape[0] === 0) throw new FlowGpuError(`${what}: need a non-empty f32 tensor [N, …], got ${x.dtype}${fmt(x.shape)}`);
  return x.view([x.shape[0], x.size / x.shape[0]]);
}

function checkPair(x1: Tensor, x0: Tensor, what: string): [Tensor, Tensor] {
  const a = rows2d(x1, what);
  const b = rows2d(x0, what);
  if (a.shape[1] !== b.shape[1]) {
    a.dispose();
    b.dispose();
    throw new FlowGpuError(`${what}: x1 ${fmt(x1.shape)} and x0 ${fmt(x0.shape)} have rows of different sizes`);
  }
  return [a, b];
}

/** C_ij = ‖x1_i − x0_j‖² for rows x1 [n, …] and x0 [m, …] → [n, m] (direct differences, no cancellation). */
export function squaredDistances(x1: Tensor, x0: Tensor): Tensor {
  const [a, b] = checkPair(x1, x0, 'squared_distances');
  const [n, d] = a.shape;
  const m = b.shape[0];
  const cost = empty([n, m]);
  run(kernel('sinkhorn'), 'sq_dist', {
    inputs: { pts_a: a, pts_b: b },
    outputs: { cost_out: cost },
    params: { n, m, d },
    workgroups: gpu().grid(n * m, 256),
    label: 'sq_dist',
  });
  a.dispose();
  b.dispose();
  return cost;
}

// ------------------------------------------------------------------ exact assignment (CPU)

/**
 * Minimum-cost assignment of n rows to distinct columns of an n×m cost matrix (row-major, n ≤ m):
 * returns col[i] for each row. Shortest augmenting paths with dual potentials (the Hungarian method
 * in Jonker–Volgenant form), O(n²·m), exact in float64.
 */
export function linearSumAssignment(cost: ArrayLike<number>, n: number, m = n): Int32Array {
  if (!(Number.isInteger(n) && Number.isInteger(m) && n >= 0 && n <= m)) throw new FlowGpuError(`assignment: need integers 0 ≤ n ≤ m, got n=${n}, m=${m}`);
  if (cost.length !== n * m) throw new FlowGpuError(`assignment: ${cost.length} costs for a ${n}×${m} matrix`);
  const c = Float64Array.from(cost);
  for (let k = 0; k < c.length; k++) {
    if (!Number.isFinite(c[k])) throw new FlowGpuError(`assignment: cost ${k} (row ${Math.floor(k / m)}) is ${c[k]}; costs must be finite`);
  }
  // 1-based: u rows, v columns, p[j] = row matched to column j (0 = none), way = predecessor column
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      const row = (i0 - 1) * m - 1;
      const ui = u[i0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = c[row + j] - ui - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const col = new Int32Array(n);
  for (let j = 1; j <= m; j++) if (p[j] !== 0) col[p[j] - 1] = j - 1;
  return col;
}

/**
 * Exact minibatch OT pairing: for each x1 row, the index of its x0 row (i32 [n]). Computes the
 * cost matrix on the GPU, reads it back (one read-back) and solves the assignment on the CPU.
 */
export async function exactOTPairing(x1: Tensor, x0: Tensor): Promise<Tensor> {
  if (x1.shape[0] > x0.shape[0]) throw new FlowGpuError(`exact OT: more x1 rows (${x1.shape[0]}) than x0 rows (${x0.shape[0]})`);
  const cost = squaredDistances(x1, x0);
  const [n, m] = cost.shape;
  const host = await cost.f32();
  cost.dispose();
  return tensor(linearSumAssignment(host, n, m), [n], 'i32');
}

// ------------------------------------------------------------------ Sinkhorn (GPU)

/**
 * Options of `sinkhorn`: entropic regularisation relative to the mean cost (default 0.05) and
 * iterations (default 100).
 */
export interface SinkhornOptions {
  /** Entropic regularisation relative to the batch's mean cost: ε = reg·mean(C) (default 0.05). */
  reg?: number;
  /** Sinkhorn iterations, each one f and one g update (default 100). */
  iters?: number;
}

/**
 * The output of `sinkhorn`: potentials f [n] and g [m], the cost matrix C [n, m], its sum and the
 * relative regularisation.
 */
export interface SinkhornResult {
  /** Potentials: f [n] for the x1 rows, g [m] for the x0 rows; plan π_ij = exp((f_i + g_j − C_ij)/ε). */
  f: Tensor;
  g: Tensor;
  /** C [n, m]. */
  cost: Tensor;
  /** Σ C, a scalar tensor (ε = reg·costSum/(n·m)). */
  costSum: Tensor;
  /** ε relative to the mean cost, as given. */
  reg: number;
}

function sinkParams(rows: number, cols: number, reg: number, invCount: number, extra?: { sample: number; seed: number; step: number }) {
  return {
    rows,
    cols,
    reg,
    inv_count: invCount,
    sample: extra?.sample ?? 0,
    seed: splitU64(extra?.seed ?? 0, 'seed'),
    step: splitU64(extra?.step ?? 0, 'step'),
  };
}

/** Log-domain Sinkhorn between the rows of x1 [n, …] and x0 [m, …] with uniform marginals (no read-back). */
export function sinkhorn(x1: Tensor, x0: Tensor, o: SinkhornOptions = {}): SinkhornResult {
  const reg = o.reg ?? 0.05;
  const iters = o.iters ?? 100;
  if (!(reg > 0 && Number.isFinite(reg))) throw new FlowGpuError(`sinkhorn: reg must be positive, got ${reg}`);
  if (!(Number.isInteger(iters) && iters >= 1)) throw new FlowGpuError(`sinkhorn: iters must be a positive integer, got ${iters}`);
  const [a, b] = checkPair(x1, x0, 'sinkhorn');
  const [n, d] = a.shape;
  const m = b.shape[0];
  const g = gpu();
  const cost = empty([n, m]);
  const costT = empty([m, n]);
  run(kernel('sinkhorn'), 'sq_dist_both', {
    inputs: { pts_a: a, pts_b: b },
    outputs: { cost_out: cost, cost_t: costT },
    params: { n, m, d },
    workgroups: g.grid(n * m, 256),
    label: 'sq_dist_both',
  });
  a.dispose();
  b.dispose();
  const costSum = reduceRaw('sum', cost);
  const inv = 1 / (n * m);
  const f = empty([n]);
  const gp = empty([m]);
  fill(gp, 0);
  for (let k = 0; k < iters; k++) {
    run(kernel('sinkhorn'), 'potential_update', {
      inputs: { cost, pot: gp, csum: costSum },
      outputs: { pot_out: f },
      params: sinkParams(n, m, reg, inv),
      workgroups: g.grid(n, 1),
      label: 'sinkhorn.f',
    });
    run(kernel('sinkhorn'), 'potential_update', {
      inputs: { cost: costT, pot: f, csum: costSum },
      outputs: { pot_out: gp },
      params: sinkParams(m, n, reg, inv),
      workgroups: g.grid(m, 1),
      label: 'sinkhorn.g',
    });
  }
  costT.dispose();
  return { f, g: gp, cost, costSum, reg };
}

/**
 * Options of Sinkhorn pairing: `SinkhornOptions` plus 'sample' (Gumbel-max, default) or 'argmax'
 * pairing and the noise's seed and step.
 */
export interface SinkhornPairingOptions extends SinkhornOptions {
  /** 'sample' (default): x0 index drawn from the plan's row (Gumbel-max); 'argmax': its largest entry. */
  pairing?: 'sample' | 'argmax';
  /** Seed and step of the Gumbel noise (sample pairing). */
  seed?: number;
  step?: number;
}

/** For each x1 row, an x0 row index (i32 [n]) from the Sinkhorn plan, on the GPU. */
export function sinkhornPairing(x1: Tensor, x0: Tensor, o: SinkhornPairingOptions = {}): Tensor {
  const s = sinkhorn(x1, x0, o);
  const idx = pairFromPlan(s, o);
  s.f.dispose();
  s.g.dispose();
  s.cost.dispose();
  s.costSum.dispose();
  return idx;
}

/** One x0 index per x1 row from a Sinkhorn result (see SinkhornPairingOptions.pairing). */
export function pairFromPlan(s: SinkhornResult, o: SinkhornPairingOptions = {}): Tensor {
  const [n, m] = s.cost.shape;
  const idx = empty([n], 'i32');
  const sample = (o.pairing ?? 'sample') === 'sample' ? 1 : 0;
  if (!sample && o.pairing !== 'argmax') throw new FlowGpuError(`sinkhorn: pairing must be 'sample' or 'argmax', got '${o.pairing}'`);
  run(kernel('sinkhorn'), 'pair_rows', {
    inputs: { cost: s.cost, pot: s.g, csum: s.costSum },
    outputs: { idx },
    params: sinkParams(n, m, s.reg, 1 / (n * m), { sample, seed: o.seed ?? 0, step: o.step ?? 0 }),
    workgroups: gpu().grid(n, 1),
    label: 'sinkhorn.pair',
  });
  return idx;
}

// ------------------------------------------------------------------ couplings for training

/**
 * How a training step pairs source noise x0 with data x1: independent, exact OT or Sinkhorn OT
 * (with its options).
 */
export type Coupling =
  | { kind: 'independent' }
  | { kind: 'ot-exact' }
  | ({ kind: 'ot-sinkhorn' } & SinkhornPairingOptions);

/** x0 ~ N(0, I) for a batch shaped like x1: the noise the interpolation kernel draws for (seed, step). */
export function drawSource(x1: Tensor, o: { seed: number; step: number }): Tensor {
  return randNormal(x1.shape, { seed: o.seed, step: o.step, stream: STREAM.source });
}

/**
 * Options of a training coupling: the step's seed and counter, and optionally the source samples to
 * re-pair (a data-to-data flow: a batch drawn from the source set, shaped like x1); without them
 * the source is N(0, I) noise drawn for (seed, step).
 */
export interface CoupleOptions {
  seed: number;
  step: number;
  source?: Tensor;
}

function candidates(x1: Tensor, o: CoupleOptions): Tensor {
  if (!o.source) return drawSource(x1, o);
  if (o.source.dtype !== 'f32' || o.source.shape.join() !== x1.shape.join()) {
    throw new FlowGpuError(`coupling: the source batch ${o.source.dtype}${fmt(o.source.shape)} must be f32 shaped like the data batch ${fmt(x1.shape)}`);
  }
  return o.source;
}

function gatherLike(x0: Tensor, idx: Tensor, shape: readonly number[]): Tensor {
  const table = rows2d(x0, 'coupling');
  const rows = gatherRowsRaw(table, idx);
  table.dispose();
  const out = rows.view(shape);
  rows.dispose();
  return out;
}

/**
 * Sinkhorn coupling on the GPU, no read-back: the x0 (same shape as x1) to pair with each x1 row
 * for (seed, step).
 */
export function sinkhornCouple(x1: Tensor, o: CoupleOptions & SinkhornPairingOptions): Tensor {
  const x0 = candidates(x1, o);
  const idx = sinkhornPairing(x1, x0, { ...o, seed: o.seed, step: o.step });
  const out = gatherLike(x0, idx, x1.shape);
  if (x0 !== o.source) x0.dispose();
  idx.dispose();
  return out;
}

/**
 * Exact OT coupling: the x0 to pair with each x1 row for (seed, step). One read-back (the n×m cost
 * matrix) and an O(n³) assignment on the CPU: call it before the (synchronous) training step and
 * pass the result as the step's x0.
 */
export async function exactOTCouple(x1: Tensor, o: CoupleOptions): Promise<Tensor> {
  const x0 = candidates(x1, o);
  const idx = await exactOTPairing(x1, x0);
  const out = gatherLike(x0, idx, x1.shape);
  if (x0 !== o.source) x0.dispose();
  idx.dispose();
  return out;
}
