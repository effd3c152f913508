/**
 * Sampling and likelihood bounds of discrete flows.
 *
 * `discreteEuler`: the discrete Euler (CTMC) sampler of flow_matching's MixtureDiscreteEulerSolver.
 * Per step from t to t + h: logits = model(x_t, t) (classifier-free guidance in logit space when
 * asked), then one fused dispatch (kernels/discrete.wgsl, euler_step) draws x̂ ~ softmax(logits),
 * tests the jump with rate κ̇/(1−κ) (plus the divergence-free rates c(t)·κ̇/(κ(1−κ))·((1−κ)·p0 +
 * κ·δ_x̂) when asked) and writes x_{t+h}; at the last step x = x̂. One submit per step, nothing read
 * back until the end. The time grid is uniform (`steps`) or given (`grid`, increasing, from 0).
 *
 * `discreteElbo`: −∫₀^T Σ_i E[ℓ_i] dt (T = 1 − 1e-5: the generalized-KL ELBO of log q(x1)) per
 * sequence, with t stratified: stratum j of S draws t = T·(j + u)/S per sequence, so the estimate
 * is unbiased with the variance of stratified sampling.
 */
import { noGrad } from '../autograd/tape.js';
import { randUniform } from '../flow/random.js';
import { FlowGpuError } from '../gpu/errors.js';
import { GuidanceLabels } from '../nn/guidance.js';
import { axpby, reduceRaw, unaryRaw } from '../tensor/primitives.js';
import { full, gpu, keep, tensor, tidy, type Tensor } from '../tensor/tensor.js';
import { eulerCoefficients, eulerStepRaw, generalizedKLTerms, sampleMixturePath, type TokenSpace } from './kernels.js';

/** A network of discrete flows: logits [N, d, K] of p_{1|t}(· | x_t) for tokens x_t i32 [N, d], t [N]. */
export interface DiscreteModel {
  forward(xt: Tensor, t: Tensor, labels?: Tensor): Tensor;
}

/** flow_matching's divergence-free weight c(t) = a·t²·(1 − t)^0.25 (their image example: a = 12). */
export function divergenceFreeWeight(a = 12): (t: number) => number {
  if (!(Number.isFinite(a) && a >= 0)) throw new FlowGpuError(`discrete Euler: the divergence-free amplitude must be finite and ≥ 0, got ${a}`);
  return (t) => a * t * t * (1 - t) ** 0.25;
}

/** Options of `discreteEuler`: the token space, the grid, seed, divergence-free term, labels and guidance. */
export interface DiscreteEulerOptions extends TokenSpace {
  /** Uniform steps on [0, 1] (default 64), or the `grid`. */
  steps?: number;
  /** Times t_0 = 0 < t_1 < … ≤ 1 (overrides `steps`). */
  grid?: readonly number[];
  /** Seed of the step's draws (default 0); `offset`: the first token's counter index (chunks). */
  seed?: number;
  offset?: number;
  /** The divergence-free term's weight c(t) (absent or null: none); see `divergenceFreeWeight`. */
  divFree?: ((t: number) => number) | null;
  /** Class labels per sequence (conditional networks). */
  labels?: GuidanceLabels;
  /**
   * Classifier-free guidance in logit space (experimental): (1 + w)·logits(c) − w·logits(∅);
   * w = 0 (default) is the plain conditional model.
   */
  guidance?: number;
}

/** The time grid of a sampling run, checked. */
export function timeGrid(o: { steps?: number; grid?: readonly number[] }): number[] {
  if (o.grid) {
    const g = [...o.grid];
    const ok = g.length >= 2 && g[0] === 0 && g.every((v, i) => Number.isFinite(v) && v <= 1 && (i === 0 || v > g[i - 1]));
    if (!ok) throw new FlowGpuError(`discrete Euler: the time grid must start at 0 and increase to at most 1, got [${g.slice(0, 6).join(', ')}${g.length > 6 ? ', …' : ''}]`);
    return g;
  }
  const n = o.steps ?? 64;
  if (!(Number.isInteger(n) && n >= 1)) throw new FlowGpuError(`discrete Euler: steps must be a positive integer, got ${n}`);
  return Array.from({ length: n + 1 }, (_, i) => i / n);
}

/** The logits of one step: the model's, or guided in logit space. */
export function guidedLogits(model: DiscreteModel, xt: Tensor, t: Tensor, labels: GuidanceLabels | undefined, w: number): Tensor {
  if (!labels) return model.forward(xt, t);
  if (labels.count !== xt.shape[0]) throw new FlowGpuError(`discrete guidance: ${labels.count} labels for ${xt.shape[0]} sequences`);
  if (!Number.isFinite(w)) throw new FlowGpuError(`discrete guidance: the scale must be finite, got ${w}`);
  const c = model.forward(xt, t, labels.cond);
  if (w === 0) return c;
  const u = model.forward(xt, t, labels.none);
  axpby(c, u, -w, 1 + w);
  u.dispose();
  return c;
}

