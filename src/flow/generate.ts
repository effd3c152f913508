/**
 * Sampling a trained network: integrate dx/dt = v(x, t[, c]) from t = 0 to 1 for n samples of any
 * shape (points [n, D], images [n, C, H, W]), in chunks so GPU memory stays bounded, with
 * classifier-free guidance for conditional networks:
 *
 *   const { x, labels } = await generate(net, { n: 100, labels: classLabels(100, 'per-class'), guidance: 2 });
 *
 * The source x0 ~ N(0, I) of chunk c is drawn on the GPU from (seed, c), or comes from the caller
 * (host values, e.g. the same x0 for two models, or a function). Results come back to the host,
 * chunk by chunk (`onChunk` sees each as it lands: a page can draw images as they are made).
 */
import { noGrad } from '../autograd/tape.js';
import { FlowGpuError } from '../gpu/errors.js';
import { guidedVelocity, GuidanceConditions, GuidanceLabels } from '../nn/guidance.js';
import { HostRng } from '../nn/module.js';
import type { VelocityNet } from '../nn/registry.js';
import { full, keep, tensor, type Tensor } from '../tensor/tensor.js';
import { randNormal } from './random.js';
import { sample, type SolverName } from './solvers.js';

/**
 * Options of `generate`: sample count, solver and NFE, seed or source, class labels, guidance
 * scale, chunk size and a per-chunk callback.
 */
export interface GenerateOptions {
  n: number;
  /** Default 'midpoint'. */
  solver?: SolverName;
  /** Velocity evaluations of a fixed-step solver (default 40); `steps` wins when given. */
  nfe?: number;
  steps?: number;
  /** dopri5 tolerances. */
  rtol?: number;
  atol?: number;
  /** Seed of the source noise (default 0). */
  seed?: number;
  /**
   * The starting points: host values [n·(sample size)], or a function giving rows at…at+m−1 (chunk
   * c) as a tensor. Default: N(0, I) drawn on the GPU from (seed, chunk).
   */
  source?: Float32Array | ((at: number, m: number, chunk: number) => Tensor);
  /** Conditional networks: the class of each sample (default: none, i.e. ∅ for every sample). */
  labels?: Int32Array | null;
  /**
   * Networks with a continuous condition of width W (`net.condVector`): the condition of each
   * sample, [n·W] row-major (default: none, i.e. ∅ for every sample).
   */
  conditions?: Float32Array | null;
  /** Classifier-free guidance scale (default 1: the plain conditional velocity). */
  guidance?: number;
  /** Samples per solver run (default: the network's `sampleChunk`). */
  chunk?: number;
  /** Called with each chunk's samples as they arrive (host, [m·(sample size)]). */
  onChunk?(x: Float32Array, at: number, m: number): void;
}

/**
 * The output of `generate`: samples on the host [n·(sample size)], their labels and the velocity
 * evaluations per sample.
 */
export interface Generated {
  /** Samples [n·(sample size)], row-major, in the network's space. */
  x: Float32Array;
  labels: Int32Array | null;
  /** Velocity evaluations per sample (per guided pair counted once). */
  nfe: number;
}

