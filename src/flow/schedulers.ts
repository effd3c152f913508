/**
 * Affine probability paths x_t = α_t·x1 + σ_t·x0 (x0 ~ N(0, I) source, x1 data), with target
 * velocity u_t = α̇_t·x1 + σ̇_t·x0. This file is the one place where each scheduler's α_t, σ_t and
 * their derivatives are written down (DESIGN.md, "Flow-matching math"). Kernels that fuse a path
 * (the interpolation-plus-target kernel, SDE steps) receive the scheduler as its `kind` code and
 * parameters and evaluate the same formulas in WGSL; tests compare both.
 */
import { FlowGpuError } from '../gpu/errors.js';

/** A probability path's name: 'condot', 'polynomial', 'cosine' or 'vp'. */
export type SchedulerName = 'condot' | 'polynomial' | 'cosine' | 'vp';

/**
 * An affine probability path x_t = α_t·x1 + σ_t·x0: α, σ and their time derivatives, plus the kind
 * code and parameters the kernels use.
 */
export interface Scheduler {
  readonly name: SchedulerName;
  /** Code the WGSL kernels switch on: 0 condot, 1 polynomial, 2 cosine, 3 vp. */
  readonly kind: number;
  /** Two parameters passed to kernels: condot (σ_min, 0), polynomial (n, 0), vp (β_min, β_max). */
  readonly params: readonly [number, number];
  alpha(t: number): number;
  sigma(t: number): number;
  dAlpha(t: number): number;
  dSigma(t: number): number;
}

/** CondOT / rectified flow: α = t, σ = 1 − (1 − σ_min)·t (σ_min = 0 is rectified flow). */
export function condOT(sigmaMin = 0): Scheduler {
  if (!(sigmaMin >= 0 && sigmaMin < 1)) throw new FlowGpuError(`condot: sigma_min must be in [0, 1), got ${sigmaMin}`);
  return {
    name: 'condot',
    kind: 0,
    params: [sigmaMin, 0],
    alpha: (t) => t,
    sigma: (t) => 1 - (1 - sigmaMin) * t,
    dAlpha: () => 1,
    dSigma: () => -(1 - sigmaMin),
  };
}

/** α = tⁿ, σ = 1 − tⁿ. */
export function polynomial(n = 2): Scheduler {
  if (!(n > 0)) throw new FlowGpuError(`polynomial: exponent must be positive, got ${n}`);
  return {
    name: 'polynomial',
    kind: 1,
    params: [n, 0],
    alpha: (t) => t ** n,
    sigma: (t) => 1 - t ** n,
    dAlpha: (t) => n * t ** (n - 1),
    dSigma: (t) => -n * t ** (n - 1),
  };
}

/** α = sin(πt/2), σ = cos(πt/2). */
export function cosine(): Scheduler {
  const h = Math.PI / 2;
  return {
    name: 'cosine',
    kind: 2,
    params: [0, 0],
    alpha: (t) => Math.sin(h * t),
    sigma: (t) => Math.cos(h * t),
    dAlpha: (t) => h * Math.cos(h * t),
    dSigma: (t) => -h * Math.sin(h * t),
  };
}

/**
 * Variance preserving (diffusion as flow matching): α_t = exp(−½·T(1 − t)),
 * T(s) = β_min·s + ½(β_max − β_min)·s², σ_t = √(1 − α_t²).
 */
export function vp(betaMin = 0.1, betaMax = 20): Scheduler {
  const T = (s: number) => betaMin * s + 0.5 * (betaMax - betaMin) * s * s;
  const dT = (s: number) => betaMin + (betaMax - betaMin) * s; // dT/ds = β(s)
  const alpha = (t: number) => Math.exp(-0.5 * T(1 - t));
  // dα/dt = α · ½ β(1 − t)   (since d/dt of −½T(1−t) = ½β(1−t))
  const dAlpha = (t: number) => alpha(t) * 0.5 * dT(1 - t);
  // 1 − α² = 1 − exp(−T) = −expm1(−T): no cancellation as t → 1, where α → 1.
  const sigma = (t: number) => Math.sqrt(Math.max(0, -Math.expm1(-T(1 - t))));
  return {
    name: 'vp',
    kind: 3,
    params: [betaMin, betaMax],
    alpha,
    sigma,
    dAlpha,
    // σ = √(1 − α²) ⇒ σ̇ = −α·α̇/σ
    dSigma: (t) => {
      const s = sigma(t);
      return s > 0 ? (-alpha(t) * dAlpha(t)) / s : -Infinity;
    },
  };
}

/**
 * The scheduler named 'condot' (σ_min, default 0), 'polynomial' (exponent, default 2), 'cosine' or
 * 'vp' (default β range); throws on other names.
 */
export function schedulerByName(name: string, opts: { sigmaMin?: number; exponent?: number } = {}): Scheduler {
  switch (name) {
    case 'condot':
      return condOT(opts.sigmaMin ?? 0);
    case 'polynomial':
      return polynomial(opts.exponent ?? 2);
    case 'cosine':
      return cosine();
    case 'vp':
      return vp();
    default:
      throw new FlowGpuError(`unknown path '${name}': use condot, polynomial, cosine or vp`);
  }
}
