import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  emStep, normalsCpu, randNormal, raw, sample, sampleSDE, sdeDriftCoefficients, STREAM, tensor, tidy, uniformsCpu,
  type SolverName, type Tensor, type VelocityField,
} from '../src/internal.js';
import { noise } from '../src/flow/sde.js';
import { condOT, cosine, type Scheduler } from '../src/flow/schedulers.js';
import { expectClose, Rng, useGpu } from './helpers.js';

useGpu();

// ------------------------------------------------------------------ noise

// The SDE family draws from the shared generator (kernels/random.wgsl, tested bit for bit against
// Random123 in test/random.test.ts); these tests check that its draws are that generator's for the
// same counters (seed, step, element index, stream).

/** Sign of u − ½, the Rademacher value the shared uniform u gives. */
const signOf = (u: number) => (u > 0.5 ? 1 : -1);

describe('SDE noise from the shared generator', () => {
  const seed = 2 ** 32 + 5; // uses both key words

  it('the Euler–Maruyama noise of (seed, step, stream) is randNormal(shape, {seed, step, stream})', async () => {
    const n = 1003; // not a multiple of 4: the last Philox call is partly used
    const r = new Rng(8);
    const X = Float32Array.from(r.array(n));
    const V = Float32Array.from(r.array(n));
    const [h, cv, cx, gs] = [0.05, 1.3, -0.7, 0.4];
    const { y, z, other } = tidy(() => {
      const x = tensor(X, [n]);
      const v = tensor(V, [n]);
      return {
        y: emStep(x, v, h, cv, cx, gs, seed, 9, STREAM.user + 1),
        z: randNormal([n], { seed, step: 9, stream: STREAM.user + 1 }),
        other: emStep(x, v, h, cv, cx, gs, seed, 10, STREAM.user + 1),
      };
    });
    const [yh, zh, oh] = await Promise.all([y.f32(), z.f32(), other.f32()]);
    [y, z, other].forEach((t) => t.dispose());
    // float64 reference of x + h·(cv·v + cx·x) + gs·ξ with ξ the shared generator's normals read
    // back: values are O(3), so a few f32 roundings (and any contraction into fma) stay below 1e-5;
    // noise of another counter would be off by gs·O(1).
    let worst = 0;
    let moved = 0;
    for (let i = 0; i < n; i++) {
      const drift = X[i] + h * (cv * V[i] + cx * X[i]);
      worst = Math.max(worst, Math.abs(yh[i] - (drift + gs * zh[i])));
      if (Math.abs(oh[i] - yh[i]) > 1e-3) moved++;
    }
    expect(worst).toBeLessThan(1e-5);
    // The step word is used: another step gives other noise nearly everywhere.
    expect(moved).toBeGreaterThan(0.99 * n);
  });

  it('sampleSDE draws step i of its noise at counter (seed, i, STREAM.sde)', async () => {
    // v ≡ 0 from x = 0 with g = w constant: x_{i+1} = x_i + h·cx_i·x_i + w·√h·ξ_i, a recursion the
    // host can follow in float64 from the shared generator's normals. Values are O(1): f32 rounding
    // over 3 steps stays below 1e-5.
    const sched = condOT();
    const [n, steps, w] = [41, 3, 0.8];
    const zeroField: VelocityField = (x) => raw.unaryRaw('affine', x, 0, 0);
    const start = tensor(new Float32Array(n), [n]);
    const r = await sampleSDE(zeroField, start, { steps, seed, scheduler: sched, diffusion: { kind: 'constant', w } });
    const got = await r.x.f32();
    r.x.dispose();
    start.dispose();
    const h = 1 / steps;
    const want = new Float64Array(n);
    for (let i = 0; i < steps; i++) {
      const { cx } = sdeDriftCoefficients(sched, i * h, w);
      const xi = tidy(() => randNormal([n], { seed, step: i, stream: STREAM.sde }));
      const z = await xi.f32();
      xi.dispose();
      for (let e = 0; e < n; e++) want[e] = want[e] + h * cx * want[e] + w * Math.sqrt(h) * z[e];
    }
    let worst = 0;
    got.forEach((q, e) => (worst = Math.max(worst, Math.abs(q - want[e]))));
    expect(worst).toBeLessThan(1e-5);
  });

  it('uniform and Rademacher noise are the shared uniforms bit for bit; normals are randNormal', async () => {
    const n = 1 << 15;
    const o = { seed, step: 7, stream: STREAM.user + 3 };
    const { u, z, rad, z2 } = tidy(() => ({
      u: noise([n], 'uniform', o),
      z: noise([n], 'normal', o),
      rad: noise([n], 'rademacher', o),
      z2: noise([n], 'normal', { ...o, stream: STREAM.user + 4 }),
    }));
    const [uh, zh, rh, z2h] = await Promise.all([u.f32(), z.f32(), rad.f32(), z2.f32()]);
    [u, z, rad, z2].forEach((t) => t.dispose());
    // Exact: every step of the shared u01 is exact in f32 (kernels/random.wgsl).
    const uw = uniformsCpu(n, o.seed, o.step, o.stream);
    expect(Array.from(uh)).toEqual(Array.from(uw, Math.fround));
    expect(Array.from(rh)).toEqual(Array.from(uw, signOf));
    // The shared normal transform (Box–Muller of the same words): the bounds of test/random.test.ts,
    // from WGSL's accuracy rules (≤ 5e-3 per element in the worst case, 1e-4 on average).
    const zw = normalsCpu(n, o.seed, o.step, o.stream);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.abs(zh[i] - zw[i]);
      expect(e, `element ${i}`).toBeLessThan(5e-3);
      sum += e;
    }
    expect(sum / n).toBeLessThan(1e-4);
    // Moments at 5 standard errors (a false failure has probability < 1e-6 per check).
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    const variance = (a: Float32Array) => {
      const m = mean(a);
      return a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1);
    };
    expect(Math.abs(mean(uh) - 0.5)).toBeLessThan((5 * Math.sqrt(1 / 12)) / Math.sqrt(n));
    expect(Math.abs(mean(zh))).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(variance(zh) - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(mean(rh))).toBeLessThan(5 / Math.sqrt(n));
    // Kolmogorov–Smirnov distance to Φ: the 0.1% critical value is 1.95/√n.
    const sorted = Float64Array.from(zh).sort();
    let ks = 0;
    sorted.forEach((v, i) => {
      const cdf = 0.5 * (1 + erf(v / Math.SQRT2));
      ks = Math.max(ks, Math.abs(cdf - i / n), Math.abs(cdf - (i + 1) / n));
    });
    expect(ks).toBeLessThan(1.95 / Math.sqrt(n));
    // Another stream gives independent values: their correlation is within 5/√n of 0.
    let c = 0;
    for (let i = 0; i < n; i++) c += zh[i] * z2h[i];
    expect(Math.abs(c / n)).toBeLessThan(5 / Math.sqrt(n));
  });
});

/** erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

// ------------------------------------------------------------------ Gaussian data

// Data q = N(μ, diag(s²)) in D = 2. For an affine path x_t = α_t·x1 + σ_t·x0 the marginal p_t is
// N(α_t·μ, diag(σ_t² + α_t²·s²)) and the exact marginal velocity is, per dimension,
//   v(x, t) = α̇_t·μ + (d/dt log std_t)·(x − α_t·μ),  d/dt log std_t = (σσ̇ + αα̇·s²)/std_t²,
// whose flow maps x0 to x1 = μ + s·x0. Its exact score is −(x − α_t·μ)/std_t².
const MU = [1.5, -0.5];
const S = [0.5, 0.8];
const D = 2;
const NPTS = 8192;

function gaussianField(sched: Scheduler): { v: VelocityField; coef: (t: number, d: number) => { a: number; b: number; mean: number; var: number } } {
  const coef = (t: number, d: number) => {
    const al = sched.alpha(t);
    const si = sched.sigma(t);
    const dal = sched.dAlpha(t);
    const dsi = sched.dSigma(t);
    const vr = si * si + al * al * S[d] * S[d];
    const a = (si * dsi + al * dal * S[d] * S[d]) / vr;
    return { a, b: dal * MU[d] - a * al * MU[d], mean: al * MU[d], var: vr };
  };
  const v: VelocityField = (x, t) => {
    const c = [0, 1].map((d) => coef(t, d));
    const A = tensor(c.map((q) => q.a), [1, D]);
    const B = tensor(c.map((q) => q.b), [1, D]);
    return raw.binaryRaw('add', raw.binaryRaw('mul', x, A), B);
  };
  return { v, coef };
}

const rng = new Rng(5);
const X0 = rng.array(NPTS * D);
let x0: Tensor;
beforeAll(() => {
  x0 = tensor(Float32Array.from(X0), [NPTS, D]);
});
afterAll(() => x0?.dispose());

function moments(x: Float32Array, d: number): { mean: number; var: number } {
  let m = 0;
  for (let i = d; i < x.length; i += D) m += x[i];
  m /= x.length / D;
  let v = 0;
  for (let i = d; i < x.length; i += D) v += (x[i] - m) ** 2;
  return { mean: m, var: v / (x.length / D - 1) };
}

describe('ODE samplers on Gaussian data', () => {
  // Per-point bound err ≤ tol·(1 + |x0|): the field is linear, so each solver's error grows with
  // |x0|. Measured max err/(1 + |x0|): Euler (200 steps) 4.2e-3, midpoint (50) 1.0e-6, Heun (50)
  // 7.4e-5, RK4 (20) 4.3e-7 (mostly f32 rounding on values up to ~5), dopri5 (rtol 1e-5) 3.5e-6;
  // the bounds leave a 2–5× margin.
  const cases: [SolverName, Record<string, number>, number][] = [
    ['euler', { steps: 200 }, 1e-2],
    ['midpoint', { steps: 50 }, 2e-4],
    ['heun', { steps: 50 }, 2e-4],
    ['rk4', { steps: 20 }, 2e-6],
    ['dopri5', { rtol: 1e-5, atol: 1e-6 }, 2e-5],
  ];
  for (const [solver, opts, tol] of cases) {
    it(`${solver} maps N(0, I) onto N(μ, s²): each point to μ + s·x0, and the moments match`, async () => {
      const { v } = gaussianField(condOT());
      const r = await sample(v, x0, { solver, ...opts });
      const x = await r.x.f32();
      r.x.dispose();
      let worst = 0;
      x.forEach((q, i) => {
        const want = MU[i % D] + S[i % D] * X0[i];
        worst = Math.max(worst, Math.abs(q - want) / (1 + Math.abs(X0[i])));
      });
      expect(worst, `${solver}: max |x1 − (μ + s·x0)| / (1 + |x0|)`).toBeLessThan(tol);
      // So each point is within b = tol·(1 + max|x0|) of μ + s·x0, and x0 is a sample of N(0, I):
      // the moments match μ and s² within 5 standard errors (s/√N and s²·√(2/(N−1))) plus what
      // b can move them (b for the mean, 2·s·b + b² for the variance).
      const b = tol * (1 + Math.max(...X0.map(Math.abs)));
      for (let d = 0; d < D; d++) {
        const m = moments(x, d);
        expect(Math.abs(m.mean - MU[d])).toBeLessThan((5 * S[d]) / Math.sqrt(NPTS) + b);
        expect(Math.abs(m.var - S[d] ** 2)).toBeLessThan(5 * S[d] ** 2 * Math.sqrt(2 / (NPTS - 1)) + 2 * S[d] * b + b * b);
      }
    });
  }
});

describe('Euler–Maruyama SDE sampling with the score from the velocity', () => {
  // Reference: the same Euler–Maruyama recursion on the moments, in float64, with the analytic
  // score −(x − α_t·μ)/std_t² (not Tweedie's formula, which the sampler uses): per dimension
  //   m ← m + h·(c·m + e),  V ← (1 + h·c)²·V + g²·h,
  // where drift = v + ½g²·score = c·x + e. The chain is linear-Gaussian, so the final samples are
  // exactly N(m_K, V_K) and sample moments fall within 5 standard errors: √(V_K/N) for the mean and
  // V_K·√(2/(N−1)) for the variance.
  function emMoments(sched: Scheduler, steps: number, g: (t: number) => number, d: number) {
    const { coef } = gaussianField(sched);
    const h = 1 / steps;
    let m = 0;
    let V = 1;
    for (let k = 0; k < steps; k++) {
      const t = k * h;
      const q = coef(t, d);
      const gg = g(t) ** 2;
      const c = q.a - (0.5 * gg) / q.var;
      const e = q.b + (0.5 * gg * q.mean) / q.var;
      m = m + h * (c * m + e);
      V = (1 + h * c) ** 2 * V + gg * h;
    }
    return { mean: m, var: V };
  }

  const runs: [string, Scheduler, { kind: 'sigma' | 'constant'; w: number }, number][] = [
    ['CondOT, g = σ_t', condOT(), { kind: 'sigma', w: 1 }, 200],
    ['CondOT, g = 0.3 constant', condOT(), { kind: 'constant', w: 0.3 }, 200],
    ['cosine, g = 1.5·σ_t', cosine(), { kind: 'sigma', w: 1.5 }, 200],
  ];
  for (const [name, sched, diffusion, steps] of runs) {
    it(`${name}: samples have the moments of the discretised SDE and of N(μ, s²)`, async () => {
      const { v } = gaussianField(sched);
      const g = diffusion.kind === 'sigma' ? (t: number) => diffusion.w * sched.sigma(t) : () => diffusion.w;
      const r = await sampleSDE(v, x0, { scheduler: sched, steps, diffusion, seed: 42 });
      expect(r.nfe).toBe(steps);
      const x = await r.x.f32();
      r.x.dispose();
      for (let d = 0; d < D; d++) {
        const got = moments(x, d);
        const em = emMoments(sched, steps, g, d);
        const seMean = Math.sqrt(em.var / NPTS);
        const seVar = em.var * Math.sqrt(2 / (NPTS - 1));
        expect(Math.abs(got.mean - em.mean), `dim ${d} mean ${got.mean} vs EM ${em.mean}`).toBeLessThan(5 * seMean);
        expect(Math.abs(got.var - em.var), `dim ${d} var ${got.var} vs EM ${em.var}`).toBeLessThan(5 * seVar);
        // The discretisation bias of 200 Euler–Maruyama steps (computed above, exactly) is
        // small: the sampler targets N(μ, s²).
        expect(Math.abs(em.mean - MU[d])).toBeLessThan(0.02);
        expect(Math.abs(em.var - S[d] ** 2) / S[d] ** 2).toBeLessThan(0.05);
        expect(Math.abs(got.mean - MU[d])).toBeLessThan(5 * seMean + 0.02);
        expect(Math.abs(got.var - S[d] ** 2)).toBeLessThan(5 * seVar + 0.05 * S[d] ** 2);
      }
    });
  }

  it('is stochastic, reproducible from its seed, and g = 0 is the Euler ODE sampler', async () => {
    const { v } = gaussianField(condOT());
    const small = raw.sliceRaw(x0, [0, 0], [64, D]);
    const a = await sampleSDE(v, small, { steps: 20, seed: 1 });
    const b = await sampleSDE(v, small, { steps: 20, seed: 1 });
    const c = await sampleSDE(v, small, { steps: 20, seed: 2 });
    const z = await sampleSDE(v, small, { steps: 20, diffusion: 0, seed: 3 });
    const e = await sample(v, small, { solver: 'euler', steps: 20 });
    const [ah, bh, ch, zh, eh] = await Promise.all([a.x, b.x, c.x, z.x, e.x].map((t) => t.f32()));
    expect([...ah]).toEqual([...bh]);
    expect(Math.max(...ah.map((q, i) => Math.abs(q - ch[i])))).toBeGreaterThan(1e-2);
    // The same Euler step up to the order of f32 operations (x + h·v vs x + h·(1·v + 0·x)).
    expectClose(zh, eh, { rtol: 1e-6, atol: 1e-6 }, 'g = 0 vs Euler');
    [a.x, b.x, c.x, z.x, e.x, small].forEach((t) => t.dispose());
  });

  it('returns its trajectory and refuses to run backwards', async () => {
    const { v } = gaussianField(condOT());
    const small = raw.sliceRaw(x0, [0, 0], [8, D]);
    const r = await sampleSDE(v, small, { steps: 4, returnTrajectory: true });
    expect(r.trajectory).toHaveLength(5);
    expect(r.times).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect([...r.trajectory![4]]).toEqual([...(await r.x.f32())]);
    expect([...r.trajectory![0]]).toEqual([...(await small.f32())]);
    await expect(sampleSDE(v, small, { t0: 1, t1: 0 })).rejects.toThrow(/t0 < t1/);
    r.x.dispose();
    small.dispose();
  });
});