/** Samples `n` points or images from a network (see the file comment). */
export async function generate(net: Pick<VelocityNet, 'forward' | 'sampleShape' | 'numClasses' | 'sampleChunk' | 'condVector'>, o: GenerateOptions): Promise<Generated> {
  const n = o.n;
  if (!(Number.isInteger(n) && n >= 1)) throw new FlowGpuError(`generate: n must be a positive integer, got ${n}`);
  const width = net.sampleShape.reduce((a, b) => a * b, 1);
  const rows = (m: number) => [m, ...net.sampleShape];
  const labels = o.labels ?? null;
  const guidance = o.guidance ?? 1;
  if (labels) {
    if (net.numClasses === 0) throw new FlowGpuError('generate: this network is unconditional: it takes no labels (nor guidance)');
    if (labels.length !== n) throw new FlowGpuError(`generate: ${labels.length} labels for ${n} samples`);
    const bad = labels.findIndex((k) => !(Number.isInteger(k) && k >= -1 && k < net.numClasses));
    if (bad >= 0) throw new FlowGpuError(`generate: label ${bad} is ${labels[bad]}; this network knows classes 0…${net.numClasses - 1} (−1: none)`);
  } else if (guidance !== 1 && net.numClasses > 0) {
    throw new FlowGpuError('generate: guidance needs labels (the class of each sample)');
  }
  const width_c = net.condVector ?? 0;
  const conditions = o.conditions ?? null;
  if (conditions) {
    if (!width_c) throw new FlowGpuError('generate: this network takes no continuous condition (pass labels for a class-conditional one)');
    if (conditions.length !== n * width_c) throw new FlowGpuError(`generate: ${conditions.length} condition values for ${n} samples of width ${width_c} (need ${n * width_c})`);
  } else if (width_c && guidance !== 1) {
    throw new FlowGpuError('generate: guidance needs conditions (the condition of each sample)');
  }
  const src = o.source;
  if (src instanceof Float32Array && src.length !== n * width) {
    throw new FlowGpuError(`generate: the source has ${src.length} values; ${n} samples of [${net.sampleShape.join(', ')}] need ${n * width}`);
  }
  const source = (at: number, m: number, c: number): Tensor =>
    src instanceof Float32Array ? tensor(src.subarray(at * width, (at + m) * width), rows(m))
    : src ? src(at, m, c)
    : randNormal(rows(m), { seed: o.seed ?? 0, step: c });
  const chunk = Math.max(1, Math.min(n, o.chunk ?? net.sampleChunk));
  const out = new Float32Array(n * width);
  let nfe = 0;
  for (let c = 0, at = 0; at < n; c++, at += chunk) {
    const m = Math.min(chunk, n - at);
    const x0 = noGrad(() => keep(source(at, m, c)));
    const lab = labels ? new GuidanceLabels(labels.subarray(at, at + m))
      : width_c ? new GuidanceConditions(conditions ? conditions.subarray(at * width_c, (at + m) * width_c) : new Float32Array(m * width_c), width_c)
      : null;
    const w = conditions || labels ? guidance : 0; // no condition given: the null condition ∅
    const v = (x: Tensor, t: number) => {
      const tt = full([m], t);
      return lab ? guidedVelocity(net, x, tt, lab, w) : net.forward(x, tt);
    };
    try {
      const res = await noGrad(() => sample(v, x0, { solver: o.solver ?? 'midpoint', nfe: o.steps === undefined ? o.nfe ?? 40 : undefined, steps: o.steps, rtol: o.rtol, atol: o.atol }));
      const x = await res.x.f32();
      res.x.dispose();
      const bad = nonFiniteRows(x, width, at);
      if (bad.length) {
        throw new FlowGpuError(`generate: ${describeRows(bad, 'sample')} went non-finite (NaN or ±∞): the network or the solver diverged — check the weights, or use more steps / dopri5`);
      }
      out.set(x, at * width);
      nfe = res.nfe;
      o.onChunk?.(x, at, m);
    } finally {
      lab?.dispose();
      x0.dispose();
    }
  }
  return { x: out, labels, nfe };
}

/** How to pick the classes of n conditional samples. */
export type LabelMode = 'random' | 'per-class' | { class: number };

/**
 * The classes of n samples of a `classes`-class network: uniform random (seeded), `n / classes` of
 * each class in order ('per-class'; n must be a multiple), or all one class.
 */
export function classLabels(n: number, mode: LabelMode, o: { classes?: number; seed?: number } = {}): Int32Array {
  const k = o.classes ?? 10;
  const out = new Int32Array(n);
  if (typeof mode === 'object') {
    if (!(Number.isInteger(mode.class) && mode.class >= 0 && mode.class < k)) throw new FlowGpuError(`class ${mode.class} is not one of 0…${k - 1}`);
    return out.fill(mode.class);
  }
  if (mode === 'per-class') {
    if (n % k !== 0) throw new FlowGpuError(`per-class sampling needs n to be a multiple of ${k} (the same number of each class), got ${n}`);
    for (let i = 0; i < n; i++) out[i] = Math.floor(i / (n / k));
    return out;
  }
  const rng = new HostRng(((o.seed ?? 0) ^ 0x6c8e9cf5) >>> 0);
  for (let i = 0; i < n; i++) out[i] = rng.int(k);
  return out;
}

/**
 * `count` N(0, 1) values from a seeded host generator (HostRng, Box–Muller): a source that is the
 * same on every adapter and for any chunking. `stream` separates independent uses of one seed.
 */
export function hostNormals(count: number, seed: number, stream = 0x2545f491): Float32Array {
  const rng = new HostRng((seed ^ stream) >>> 0);
  const v = new Float32Array(count);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  return v;
}

/** "sample 3", "samples 0, 1, 2", "samples 0, 1, 2, 3, 4, …": rows as `nonFiniteRows` gives them, for a message. */
export function describeRows(rows: readonly number[], noun: string): string {
  return `${noun}${rows.length > 1 ? 's' : ''} ${rows.slice(0, 5).join(', ')}${rows.length > 5 ? ', …' : ''}`;
}

/** Indices (offset by `first`) of the rows of `x` [rows·width] with a NaN or an infinity, at most 6. */
export function nonFiniteRows(x: ArrayLike<number>, width: number, first = 0): number[] {
  const rows: number[] = [];
  for (let i = 0; i < x.length && rows.length < 6; i++) {
    if (!Number.isFinite(x[i])) {
      rows.push(first + Math.floor(i / width));
      i = (Math.floor(i / width) + 1) * width - 1;
    }
  }
  return rows;
}
