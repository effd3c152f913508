import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowGpuError, mul, raw, sample, tensor, timeAsTensor, type SolverName, type Tensor, type VelocityField } from '../src/internal.js';
import { expectClose, Rng, useGpu } from './helpers.js';

const { gpu } = useGpu();

// Test problem: a damped rotation with a time-dependent rate, dx/dt = (1 + t)·(−λI + ωJ)·x for
// x = (x, y), J = [[0, 1], [−1, 0]]. With φ(t) = t + t²/2 the exact solution is
//   x(t) = e^(−λφ)·R(ωφ)·x(0),  R(θ) = [[cos θ, sin θ], [−sin θ, cos θ]].
// It is non-autonomous (a solver that evaluates a stage at the wrong time loses its order) and
// its errors stay far above f32 rounding at the step counts used below.
const LAM = 0.5;
const OM = 3;

function exactAt(x0: Float64Array, t: number): Float64Array {
  const phi = t + (t * t) / 2;
  const d = Math.exp(-LAM * phi);
  const c = Math.cos(OM * phi);
  const s = Math.sin(OM * phi);
  const out = new Float64Array(x0.length);
  for (let i = 0; i < x0.length; i += 2) {
    out[i] = d * (c * x0[i] + s * x0[i + 1]);
    out[i + 1] = d * (-s * x0[i] + c * x0[i + 1]);
  }
  return out;
}

// Rows are points; v = (1 + t)·x·Aᵀ with A = −λI + ωJ, so the right factor is Aᵀ.
let At: Tensor;
const rotation: VelocityField = (x, t) => raw.unaryRaw('affine', raw.matmulRaw(x, At), 1 + t, 0);

// The same schemes in float64 on the CPU, written from their textbook definitions.
function f64(x: Float64Array, t: number): Float64Array {
  const o = new Float64Array(x.length);
  for (let i = 0; i < x.length; i += 2) {
    o[i] = (1 + t) * (-LAM * x[i] + OM * x[i + 1]);
    o[i + 1] = (1 + t) * (-OM * x[i] - LAM * x[i + 1]);
  }
  return o;
}
const axpy = (x: Float64Array, ...terms: [number, Float64Array][]) =>
  x.map((v, i) => terms.reduce((s, [c, k]) => s + c * k[i], v));
