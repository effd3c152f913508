/**
 * ODE sampling: integrate dx/dt = v(x, t) (DESIGN.md, "Sampling") with Euler, Midpoint, Heun, RK4
 * or an adaptive Dormand–Prince 5(4).
 *
 * A velocity field is `(x [N, D], t) => v [N, D]` with t a host number: it reaches kernels as a
 * uniform, so stepping needs no upload and no read-back (`timeAsTensor` adapts a model that wants
 * t as a tensor, filling it on the GPU). Every state update is one fused dispatch of
 * kernels/ode.wgsl; the updates never write in place, so a stage's slopes stay valid.
 *
 * Each step runs under `noGrad` and inside `tidy`: the stage inputs and slopes of a step are
 * released when it ends, and the previous state right after, so GPU memory stays flat however many
 * steps run (the buffer pool hands the same buffers back every step).
 *
 * Read-backs: the fixed-step solvers read nothing back inside the loop (`returnTrajectory` reads
 * the kept states after it). Dopri5 must decide on the host whether to accept a step and how to
 * change h, so it reads back one f32 per attempted step: the scaled RMS error norm
 *   ‖err‖ = √(mean_i (err_i / (atol + rtol·max(|x_i|, |x_new_i|)))²),   err = h·Σⱼ (b5ⱼ − b4ⱼ)·kⱼ,
 * reduced on the GPU (Hairer, Nørsett & Wanner I, II.4), plus two reads for the initial step size
 * (Hairer's heuristic, as scipy and torchdiffeq) unless `h0` is given.
 *
 * Integrating backwards (t0 > t1) works with every solver: h is then negative (the likelihood does
 * this, from t = 1 to 0).
 */
import odeSrc from '../../kernels/ode.wgsl';
import { noGrad } from '../autograd/tape.js';
import { FlowGpuError } from '../gpu/errors.js';
import { kernel, registerKernel, unaryRaw } from '../tensor/primitives.js';
import { empty, full, gpu, keep, run, tidy, type Tensor } from '../tensor/tensor.js';

registerKernel('ode', odeSrc);

const WG = 256;

/** dx/dt = v(x, t) for a state x [N, D]; returns a tensor of x's shape. */
export type VelocityField = (x: Tensor, t: number) => Tensor;

/** A fixed-step ODE solver: 'euler', 'midpoint', 'heun' or 'rk4'. */
export type FixedStepSolver = 'euler' | 'midpoint' | 'heun' | 'rk4';
/** An ODE solver: a fixed-step one or the adaptive 'dopri5'. */
export type SolverName = FixedStepSolver | 'dopri5';

/** Velocity evaluations per step of each fixed-step method. */
export const STAGES: Readonly<Record<FixedStepSolver, number>> = { euler: 1, midpoint: 2, heun: 2, rk4: 4 };

/**
 * Options of `sample`: solver (default euler), steps or NFE budget, time span (default 0 → 1),
 * dopri5 tolerances and trajectory output.
 */
export interface SampleOptions {
  /** Default 'euler'. */
  solver?: SolverName;
  /** Fixed-step solvers: number of steps (default 100, or nfe / stages when `nfe` is given). */
  steps?: number;
  /** Fixed-step solvers: a budget of velocity evaluations, turned into ⌊nfe / stages⌋ steps. */
  nfe?: number;
  /** Start and end time (default 0 → 1); t0 > t1 integrates backwards. */
  t0?: number;
  t1?: number;
  /** Dopri5 tolerances (default rtol 1e-5, atol 1e-5; f32 states make rtol below ~1e-6 moot). */
  rtol?: number;
  atol?: number;
  /** Dopri5: first step size magnitude (default: Hairer's heuristic, costing one evaluation). */
  h0?: number;
  /** Dopri5: give up with an error past this many evaluations (default 100 000). */
  maxNfe?: number;
  /** Return the state after every (accepted) step, starting with x0, read back to the host. */
  returnTrajectory?: boolean;
}

