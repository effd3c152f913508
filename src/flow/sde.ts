/**
 * Stochastic sampling with the same marginals as the flow (seed 003, "SDE and Diffusion";
 * DESIGN.md): Euler–Maruyama on
 *
 *   dx = [v(x, t) + ½g(t)²·s(x, t)] dt + g(t) dW,
 *
 * whose Fokker–Planck equation reduces to the continuity equation of v for any g, because the
 * extra drift ½g²·∇log p_t cancels the diffusion ½g²·Δp_t. The score s comes from the velocity by
 * Tweedie's formula for an affine Gaussian path x_t = α_t·x1 + σ_t·x0:
 *
 *   E[x0|x_t] = (v − (α̇/α)·x) / (σ̇ − α̇σ/α) = (α̇·x − α·v) / (α̇σ − ασ̇),   s = −E[x0|x_t] / σ,
 *
 * (the second form, multiplied through by α, stays finite at α = 0; CondOT gives s = (t·v − x)/(1 − t)).
 * So the drift is linear in (v, x): drift = cv·v + cx·x with
 *   cv = 1 + ½g²·α / (σ·den),   cx = −½g²·α̇ / (σ·den),   den = α̇σ − ασ̇,
 * computed on the host per step and passed as uniforms; one fused kernel (kernels/sde.wgsl,
 * em_step) evaluates x + h·drift + g·√h·ξ with ξ drawn in the kernel from the shared generator
 * (src/flow/random.ts): the ξ of step i is exactly randNormal(x.shape, {seed, step: i, stream}),
 * stream STREAM.sde by default.
 *
 * Singular ends: s has 1/σ, which blows up at t = 1 (σ = 0), and den vanishes at t = 0 for paths
 * with α̇(0) = 0 (polynomial). Euler–Maruyama evaluates the drift at the left end of each step, so
 * t = t1 is never evaluated; in addition the score's time is clamped to [eps, 1 − eps]
 * (eps = 1e-4 by default) so that coefficients stay finite at t0 = 0.
 *
 * Diffusion schedules g(t) (`diffusion` option):
 *   - a number w, or { kind: 'sigma', w }: g(t) = w·σ_t (default, w = 1): noise fades out as the
 *     sample reaches the data (g → 0 at t = 1), so the final step adds no visible noise, and
 *     ½g²·s = −½w²·σ·E[x0|x_t] stays bounded.
 *   - { kind: 'constant', w }: g(t) = w. Its last steps still add noise of variance w²·h.
 *   - a function t ↦ g(t).
 * g ≡ 0 is the Euler ODE sampler.
 */
import sdeSrc from '../../kernels/sde.wgsl';
import { noGrad } from '../autograd/tape.js';
import { FlowGpuError } from '../gpu/errors.js';
import { kernel, registerKernel, unaryRaw } from '../tensor/primitives.js';
import { empty, gpu, keep, run, tidy, type Shape, type Tensor } from '../tensor/tensor.js';
import { randNormal, randomLibrary, randUniform, splitU64, STREAM, type RandomOptions } from './random.js';
import { condOT, type Scheduler } from './schedulers.js';
import type { VelocityField } from './solvers.js';

registerKernel('sde', randomLibrary() + sdeSrc);

const WG = 256;

/**
 * The diffusion coefficient g(t) of `sampleSDE`: w·σ_t (a number or `sigma`), a constant w, or any
 * function of t.
 */
export type DiffusionSchedule = number | { kind: 'sigma' | 'constant'; w: number } | ((t: number) => number);

/**
 * Options of `sampleSDE`: scheduler (default CondOT), steps (default 100), time span, diffusion
 * g(t), noise seed and stream, score clamp and trajectory output.
 */
