/**
 * The discrete family's dispatches (kernels/discrete.wgsl): the mixture path sampler, the fused
 * cross-entropy and generalized-KL losses (forward and gradient in one pass; the autograd ops that
 * record them are in src/autograd/discrete.ts), the per-token ℓ of the ELBO and the discrete Euler
 * (CTMC) step. Also the scheduler κ_t and the source, the math every kernel here is written against.
 *
 * Tokens are i32: a state is [N, d] (N sequences of d tokens), categories 0…K−1, and with a mask
 * source the value K is the mask (the model then reads a vocabulary of K + 1 and predicts over K).
 */
import discreteSrc from '../../kernels/discrete.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { randomLibrary, splitU64 } from '../flow/random.js';
import { kernel, reduceRaw, registerKernel } from '../tensor/primitives.js';
import { empty, gpu, run, type Shape, type Tensor } from '../tensor/tensor.js';

registerKernel('discrete', randomLibrary() + discreteSrc);

const WG = 256;
const fmt = (s: Shape) => `[${s.join(', ')}]`;

/** The source distribution of a mixture path: every token uniform on [K], or every token the mask id K. */
export type DiscreteSource = 'uniform' | 'mask';

/** The polynomial scheduler κ_t = tⁿ (κ_0 = 0, κ_1 = 1; n = 1 is linear) and κ̇_t = n·tⁿ⁻¹. */
export interface KappaScheduler {
  readonly n: number;
  kappa(t: number): number;
  dKappa(t: number): number;
}

/** κ_t = tⁿ with n > 0 (default 1, linear). */
export function polynomialKappa(n = 1): KappaScheduler {
  if (!(Number.isFinite(n) && n > 0)) throw new FlowGpuError(`discrete: the scheduler exponent n must be finite and > 0, got ${n}`);
  return { n, kappa: (t) => t ** n, dKappa: (t) => (t === 0 && n === 1 ? 1 : n * t ** (n - 1)) };
}

/** What every discrete kernel needs to know of the token space. */
export interface TokenSpace {
  /** Categories K of the data (the model predicts over K). */
  categories: number;
  source: DiscreteSource;
  scheduler: KappaScheduler;
}

/** The vocabulary the model reads: K, or K + 1 with a mask source. */
export const vocabulary = (s: Pick<TokenSpace, 'categories' | 'source'>) => s.categories + (s.source === 'mask' ? 1 : 0);

function checkSpace(s: TokenSpace, what: string): void {
  if (!(Number.isInteger(s.categories) && s.categories >= 2)) throw new FlowGpuError(`${what}: categories K must be an integer ≥ 2, got ${s.categories}`);
  if (s.source !== 'uniform' && s.source !== 'mask') throw new FlowGpuError(`${what}: the source must be 'uniform' or 'mask', got '${String(s.source)}'`);
}

function tokens(x: Tensor, what: string, name = 'x1'): [number, number] {
  if (x.dtype !== 'i32' || x.rank !== 2) throw new FlowGpuError(`${what}: ${name} must be i32 tokens [N, d], got ${x.dtype}${fmt(x.shape)}`);
  return [x.shape[0], x.shape[1]];
}

interface Extra {
  seed?: number;
  step?: number;
  tMax?: number;
  invM?: number;
  offset?: number;
  rate?: number;
  div?: number;
  kappa?: number;
  h?: number;
  last?: boolean;
}

function params(rows: number, d: number, s: TokenSpace, e: Extra = {}) {
  return {
    rows, d, k: s.categories, mask: s.source === 'mask' ? 1 : 0,
    seed: splitU64(e.seed ?? 0, 'seed'), step: splitU64(e.step ?? 0, 'step'),
    n_exp: s.scheduler.n, t_max: e.tMax ?? 1, inv_m: e.invM ?? 0, offset: e.offset ?? 0,
    rate: e.rate ?? 0, div: e.div ?? 0, kappa: e.kappa ?? 0, h: e.h ?? 0, last: e.last ? 1 : 0,
  };
}

/** Options of `sampleMixturePath`: the token space, (seed, step), ε, or the times given. */
export interface MixturePathOptions extends TokenSpace {
  seed: number;
  step: number;
  /** t ~ U(0, 1 − eps) per row (default 1e-3: κ̇/(1−κ) blows up at 1). */
  eps?: number;
  /** Times per row f32 [N] (drawn when absent). */
  t?: Tensor;
}