/**
 * The output of `sample`: the final state (caller-owned), evaluations, accepted and rejected steps,
 * and the optional trajectory.
 */
export interface SampleResult {
  /** The final state, owned by the caller (dispose it). */
  x: Tensor;
  /** Number of velocity-field evaluations. */
  nfe: number;
  /** Accepted steps. */
  steps: number;
  /** Dopri5: rejected steps. */
  rejected: number;
  /** With `returnTrajectory`: states at `times` (x0 first, the result last), [N·D] each. */
  trajectory?: Float32Array[];
  times?: number[];
}

/**
 * Adapts a model that takes the time as a tensor (`[N, 1]` column by default, or `[N]`) into a
 * VelocityField. The tensor is filled on the GPU from a uniform: nothing is uploaded per step.
 */
export function timeAsTensor(model: (x: Tensor, t: Tensor) => Tensor, layout: 'column' | 'vector' = 'column'): VelocityField {
  return (x, t) => model(x, full(layout === 'column' ? [x.shape[0], 1] : [x.shape[0]], t));
}

// ------------------------------------------------------------------ fused updates

function checkSame(x: Tensor, k: Tensor, what: string): void {
  if (k.size !== x.size || k.dtype !== 'f32') {
    throw new FlowGpuError(
      `${what}: the velocity field returned ${k.dtype}[${k.shape.join(', ')}] for a state [${x.shape.join(', ')}]; it must return f32 of the state's shape`,
    );
  }
}

type UpdateEntry = 'euler_step' | 'heun_step' | 'rk4_step' | 'rk_stage';
const SLOTS = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'];

/** y = cx·x + Σ cⱼ·kⱼ in one dispatch (the entry fixes how many slopes; cx = 1 except rk_stage). */
function update(entry: UpdateEntry, x: Tensor, ks: readonly Tensor[], coefs: readonly number[], cx = 1): Tensor {
  const y = empty(x.shape);
  if (x.size === 0) return y;
  const inputs: Record<string, Tensor> = { x };
  const slots = entry === 'rk_stage' ? 6 : ks.length;
  for (let j = 0; j < slots; j++) inputs[SLOTS[j]] = ks[j] ?? ks[0];
  run(kernel('ode'), entry, {
    inputs,
    outputs: { y },
    params: { n: x.size, count: ks.length, cx, c: [...coefs] },
    workgroups: gpu().grid(x.size, WG),
    label: entry,
  });
  return y;
}

/** y = cx·x + Σ cⱼ·kⱼ for up to six slopes (zero coefficients are skipped). */
function rkStage(x: Tensor, ks: readonly Tensor[], coefs: readonly number[], cx: number): Tensor {
  const kk: Tensor[] = [];
  const cc: number[] = [];
  ks.forEach((k, j) => {
    if (coefs[j] !== 0) {
      kk.push(k);
      cc.push(coefs[j]);
    }
  });
  if (kk.length === 0 || kk.length > 6) throw new FlowGpuError(`internal: rk_stage with ${kk.length} slopes`);
  return update('rk_stage', x, kk, cc, cx);
}

/**
 * One step of a fixed-step method from (x, t) with step h (negative integrates backwards). Returns
 * the new state; stage tensors are created in the caller's scope (wrap in `tidy`).
 */