function refSolve(m: string, x0: Float64Array, steps: number, t0 = 0, t1 = 1): Float64Array {
  const h = (t1 - t0) / steps;
  let x = x0;
  for (let i = 0; i < steps; i++) {
    const t = t0 + i * h;
    const k1 = f64(x, t);
    if (m === 'euler') x = axpy(x, [h, k1]);
    else if (m === 'midpoint') x = axpy(x, [h, f64(axpy(x, [h / 2, k1]), t + h / 2)]);
    else if (m === 'heun') x = axpy(x, [h / 2, k1], [h / 2, f64(axpy(x, [h, k1]), t + h)]);
    else {
      const k2 = f64(axpy(x, [h / 2, k1]), t + h / 2);
      const k3 = f64(axpy(x, [h / 2, k2]), t + h / 2);
      const k4 = f64(axpy(x, [h, k3]), t + h);
      x = axpy(x, [h / 6, k1], [h / 3, k2], [h / 3, k3], [h / 6, k4]);
    }
  }
  return x;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Least-squares slope of log(err) against log(h). */
function slope(hs: number[], errs: number[]): number {
  const xs = hs.map(Math.log);
  const ys = errs.map(Math.log);
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i] - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

const N = 32;
const rng = new Rng(11);
const X0 = rng.array(2 * N);
let x0: Tensor;

beforeAll(() => {
  const a = [
    [-LAM, OM],
    [-OM, -LAM],
  ];
  At = tensor([a[0][0], a[1][0], a[0][1], a[1][1]], [2, 2]);
  x0 = tensor(Float32Array.from(X0), [N, 2]);
});
afterAll(() => {
  At?.dispose();
  x0?.dispose();
});

async function solveGpu(solver: SolverName, steps: number, opts: Record<string, number> = {}) {
  const r = await sample(rotation, x0, { solver, steps, ...opts });
  const x = await r.x.f32();
  r.x.dispose();
  return { x, nfe: r.nfe, steps: r.steps };
}

describe('fixed-step solvers', () => {
  // Step counts where the error is in its asymptotic regime and ≫ f32 rounding. Measured max
  // errors over the 32 points at the finest step: RK4 (32 steps) 2.3e-5, midpoint / Heun (128)
  // 1.3e-3 / 1.2e-3, Euler (256) 5.3e-2.
  const cases: [SolverName, number[], number][] = [
    ['euler', [32, 64, 128, 256], 1],
    ['midpoint', [16, 32, 64, 128], 2],
    ['heun', [16, 32, 64, 128], 2],
    ['rk4', [8, 16, 32], 4],
  ];
  for (const [solver, stepCounts, order] of cases) {
    it(`${solver} converges with order ≈ ${order} and matches the float64 scheme`, async () => {
      const exact = exactAt(X0, 1);
      const errs: number[] = [];
      for (const steps of stepCounts) {
        const { x, nfe } = await solveGpu(solver, steps);
        expect(nfe).toBe(steps * { euler: 1, midpoint: 2, heun: 2, rk4: 4 }[solver as 'euler']);
        // Same scheme in float64: only f32 rounding separates them. Roundings of relative size
        // 2⁻²⁴ on values ≲ 3 add up like a damped random walk (measured ≤ 6.4e-7 at every step
        // count here); 4e-6 is 6× that and still below the smallest discretisation error (2.3e-5),
        // so a wrong tableau cannot hide inside the bound.
        expectClose(x, refSolve(solver, X0, steps), { rtol: 0, atol: 4e-6 }, `${solver} ${steps} steps vs float64`);
        errs.push(maxAbsDiff(x, exact));
      }
      const p = slope(stepCounts.map((s) => 1 / s), errs);
      // Higher-order error terms shift the fitted slope by a few percent (measured: Euler 1.08,
      // midpoint 2.03, Heun 2.05, RK4 4.15); ±0.3 still tells every order from its neighbours.
      expect(p, `${solver} errors ${errs.map((e) => e.toExponential(2)).join(', ')}`).toBeGreaterThan(order - 0.3);
      expect(p, `${solver} errors ${errs.map((e) => e.toExponential(2)).join(', ')}`).toBeLessThan(order + 0.3);
    });
  }

  it('integrates backwards (t0 > t1) to the initial condition', async () => {
    const x1 = tensor(Float32Array.from(exactAt(X0, 1)), [N, 2]);
    for (const [solver, steps] of [['rk4', 64], ['heun', 256]] as const) {
      const r = await sample(rotation, x1, { solver, steps, t0: 1, t1: 0 });
      // RK4 at 64 steps: discretisation ≈ 1e-6 (float64 forward run), 1e-4 allows f32 rounding
      // growing by e^(0.75) backwards; Heun at 256 steps: ≈ 1.4e-4 forwards, bound 1e-3.
      expectClose(await r.x.f32(), X0, { rtol: 0, atol: solver === 'rk4' ? 1e-4 : 1e-3 }, `${solver} backwards`);
      r.x.dispose();
    }
    const d = await sample(rotation, x1, { solver: 'dopri5', t0: 1, t1: 0, rtol: 1e-5, atol: 1e-7 });
    // rtol 1e-5 per step, amplified by at most e^0.75 ≈ 2.1 backwards over [0, 1].
    expectClose(await d.x.f32(), X0, { rtol: 0, atol: 2e-4 }, 'dopri5 backwards');
    d.x.dispose();
    x1.dispose();
  });

  it('takes ⌊nfe / stages⌋ steps when given an evaluation budget', async () => {
    const a = await solveGpu('heun', 10);
    const b = await sample(rotation, x0, { solver: 'heun', nfe: 21 });
    expect(b.steps).toBe(10);
    expect(b.nfe).toBe(20);
    expect([...(await b.x.f32())]).toEqual([...a.x]);
    b.x.dispose();
    await expect(sample(rotation, x0, { solver: 'rk4', nfe: 3 })).rejects.toThrow(FlowGpuError);
  });

  it('returns the trajectory with x0 first and the result last', async () => {
    const r = await sample(rotation, x0, { solver: 'midpoint', steps: 5, returnTrajectory: true });
    expect(r.trajectory).toHaveLength(6);
    expect(r.times).toHaveLength(6);
    r.times!.forEach((t, i) => expect(t).toBeCloseTo(i / 5, 12));
    expect(r.times![5]).toBe(1);
    for (const s of r.trajectory!) expect(s.length).toBe(2 * N);
    expect([...r.trajectory![0]]).toEqual([...Float32Array.from(X0)]);
    expect([...r.trajectory![5]]).toEqual([...(await r.x.f32())]);
    // Every intermediate state is the float64 scheme's state at that time.
    for (let i = 1; i <= 5; i++) {
      expectClose(r.trajectory![i], refSolve('midpoint', X0, i, 0, i / 5), { rtol: 0, atol: 1e-5 }, `trajectory[${i}]`);
    }
    r.x.dispose();
  });

  it('leaves x0 untouched, keeps memory flat over 1000 steps and reads nothing back', async () => {
    const g = gpu();
    const warm = await sample(rotation, x0, { solver: 'heun', steps: 10 });
    warm.x.dispose();
    const inUse = g.stats.buffersInUse;
    const created = g.stats.buffersCreated;
    const reads = g.stats.readbacks;
    const r = await sample(rotation, x0, { solver: 'heun', steps: 1000 });
    // After a warm-up run the pool serves every step: no new GPU buffer however many steps, and
    // the only tensor left is the result.
    expect(g.stats.buffersCreated - created).toBe(0);
    expect(g.stats.buffersInUse - inUse).toBe(1);
    expect(g.stats.readbacks - reads).toBe(0);
    r.x.dispose();
    expect(g.stats.buffersInUse).toBe(inUse);
    expect([...(await x0.f32())]).toEqual([...Float32Array.from(X0)]);
  });

  it('passes t as a GPU-filled tensor to models that want one', async () => {
    // dx/dt = t·x ⇒ x(1) = e^(1/2)·x(0); RK4 with 16 steps is exact to ~1e-8 relative here.
    const v = timeAsTensor((x, t) => mul(x, t));
    const r = await sample(v, x0, { solver: 'rk4', steps: 16 });
    expectClose(await r.x.f32(), Array.from(X0, (x) => x * Math.exp(0.5)), { rtol: 1e-5, atol: 1e-6 }, 'dx/dt = t·x');
    r.x.dispose();
  });

  it('rejects a field that returns the wrong shape', async () => {
    const bad: VelocityField = (x) => raw.sliceRaw(x, [0, 0], [x.shape[0], 1]);
    await expect(sample(bad, x0, { solver: 'euler', steps: 2 })).rejects.toThrow(/must return f32 of the state's shape/);
  });
});

describe('dopri5', () => {
  it('keeps the global error within 10× rtol and spends more evaluations as rtol shrinks', async () => {
    const exact = exactAt(X0, 1);
    const scale = Math.max(...exact.map(Math.abs));
    let prevNfe = 0;
    const log: string[] = [];
    for (const rtol of [1e-2, 1e-3, 1e-4, 1e-5]) {
      // atol well below rtol·|x| so the relative tolerance governs.
      const r = await sample(rotation, x0, { solver: 'dopri5', rtol, atol: rtol * 1e-3 });
      const x = await r.x.f32();
      r.x.dispose();
      const err = maxAbsDiff(x, exact) / scale;
      log.push(`rtol ${rtol}: err ${err.toExponential(2)}, nfe ${r.nfe}, steps ${r.steps}, rejected ${r.rejected}`);
      // Local error per unit step ≤ rtol; over a unit interval the global error is of the same
      // order (Hairer–Nørsett–Wanner I, II.4). Measured 1.7, 1.2, 1.1, 0.7 × rtol; 10× leaves
      // room for accumulation.
      expect(err, log.join('; ')).toBeLessThan(10 * rtol);
      expect(r.nfe, log.join('; ')).toBeGreaterThan(prevNfe);
      // FSAL: 6 evaluations per attempted step, plus the first slope and the one spent on h0.
      expect(r.nfe).toBe(6 * (r.steps + r.rejected) + 2);
      prevNfe = r.nfe;
    }
  });

  it('handles a field that returns its own input (dx/dt = x) without disposing the caller\'s x0', async () => {
    const r = await sample((x) => x, x0, { solver: 'dopri5', rtol: 1e-6, atol: 1e-7 });
    // x(1) = e·x0; dopri5 at rtol 1e-6 plus f32 rounding: 1e-5 relative.
    expectClose(await r.x.f32(), Array.from(X0, (v) => Math.E * v), { rtol: 1e-5, atol: 1e-6 }, 'dx/dt = x');
    expect([...(await x0.f32())]).toEqual([...Float32Array.from(X0)]);
    r.x.dispose();
  });

  it('reads back exactly one value per attempted step (plus two for the initial step size)', async () => {
    const g = gpu();
    const reads = g.stats.readbacks;
    const r = await sample(rotation, x0, { solver: 'dopri5', rtol: 1e-4, atol: 1e-7 });
    expect(g.stats.readbacks - reads).toBe(r.steps + r.rejected + 2);
    r.x.dispose();
  });

  it('returns its accepted states and their times', async () => {
    const r = await sample(rotation, x0, { solver: 'dopri5', rtol: 1e-3, atol: 1e-6, returnTrajectory: true });
    expect(r.trajectory).toHaveLength(r.steps + 1);
    expect(r.times).toHaveLength(r.steps + 1);
    expect(r.times![0]).toBe(0);
    expect(r.times![r.steps]).toBe(1);
    for (let i = 1; i < r.times!.length; i++) {
      expect(r.times![i]).toBeGreaterThan(r.times![i - 1]);
      // each accepted state is close to the exact solution at its time (error ≲ 10·rtol)
      const want = exactAt(X0, r.times![i]);
      expect(maxAbsDiff(r.trajectory![i], want)).toBeLessThan(1e-2);
    }
    r.x.dispose();
  });
});