export interface SdeOptions {
  /** The probability path the velocity was trained on (default CondOT). */
  scheduler?: Scheduler;
  /** Euler–Maruyama steps (default 100). */
  steps?: number;
  /** Start and end time, t0 < t1 (default 0 → 1). */
  t0?: number;
  t1?: number;
  /** g(t); default w·σ_t with w = 1. */
  diffusion?: DiffusionSchedule;
  /** Noise seed (the same seed gives the same samples on the same adapter). */
  seed?: number;
  /** Stream id of the noise (default STREAM.sde); another stream gives independent noise. */
  stream?: number;
  /** The score's time is clamped to [eps, 1 − eps] (default 1e-4). */
  eps?: number;
  /** Return the state after every step, x0 first, read back to the host after the loop. */
  returnTrajectory?: boolean;
}

/**
 * The output of `sampleSDE`: the final state (caller-owned), velocity evaluations and the optional
 * trajectory with its times.
 */
export interface SdeResult {
  x: Tensor;
  nfe: number;
  trajectory?: Float32Array[];
  times?: number[];
}

/** g(t) as a function. */
export function diffusionCoefficient(d: DiffusionSchedule | undefined, sched: Scheduler): (t: number) => number {
  if (d === undefined) return (t) => sched.sigma(t);
  if (typeof d === 'function') return d;
  if (typeof d === 'number') return (t) => d * sched.sigma(t);
  if (d.kind === 'sigma') return (t) => d.w * sched.sigma(t);
  if (d.kind === 'constant') return () => d.w;
  throw new FlowGpuError(`unknown diffusion schedule ${JSON.stringify(d)}: use a number, {kind: 'sigma'|'constant', w} or a function`);
}

/**
 * Drift coefficients at time t: drift = cv·v + cx·x equals v + ½g²·s with s the Tweedie score of
 * the path (see the file comment).
 */
export function sdeDriftCoefficients(sched: Scheduler, t: number, g: number, eps = 1e-4): { cv: number; cx: number } {
  if (g === 0) return { cv: 1, cx: 0 };
  const ts = Math.min(1 - eps, Math.max(eps, t));
  const a = sched.alpha(ts);
  const da = sched.dAlpha(ts);
  const s = sched.sigma(ts);
  const ds = sched.dSigma(ts);
  const den = da * s - a * ds;
  const q = 0.5 * g * g / (s * den);
  if (!Number.isFinite(q) || s <= 0) {
    throw new FlowGpuError(`sde: the score of the '${sched.name}' path is singular at t = ${ts} (σ = ${s}, α̇σ − ασ̇ = ${den}); keep t away from the ends`);
  }
  return { cv: 1 + q * a, cx: -q * da };
}

const NO_PARAMS = { h: 0, cv: 0, cx: 0, gs: 0, levels: 0, scale: 0, shift: 0 };

/** The uniform block of kernels/sde.wgsl for n elements and the counter (seed, step, stream). */
export function sdeParams(n: number, seed: number, step: number, stream: number) {
  if (!(Number.isInteger(stream) && stream >= 0 && stream < 2 ** 32)) throw new FlowGpuError(`sde: stream must be a u32, got ${stream}`);
  if (n >= 2 ** 32) throw new FlowGpuError(`sde: too many elements (${n}; at most 2^32 − 1)`);
  return { ...NO_PARAMS, n, stream, seed: splitU64(seed, 'seed'), step: splitU64(step, 'step') };
}

/**
 * One Euler–Maruyama step: x + h·(cv·v + cx·x) + gs·ξ with ξ = randNormal(x.shape, {seed, step,
 * stream}) (the same values, drawn in the kernel).
 */
export function emStep(x: Tensor, v: Tensor, h: number, cv: number, cx: number, gs: number, seed: number, step: number, stream: number = STREAM.sde): Tensor {
  if (v.size !== x.size) throw new FlowGpuError(`sde: the velocity field returned [${v.shape.join(', ')}] for a state [${x.shape.join(', ')}]`);
  const y = empty(x.shape);
  if (x.size === 0) return y;
  run(kernel('sde'), 'em_step', {
    inputs: { sde_x: x, sde_v: v },
    outputs: { sde_y: y },
    params: { ...sdeParams(x.size, seed, step, stream), h, cv, cx, gs },
    workgroups: gpu().grid(Math.ceil(x.size / 4), WG),
    label: 'em_step',
  });
  return y;
}