export function odeStep(solver: FixedStepSolver, v: VelocityField, x: Tensor, t: number, h: number): Tensor {
  const f = (y: Tensor, s: number) => {
    const k = v(y, s);
    checkSame(x, k, solver);
    return k;
  };
  switch (solver) {
    case 'euler':
      return update('euler_step', x, [f(x, t)], [h]);
    case 'midpoint': {
      const k1 = f(x, t);
      const k2 = f(update('euler_step', x, [k1], [h / 2]), t + h / 2);
      return update('euler_step', x, [k2], [h]);
    }
    case 'heun': {
      const k1 = f(x, t);
      const k2 = f(update('euler_step', x, [k1], [h]), t + h);
      return update('heun_step', x, [k1, k2], [h / 2, h / 2]);
    }
    case 'rk4': {
      const k1 = f(x, t);
      const k2 = f(update('euler_step', x, [k1], [h / 2]), t + h / 2);
      const k3 = f(update('euler_step', x, [k2], [h / 2]), t + h / 2);
      const k4 = f(update('euler_step', x, [k3], [h]), t + h);
      return update('rk4_step', x, [k1, k2, k3, k4], [h / 6, h / 3, h / 3, h / 6]);
    }
    default:
      throw new FlowGpuError(`unknown fixed-step solver '${solver as string}': use euler, midpoint, heun or rk4`);
  }
}

const copyOf = (x: Tensor) => unaryRaw('affine', x, 1, 0);

function stepsFor(solver: FixedStepSolver, o: SampleOptions): number {
  const steps = o.steps ?? (o.nfe !== undefined ? Math.floor(o.nfe / STAGES[solver]) : 100);
  if (!Number.isInteger(steps) || steps < 1) {
    throw new FlowGpuError(
      `${solver}: steps must be a positive integer, got ${steps}` + (o.nfe !== undefined ? ` (nfe ${o.nfe} / ${STAGES[solver]} evaluations per step)` : ''),
    );
  }
  return steps;
}

/**
 * Fixed-step integration, synchronous and without any read-back. The trajectory (when asked)
 * stays on the GPU: x0's copy first, then the state after every step; the caller disposes it.
 */
export function integrateFixed(
  v: VelocityField,
  x0: Tensor,
  o: SampleOptions & { solver?: FixedStepSolver } = {},
): { x: Tensor; nfe: number; steps: number; trajectory?: Tensor[]; times: number[] } {
  const solver = (o.solver ?? 'euler') as FixedStepSolver;
  if (!(solver in STAGES)) throw new FlowGpuError(`unknown fixed-step solver '${solver}': use euler, midpoint, heun or rk4`);
  const steps = stepsFor(solver, o);
  const t0 = o.t0 ?? 0;
  const t1 = o.t1 ?? 1;
  const h = (t1 - t0) / steps;
  const traj: Tensor[] | undefined = o.returnTrajectory ? [keep(noGrad(() => copyOf(x0)))] : undefined;
  const times = [t0];
  let x = x0;
  for (let i = 0; i < steps; i++) {
    const t = i === 0 ? t0 : t0 + i * h;
    const next = keep(noGrad(() => tidy(() => odeStep(solver, v, x, t, h))));
    if (traj) traj.push(next);
    else if (x !== x0) x.dispose();
    x = next;
    times.push(i === steps - 1 ? t1 : t0 + (i + 1) * h);
  }
  if (traj) x = keep(noGrad(() => copyOf(x))); // the result is the caller's, apart from the trajectory
  return { x, nfe: steps * STAGES[solver], steps, trajectory: traj, times };
}

// ------------------------------------------------------------------ Dormand–Prince 5(4)

// Butcher tableau (Dormand & Prince 1980). Row 6 is the 5th-order weights b5: the 7th stage is
// evaluated at the new state (first same as last: it is the next step's first slope).
const DP_C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
const DP_A = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
const DP_B4 = [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40];
/** b5 − b4: the embedded error estimate's weights. */
const DP_E = [...DP_A[6], 0].map((b, j) => b - DP_B4[j]);

/** Writes ‖e / (atol + rtol·max(|xa|, |xb|))‖_RMS into out[slot] (two dispatches, GPU only). */
export function scaledRmsNorm(e: Tensor, xa: Tensor, xb: Tensor, atol: number, rtol: number, out: Tensor, slot = 0): void {
  const n = e.size;
  if (n === 0) throw new FlowGpuError('error norm of an empty state');
  const parts = Math.min(Math.ceil(n / WG), 256);
  const partial = empty([parts]);
  const fam = kernel('ode');
  run(fam, 'error_norm_partial', {
    inputs: { e, xa, xb },
    outputs: { partial },
    params: { n, parts, atol, rtol, slot: 0 },
    workgroups: [parts],
    label: 'error_norm_partial',
  });
  run(fam, 'error_norm_finish', {
    inputs: { pin: partial },
    outputs: { out },
    params: { n, parts, atol, rtol, slot },
    workgroups: [1],
    label: 'error_norm_finish',
  });
  partial.dispose();
}

