/**
 * Time samplers for flow-matching training: which t each row of a batch is trained at.
 *
 *   uniform        t ~ U(0, 1)
 *   logit-normal   t = sigmoid(m + s·n), n ~ N(0, 1)   (SD3 uses m = 0, s = 1; it puts more weight
 *                  in the middle of the path, where the conditional velocity changes most — seed 003)
 *
 * A drawn t is never exactly 0 or 1 (uniform: by construction; logit-normal: clamped to
 * [2⁻²⁴, 1 − 2⁻²⁴], which matters only for large |m| or s).
 * Both can be squeezed into [tMin, tMax] (t ← tMin + (tMax − tMin)·t), e.g. to keep the VP path
 * away from its singular end at t = 1. The kernels draw t themselves (kernels/flow.wgsl, stream
 * STREAM.time, counter index = row): row r's time uses the first word (uniform) or the first two
 * words (logit-normal, one Box–Muller normal) of philoxAt(seed, step, r, STREAM.time).
 */
import { FlowGpuError } from '../gpu/errors.js';
import { boxMuller, philoxAt, STREAM, uniformFromWord } from './random.js';

/** A time sampler's name: 'uniform' or 'logit-normal'. */
export type TimeSamplerName = 'uniform' | 'logit-normal';

/**
 * A distribution of training times t in [tMin, tMax], drawn on the GPU by its kind code and
 * parameters, with its analytic CDF and density.
 */
export interface TimeSampler {
  readonly name: TimeSamplerName;
  /** Code the kernels switch on: 0 uniform, 1 logit-normal. */
  readonly kind: number;
  /** Kernel parameters: logit-normal (m, s); uniform (0, 0). */
  readonly params: readonly [number, number];
  /** t is mapped affinely onto [tMin, tMax]. */
  readonly range: readonly [number, number];
  /** P(T ≤ t), analytic. */
  cdf(t: number): number;
  /** Density of T at t. */
  pdf(t: number): number;
}

/** The interval [tMin, tMax] (default [0, 1]) that a time sampler maps its draws onto. */
export interface TimeRange {
  tMin?: number;
  tMax?: number;
}

function checkRange(r: TimeRange): [number, number] {
  const lo = r.tMin ?? 0;
  const hi = r.tMax ?? 1;
  if (!(lo >= 0 && hi <= 1 && lo < hi)) throw new FlowGpuError(`time sampler: need 0 ≤ tMin < tMax ≤ 1, got [${lo}, ${hi}]`);
  return [lo, hi];
}

/** Standard normal CDF (erfc-based, |error| < 1.2·10⁻⁷ — Numerical Recipes' erfcc). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - 0.5 * erfc : 0.5 * erfc;
}

/** t ~ U(tMin, tMax), by default U(0, 1). */
export function uniformTime(range: TimeRange = {}): TimeSampler {
  const [lo, hi] = checkRange(range);
  return {
    name: 'uniform',
    kind: 0,
    params: [0, 0],
    range: [lo, hi],
    cdf: (t) => Math.min(1, Math.max(0, (t - lo) / (hi - lo))),
    pdf: (t) => (t >= lo && t <= hi ? 1 / (hi - lo) : 0),
  };
}

/** t = sigmoid(m + s·n), n ~ N(0, 1) (default m = 0, s = 1, as SD3), mapped onto [tMin, tMax]. */
export function logitNormalTime(m = 0, s = 1, range: TimeRange = {}): TimeSampler {
  if (!(Number.isFinite(m) && s > 0)) throw new FlowGpuError(`logit-normal time: need a finite m and s > 0, got m=${m}, s=${s}`);
  const [lo, hi] = checkRange(range);
  const base = (t: number) => (t <= 0 ? 0 : t >= 1 ? 1 : normalCdf((Math.log(t / (1 - t)) - m) / s));
  return {
    name: 'logit-normal',
    kind: 1,
    params: [m, s],
    range: [lo, hi],
    cdf: (t) => base((t - lo) / (hi - lo)),
    pdf: (t) => {
      const u = (t - lo) / (hi - lo);
      if (u <= 0 || u >= 1) return 0;
      const z = (Math.log(u / (1 - u)) - m) / s;
      return Math.exp(-0.5 * z * z) / (s * Math.sqrt(2 * Math.PI) * u * (1 - u) * (hi - lo));
    },
  };
}

/** The time sampler named 'uniform' or 'logit-normal' (with m, s and a range); throws on other names. */
export function timeSamplerByName(name: string, opts: { m?: number; s?: number } & TimeRange = {}): TimeSampler {
  switch (name) {
    case 'uniform':
      return uniformTime(opts);
    case 'logit-normal':
    case 'logitnormal':
      return logitNormalTime(opts.m ?? 0, opts.s ?? 1, opts);
    default:
      throw new FlowGpuError(`unknown time sampler '${name}': use uniform or logit-normal`);
  }
}

/** Drawn times (before the range map) are clamped to [2⁻²⁴, 1 − 2⁻²⁴]: never exactly 0 or 1. */
export const T_EPS = 2 ** -24;

/** CPU mirror (float64) of the t that row `row` gets for (seed, step): what the kernels draw. */
export function timeCpu(sampler: TimeSampler, seed: number, step: number, row: number): number {
  const w = philoxAt(seed, step, row, STREAM.time);
  let t: number;
  if (sampler.kind === 0) t = uniformFromWord(w[0]);
  else {
    const [n] = boxMuller(uniformFromWord(w[0]), uniformFromWord(w[1]));
    t = 1 / (1 + Math.exp(-(sampler.params[0] + sampler.params[1] * n)));
    t = Math.min(Math.max(t, T_EPS), 1 - T_EPS);
  }
  return sampler.range[0] + (sampler.range[1] - sampler.range[0]) * t;
}