/** A distribution of GPU noise: 'normal' N(0, 1), 'rademacher' ±1 or 'uniform' U(0, 1). */
export type NoiseKind = 'normal' | 'rademacher' | 'uniform';

/**
 * Independent N(0, 1), Rademacher ±1 or U(0, 1) values from the shared generator for (seed, step,
 * stream) (stream default STREAM.user): 'normal' and 'uniform' are randNormal and randUniform;
 * 'rademacher' is sign(u − ½) of the uniforms randUniform gives for the same counter.
 */
export function noise(shape: Shape, kind: NoiseKind, o: RandomOptions): Tensor {
  if (kind === 'normal') return randNormal(shape, o);
  if (kind === 'uniform') return randUniform(shape, o);
  if (kind !== 'rademacher') throw new FlowGpuError(`noise: kind must be 'normal', 'rademacher' or 'uniform', got '${kind as string}'`);
  const y = empty(shape);
  if (y.size === 0) return y;
  run(kernel('sde'), 'fill_rademacher', {
    inputs: {},
    outputs: { sde_y: y },
    params: sdeParams(y.size, o.seed, o.step ?? 0, o.stream ?? STREAM.user),
    workgroups: gpu().grid(Math.ceil(y.size / 4), WG),
    label: 'noise.rademacher',
  });
  return y;
}

/**
 * Euler–Maruyama sampling from x0 (not modified) over [t0, t1] with `steps` steps. Each step is
 * one velocity evaluation plus one fused update under noGrad and tidy; nothing is read back inside
 * the loop.
 */
export async function sampleSDE(v: VelocityField, x0: Tensor, o: SdeOptions = {}): Promise<SdeResult> {
  const sched = o.scheduler ?? condOT();
  const steps = o.steps ?? 100;
  const t0 = o.t0 ?? 0;
  const t1 = o.t1 ?? 1;
  if (!Number.isInteger(steps) || steps < 1) throw new FlowGpuError(`sde: steps must be a positive integer, got ${steps}`);
  if (!(t1 > t0)) throw new FlowGpuError(`sde: needs t0 < t1 (got ${t0} → ${t1}); the SDE runs forwards, from noise to data`);
  const g = diffusionCoefficient(o.diffusion, sched);
  const seed = o.seed ?? 0;
  const stream = o.stream ?? STREAM.sde;
  sdeParams(0, seed, 0, stream); // validates seed and stream before any work
  const h = (t1 - t0) / steps;
  const traj: Tensor[] | undefined = o.returnTrajectory ? [keep(noGrad(() => unaryRaw('affine', x0, 1, 0)))] : undefined;
  const times = [t0];
  let x = x0;
  for (let i = 0; i < steps; i++) {
    const t = t0 + i * h;
    const gt = g(t);
    if (!(gt >= 0) || !Number.isFinite(gt)) throw new FlowGpuError(`sde: diffusion g(${t}) = ${gt} must be finite and ≥ 0`);
    const { cv, cx } = sdeDriftCoefficients(sched, t, gt, o.eps);
    const xc = x;
    const next = keep(
      noGrad(() =>
        tidy(() => {
          const vt = v(xc, t);
          return emStep(xc, vt, h, cv, cx, gt * Math.sqrt(h), seed, i, stream);
        }),
      ),
    );
    if (traj) traj.push(next);
    else if (x !== x0) x.dispose();
    x = next;
    times.push(i === steps - 1 ? t1 : t0 + (i + 1) * h);
  }
  let trajectory: Float32Array[] | undefined;
  if (traj) {
    x = keep(noGrad(() => unaryRaw('affine', x, 1, 0)));
    trajectory = [];
    for (const z of traj) {
      trajectory.push(await z.f32());
      z.dispose();
    }
  }
  return { x, nfe: steps, trajectory, times: traj ? times : undefined };
}