async function readNorms(t: Tensor): Promise<Float32Array> {
  const v = await t.f32();
  t.dispose();
  return v;
}

async function dopri5(v: VelocityField, x0: Tensor, o: SampleOptions): Promise<SampleResult> {
  const t0 = o.t0 ?? 0;
  const t1 = o.t1 ?? 1;
  const rtol = o.rtol ?? 1e-5;
  const atol = o.atol ?? 1e-5;
  const maxNfe = o.maxNfe ?? 100_000;
  if (!(rtol > 0 || atol > 0) || rtol < 0 || atol < 0) throw new FlowGpuError(`dopri5: need rtol, atol ≥ 0, not both 0 (got ${rtol}, ${atol})`);
  const span = t1 - t0;
  const dir = Math.sign(span);
  const traj: Tensor[] | undefined = o.returnTrajectory ? [keep(noGrad(() => copyOf(x0)))] : undefined;
  const times = [t0];
  const f = (y: Tensor, s: number) => {
    const k = v(y, s);
    checkSame(x0, k, 'dopri5');
    // Slopes outlive their step (FSAL) and are disposed by the solver: never the state itself.
    return k === y ? copyOf(k) : k;
  };
  if (span === 0) return { x: keep(noGrad(() => copyOf(x0))), nfe: 0, steps: 0, rejected: 0, trajectory: await hostTrajectory(traj), times };

  let nfe = 1;
  let k1 = keep(noGrad(() => tidy(() => f(x0, t0))));
  let absH: number;
  if (o.h0 !== undefined) absH = Math.min(Math.abs(o.h0), Math.abs(span));
  else {
    // Hairer, Nørsett & Wanner I, II.4 ("starting step size"): h0 = 0.01·‖x0‖/‖f0‖, one explicit
    // Euler step to estimate the second derivative, then h = min(100·h0, (0.01/max(‖f0‖, ‖f''‖))^⅕).
    const d01 = noGrad(() => {
      const out = empty([2]);
      scaledNorm2(x0, x0, out, 0, atol, rtol);
      scaledNorm2(k1, x0, out, 1, atol, rtol);
      return keep(out);
    });
    const [d0, d1] = await readNorms(d01);
    let h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * (d0 / d1);
    h0 = Math.min(h0, Math.abs(span));
    const d2t = noGrad(() =>
      keep(
        tidy(() => {
          const x1 = update('euler_step', x0, [k1], [dir * h0]);
          const f1 = f(x1, t0 + dir * h0);
          const diff = rkStage(x0, [f1, k1], [1 / h0, -1 / h0], 0);
          const out = empty([1]);
          scaledNorm2(diff, x0, out, 0, atol, rtol);
          return out;
        }),
      ),
    );
    nfe++;
    const [d2] = await readNorms(d2t);
    const m = Math.max(d1, d2);
    const h1 = m <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : (0.01 / m) ** (1 / 5);
    absH = Math.min(100 * h0, h1, Math.abs(span));
  }

  let x = x0;
  let t = t0;
  let steps = 0;
  let rejected = 0;
  const tiny = 1e-12 * Math.max(1, Math.abs(t0), Math.abs(t1));
  while (dir * (t1 - t) > tiny) {
    if (nfe + 6 > maxNfe) {
      for (const z of [k1, ...(x !== x0 ? [x] : [])]) z.dispose();
      traj?.forEach((z) => z.dispose());
      throw new FlowGpuError(`dopri5: more than ${maxNfe} velocity evaluations (t = ${t}, h = ${absH}); loosen rtol/atol or raise maxNfe`);
    }
    const last = absH >= dir * (t1 - t) - tiny;
    const h = last ? t1 - t : dir * absH;
    const xc = x;
    const kc = k1;
    const attempt = noGrad(() =>
      tidy(() => {
        const ks = [kc];
        let xNew = xc;
        for (let i = 1; i < 7; i++) {
          const y = rkStage(xc, ks, DP_A[i].map((a) => a * h), 1);
          ks.push(f(y, i === 6 ? t + h : t + DP_C[i] * h));
          if (i === 6) xNew = y;
        }
        const err = rkStage(xc, ks, DP_E.map((e) => e * h), 0);
        const norm = empty([1]);
        scaledRmsNorm(err, xc, xNew, atol, rtol, norm);
        return { xNew, k7: ks[6], norm };
      }),
    );
    keep([attempt.xNew, attempt.k7, attempt.norm]);
    nfe += 6;
    const [err] = await readNorms(attempt.norm); // the one read-back of the step
    const ok = err <= 1;
    if (ok) {
      t = last ? t1 : t + h;
      if (traj) traj.push(attempt.xNew);
      else if (x !== x0) x.dispose();
      x = attempt.xNew;
      k1.dispose();
      k1 = attempt.k7;
      times.push(t);
      steps++;
    } else {
      attempt.xNew.dispose();
      attempt.k7.dispose();
      rejected++;
    }
    // Standard controller: h ← h·clamp(0.9·err^(−1/5), 0.2, 10), never growing after a rejection.
    let factor = Number.isFinite(err) ? (err === 0 ? 10 : Math.min(10, Math.max(0.2, 0.9 * err ** -0.2))) : 0.2;
    if (!ok) factor = Math.min(factor, 1);
    absH = Math.abs(h) * factor;
    if (absH <= 16 * Number.EPSILON * Math.max(1, Math.abs(t))) {
      for (const z of [k1, ...(x !== x0 ? [x] : [])]) z.dispose();
      traj?.forEach((z) => z.dispose());
      throw new FlowGpuError(`dopri5: step size underflow at t = ${t} (error norm ${err}); the field may be non-finite or stiff`);
    }
  }
  k1.dispose();
  if (traj || x === x0) x = keep(noGrad(() => copyOf(x)));
  return { x, nfe, steps, rejected, trajectory: await hostTrajectory(traj), times: traj ? times : undefined };
}