/**
 * The mixture path on the GPU in one dispatch: t per row (or given), then per token x_t = x1 with
 * probability κ_t, else x0 (the mask, or uniform on [K]); all drawn from (seed, step) with Philox.
 */
export function sampleMixturePath(x1: Tensor, o: MixturePathOptions): { xt: Tensor; t: Tensor } {
  checkSpace(o, 'mixture path');
  const [rows, d] = tokens(x1, 'mixture path');
  const eps = o.eps ?? 1e-3;
  if (!(eps >= 0 && eps < 1)) throw new FlowGpuError(`mixture path: eps must be in [0, 1), got ${eps}`);
  if (o.t && (o.t.dtype !== 'f32' || o.t.size !== rows)) throw new FlowGpuError(`mixture path: t must be f32 [${rows}], got ${o.t.dtype}${fmt(o.t.shape)}`);
  const xt = empty(x1.shape, 'i32');
  const t = o.t ? o.t.view([rows]) : empty([rows]);
  if (x1.size === 0) return { xt, t };
  const entry = o.t ? 'mix_path_given_t' : 'mix_path';
  run(kernel('discrete'), entry, {
    inputs: o.t ? { x1, t_in: o.t } : { x1 },
    outputs: o.t ? { xt } : { xt, t_out: t },
    params: params(rows, d, o, { seed: o.seed, step: o.step, tMax: 1 - eps }),
    workgroups: gpu().grid(x1.size, WG),
    label: entry,
  });
  return { xt, t };
}

function checkLogits(logits: Tensor, x1: Tensor, k: number, what: string): [number, number] {
  const [rows, d] = tokens(x1, what);
  if (logits.dtype !== 'f32' || logits.rank !== 3 || logits.shape[0] !== rows || logits.shape[1] !== d || logits.shape[2] !== k) {
    throw new FlowGpuError(`${what}: logits must be f32 [${rows}, ${d}, ${k}] for tokens ${fmt(x1.shape)}, got ${logits.dtype}${fmt(logits.shape)}`);
  }
  if (x1.size === 0) throw new FlowGpuError(`${what} of no tokens`);
  return [rows, d];
}

/** The fused loss and its gradient with respect to the logits (mean over the N·d tokens). */
export interface FusedLoss {
  /** One value. */
  loss: Tensor;
  /** ∂loss/∂logits, shaped like the logits. */
  grad: Tensor;
}

function fusedLoss(entry: 'ce_fused' | 'gkl_fused', logits: Tensor, inputs: Record<string, Tensor>, rows: number, d: number, s: TokenSpace): FusedLoss {
  const m = rows * d;
  const grad = empty(logits.shape);
  const groups = Math.min(64, Math.ceil(m / WG));
  const partial = empty([groups]);
  run(kernel('discrete'), entry, {
    inputs: { logits, ...inputs },
    outputs: { grad, partial },
    params: params(rows, d, s, { invM: 1 / m }),
    workgroups: [groups],
    label: entry,
  });
  const loss = reduceRaw('sum', partial);
  partial.dispose();
  return { loss, grad };
}

/** Mean cross-entropy of logits [N, d, K] against tokens x1 [N, d], and its gradient, in one pass. */
export function tokenCrossEntropyRaw(logits: Tensor, x1: Tensor): FusedLoss {
  const k = logits.shape[logits.rank - 1];
  const [rows, d] = checkLogits(logits, x1, k, 'cross-entropy');
  return fusedLoss('ce_fused', logits, { x1 }, rows, d, { categories: k, source: 'uniform', scheduler: polynomialKappa(1) });
}

function checkGkl(logits: Tensor, x1: Tensor, xt: Tensor, t: Tensor, s: TokenSpace, what: string): [number, number] {
  checkSpace(s, what);
  const [rows, d] = checkLogits(logits, x1, s.categories, what);
  if (xt.dtype !== 'i32' || xt.shape.join() !== x1.shape.join()) throw new FlowGpuError(`${what}: x_t must be i32 ${fmt(x1.shape)} like x1, got ${xt.dtype}${fmt(xt.shape)}`);
  if (t.dtype !== 'f32' || t.size !== rows) throw new FlowGpuError(`${what}: t must be f32 [${rows}], got ${t.dtype}${fmt(t.shape)}`);
  return [rows, d];
}

/**
 * The mean generalized KL of the mixture path (kernels/discrete.wgsl's header) of logits [N, d, K]
 * at (x1, x_t, t) and its gradient, in one pass over the logits.
 */