/** The source state x_0 [n, d]: all mask, or uniform tokens drawn on the GPU from (seed, chunk). */
export function discreteSource(n: number, d: number, s: TokenSpace, seed = 0, chunk = 0): Tensor {
  return tidy(() => {
    const zeros = tensor(new Int32Array(n * d), [n, d], 'i32');
    const t = full([n], 0);
    return keep(sampleMixturePath(zeros, { ...s, seed, step: chunk, t }).xt);
  });
}

/**
 * Runs the discrete Euler sampler from x0 (i32 [N, d], the caller's) and returns x_1 (i32 [N, d]);
 * everything stays on the GPU.
 */
export function discreteEuler(model: DiscreteModel, x0: Tensor, o: DiscreteEulerOptions): Tensor {
  const grid = timeGrid(o);
  const n = x0.shape[0];
  const w = o.guidance ?? 0;
  let x = x0;
  for (let i = 0; i + 1 < grid.length; i++) {
    const t = grid[i];
    const last = i + 2 === grid.length;
    const coef = eulerCoefficients(o.scheduler, t, grid[i + 1] - t, last, o.divFree ?? null);
    const next = noGrad(() =>
      tidy(() => {
        const logits = guidedLogits(model, x, full([n], t), o.labels, w);
        return keep(eulerStepRaw(logits, x, o, coef, { seed: o.seed ?? 0, step: i, offset: o.offset ?? 0 }));
      }),
    );
    if (x !== x0) x.dispose();
    x = next;
    gpu().flush();
  }
  return x;
}

/** Options of `discreteSample`: `discreteEuler`'s plus the count, length and chunk size. */
export interface DiscreteSampleOptions extends Omit<DiscreteEulerOptions, 'labels' | 'offset'> {
  n: number;
  /** Tokens per sequence d. */
  length: number;
  /** Sequences per run (default 10000). */
  chunk?: number;
  /** Class of each sequence (conditional networks). */
  labels?: Int32Array | null;
}

/** Samples n sequences in chunks (x_0 of chunk c from (seed, c)); returns i32 [n·d] on the host. */
export async function discreteSample(model: DiscreteModel, o: DiscreteSampleOptions): Promise<Int32Array> {
  const { n, length: d } = o;
  if (!(Number.isInteger(n) && n >= 0)) throw new FlowGpuError(`discrete sample: n must be a non-negative integer, got ${n}`);
  if (o.labels && o.labels.length !== n) throw new FlowGpuError(`discrete sample: ${o.labels.length} labels for ${n} samples`);
  const chunk = o.chunk ?? 10000;
  const out = new Int32Array(n * d);
  for (let at = 0, c = 0; at < n; at += chunk, c++) {
    const m = Math.min(chunk, n - at);
    const x0 = discreteSource(m, d, o, o.seed ?? 0, c);
    const labels = o.labels ? new GuidanceLabels(o.labels.subarray(at, at + m)) : undefined;
    try {
      const x = discreteEuler(model, x0, { ...o, labels, offset: at * d });
      out.set((await x.data()) as Int32Array, at * d);
      x.dispose();
    } finally {
      x0.dispose();
      labels?.dispose();
    }
  }
  return out;
}

/** Options of `discreteElbo`: the token space, strata, seed and labels. */
export interface DiscreteElboOptions extends TokenSpace {
  /** Strata of t (default 64). */
  strata?: number;
  /**
   * The integral runs over [0, tMax] (default 1 − 1e-5: at t → 1 the weight κ̇/(1−κ) overflows f32);
   * the part left out is ≥ 0 in −ELBO, so the estimate is of a bound at most that much looser.
   */
  tMax?: number;
  seed?: number;
  /** i32 labels [N] for conditional networks. */
  labels?: Tensor;
}

/**
 * The generalized-KL ELBO of each sequence of x1 (i32 [N, d]) in nats, estimated with stratified t
 * (see the file comment). One read-back at the end.
 */
export async function discreteElbo(model: DiscreteModel, x1: Tensor, o: DiscreteElboOptions): Promise<Float64Array> {
  const strata = o.strata ?? 64;
  if (!(Number.isInteger(strata) && strata >= 1)) throw new FlowGpuError(`discrete ELBO: strata must be a positive integer, got ${strata}`);
  const n = x1.shape[0];
  const acc = keep(full([n], 0));
  const seed = o.seed ?? 0;
  const tMax = o.tMax ?? 1 - 1e-5;
  if (!(tMax > 0 && tMax < 1)) {
    acc.dispose();
    throw new FlowGpuError(`discrete ELBO: tMax must be in (0, 1), got ${tMax}`);
  }
  try {
    for (let j = 0; j < strata; j++) {
      noGrad(() =>
        tidy(() => {
          const u = randUniform([n], { seed, step: j, stream: 258 });
          const t = unaryRaw('affine', u, tMax / strata, (j * tMax) / strata);
          const { xt } = sampleMixturePath(x1, { ...o, seed, step: j, t });
          const terms = generalizedKLTerms(model.forward(xt, t, o.labels), x1, xt, t, o);
          axpby(acc, reduceRaw('sum', terms, [1]), -tMax / strata, 1);
        }),
      );
      gpu().flush();
    }
    return Float64Array.from((await acc.data()) as Float32Array);
  } finally {
    acc.dispose();
  }
}