/** ‖e / (atol + rtol·|x|)‖_RMS into out[slot]. */
function scaledNorm2(e: Tensor, x: Tensor, out: Tensor, slot: number, atol: number, rtol: number): void {
  scaledRmsNorm(e, x, x, atol, rtol, out, slot);
}

async function hostTrajectory(traj: Tensor[] | undefined): Promise<Float32Array[] | undefined> {
  if (!traj) return undefined;
  const out: Float32Array[] = [];
  for (const z of traj) {
    out.push(await z.f32());
    z.dispose();
  }
  return out;
}

// ------------------------------------------------------------------ entry point

/**
 * Integrates dx/dt = v(x, t) from t0 to t1 (default 0 → 1) starting at x0 (not modified).
 * `solver` picks Euler, Midpoint, Heun, RK4 (fixed steps: `steps`, or an `nfe` budget) or dopri5
 * (adaptive: `rtol`, `atol`; reports its number of evaluations).
 */
export async function sample(v: VelocityField, x0: Tensor, o: SampleOptions = {}): Promise<SampleResult> {
  const solver = o.solver ?? 'euler';
  if (solver === 'dopri5') return dopri5(v, x0, o);
  const r = integrateFixed(v, x0, { ...o, solver });
  return {
    x: r.x,
    nfe: r.nfe,
    steps: r.steps,
    rejected: 0,
    trajectory: await hostTrajectory(r.trajectory),
    times: o.returnTrajectory ? r.times : undefined,
  };
}