export function generalizedKLRaw(logits: Tensor, x1: Tensor, xt: Tensor, t: Tensor, s: TokenSpace): FusedLoss {
  const [rows, d] = checkGkl(logits, x1, xt, t, s, 'generalized KL');
  return fusedLoss('gkl_fused', logits, { x1, xt_in: xt, t_in: t }, rows, d, s);
}

/** The per-token generalized-KL terms ℓ_i, f32 [N, d] (no gradient: the ELBO's integrand). */
export function generalizedKLTerms(logits: Tensor, x1: Tensor, xt: Tensor, t: Tensor, s: TokenSpace): Tensor {
  const [rows, d] = checkGkl(logits, x1, xt, t, s, 'generalized KL');
  const out = empty([rows, d]);
  run(kernel('discrete'), 'gkl_rows', {
    inputs: { logits, x1, xt_in: xt, t_in: t },
    outputs: { row_loss: out },
    params: params(rows, d, s),
    workgroups: gpu().grid(rows * d, WG),
    label: 'gkl_rows',
  });
  return out;
}

/**
 * Mask source: logits [N, d, K] with every token of x_t [N, d] that is no longer the mask (id K) set to
 * its exact posterior δ(x_t) (logit 0 at x_t, −10³⁰ elsewhere); the mask's rows pass through. Also
 * kept [N, d, 1]: 1 where the row passed through (the gradient's mask). One dispatch.
 */
export function carryUnmaskedRaw(logits: Tensor, xt: Tensor, categories: number): { carried: Tensor; kept: Tensor } {
  const [rows, d] = checkLogits(logits, xt, categories, 'carry-over of unmasked tokens');
  const carried = empty(logits.shape);
  const kept = empty([rows, d, 1]);
  run(kernel('discrete'), 'carry_unmasked', {
    inputs: { logits, xt_in: xt },
    outputs: { carried, kept },
    params: params(rows, d, { categories, source: 'mask', scheduler: polynomialKappa(1) }),
    workgroups: gpu().grid(logits.size, WG),
    label: 'carry_unmasked',
  });
  return { carried, kept };
}

/** One Euler step's coefficients, computed on the host in float64 from (t, h). */
export interface EulerCoefficients {
  /** κ̇/(1−κ). */
  rate: number;
  /** c(t)·κ̇/(κ(1−κ)) (0: no divergence-free term). */
  div: number;
  kappa: number;
  h: number;
  last: boolean;
}

/** The coefficients of the step from t to t + h with the divergence-free weight c(t) (null: none). */
export function eulerCoefficients(s: KappaScheduler, t: number, h: number, last: boolean, c: ((t: number) => number) | null): EulerCoefficients {
  const k = s.kappa(t);
  const dk = s.dKappa(t);
  const rate = dk / (1 - k);
  const ct = c ? c(t) : 0;
  const div = ct === 0 ? 0 : (ct * dk) / (k * (1 - k));
  if (!last && !(Number.isFinite(rate) && Number.isFinite(div))) {
    throw new FlowGpuError(`discrete Euler: the rates at t = ${t} are not finite (κ = ${k}); end the time grid before 1 or use a c(t) that vanishes at 0 and 1`);
  }
  return { rate: last ? 0 : rate, div: last ? 0 : div, kappa: k, h, last };
}

/**
 * One discrete Euler (CTMC) step of every token in one dispatch: x̂ ~ softmax(logits) by inverse
 * CDF, the jump test, and the write-back (see kernels/discrete.wgsl). `draw` = (seed, step, offset):
 * token i draws from the counter (step, offset + i).
 */
export function eulerStepRaw(logits: Tensor, xt: Tensor, s: TokenSpace, c: EulerCoefficients, draw: { seed: number; step: number; offset?: number }): Tensor {
  checkSpace(s, 'discrete Euler');
  const [rows, d] = checkLogits(logits, xt, s.categories, 'discrete Euler');
  const out = empty(xt.shape, 'i32');
  run(kernel('discrete'), 'euler_step', {
    inputs: { logits, xt_in: xt },
    outputs: { xt: out },
    params: params(rows, d, s, { seed: draw.seed, step: draw.step, offset: draw.offset ?? 0, ...c }),
    workgroups: gpu().grid(rows * d, WG),
    label: 'euler_step',
  });
  return out;
}
