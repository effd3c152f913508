import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  add, bitsPerDim, dequantize, logLikelihood, matmul, mul, normalsCpu, param, STREAM, sub, tensor, tidy, uniformsCpu,
  type Tensor, type VelocityField,
} from '../src/internal.js';
import { hutchinsonProbes } from '../src/flow/likelihood.js';
import { Rng, useGpu } from './helpers.js';

const { gpu } = useGpu();

// Data q = N(μ, Σ) with Σ = R·diag(s²)·Rᵀ, R a rotation that mixes all three axes, so the velocity
// field's Jacobian is not diagonal. Along the CondOT path x_t = t·x1 + (1 − t)·x0 the marginal is
// N(tμ, R·diag((1 − t)² + t²s²)·Rᵀ) and the exact marginal velocity is
//   v(x, t) = μ + (x − tμ)·M_t,  M_t = R·diag(a(t))·Rᵀ,  a_d(t) = d/dt log std_d(t)
//           = (−(1 − t) + t·s_d²) / ((1 − t)² + t²·s_d²),
// a linear field that carries N(0, I) at t = 0 to q at t = 1. So log q(x1) is the Gaussian
// log-pdf, x0 = R·diag(1/s)·Rᵀ(x1 − μ), and div v = Σ_d a_d(t), whose integral over [0, 1] is
// Σ_d log s_d.
const D = 3;
const MU = [0.7, -1.2, 0.3];
const S = [0.5, 1.0, 2.0];
const R = (() => {
  // rotation: exp of a skew matrix, via Rodrigues' formula about the unit axis k by angle θ
  const k = [1, 2, 2].map((v) => v / 3);
  const th = 0.9;
  const K = [
    [0, -k[2], k[1]],
    [k[2], 0, -k[0]],
    [-k[1], k[0], 0],
  ];
  const K2 = K.map((row, i) => row.map((_, j) => K[i].reduce((s, _v, m) => s + K[i][m] * K[m][j], 0)));
  return K.map((row, i) => row.map((_, j) => (i === j ? 1 : 0) + Math.sin(th) * K[i][j] + (1 - Math.cos(th)) * K2[i][j]));
})();

/** R·diag(w)·Rᵀ, row-major. */
function rotated(w: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) out.push(w.reduce((s, wd, d) => s + R[i][d] * wd * R[j][d], 0));
  return out;
}

const aOf = (t: number) => S.map((s) => (-(1 - t) + t * s * s) / ((1 - t) ** 2 + t * t * s * s));

// A scalar parameter in the graph, as a trained model would have: it must get no gradient.
let gain: Tensor;
const field: VelocityField = (x, t) => {
  const m = tensor(rotated(aOf(t)), [D, D]);
  const mu = tensor(MU, [1, D]);
  const tmu = tensor(MU.map((v) => t * v), [1, D]);
  return add(mul(matmul(sub(x, tmu), m), gain), mu);
};

function logq(x: ArrayLike<number>): number {
  const d = [0, 1, 2].map((i) => x[i] - MU[i]);
  const r = [0, 1, 2].map((j) => R[0][j] * d[0] + R[1][j] * d[1] + R[2][j] * d[2]); // Rᵀ(x − μ)
  return r.reduce((s, v, j) => s - (0.5 * v * v) / (S[j] * S[j]) - Math.log(S[j]), 0) - 0.5 * D * Math.log(2 * Math.PI);
}

function x0Of(x: ArrayLike<number>): number[] {
  const w = rotated(S.map((s) => 1 / s));
  const d = [0, 1, 2].map((i) => x[i] - MU[i]);
  return [0, 1, 2].map((i) => w[3 * i] * d[0] + w[3 * i + 1] * d[1] + w[3 * i + 2] * d[2]);
}

const rng = new Rng(3);
const NPTS = 48;
// Points from q and a few far in its tails.
const PTS = rng.array(NPTS * D, () => 0).map((_, idx) => {
  const i = Math.floor(idx / D);
  return Math.fround(MU[idx % D] + (i < 40 ? 1.5 : 4) * rng.normal());
});

beforeAll(() => {
  gain = param(tensor([1], [1]), 'gain');
});
afterAll(() => gain?.dispose());

describe('logLikelihood with the exact divergence', () => {
  for (const [solver, opts] of [['rk4', { steps: 16 }], ['dopri5', { rtol: 1e-6, atol: 1e-6 }]] as const) {
    it(`matches the closed-form Gaussian log-density (${solver})`, async () => {
      const g = gpu();
      const inUse = g.stats.buffersInUse;
      const x1 = tensor(PTS, [NPTS, D]);
      const r = await logLikelihood(field, x1, { divergence: 'exact', solver, ...opts });
      const logp = await r.logp.f32();
      const x0 = await r.x0.f32();
      expect(r.logp.shape).toEqual([NPTS]);
      expect(r.x0.shape).toEqual([NPTS, D]);
      if (solver === 'rk4') expect(r.nfe).toBe(16 * 4);
      for (let i = 0; i < NPTS; i++) {
        const p = PTS.slice(D * i, D * i + D);
        // Measured max errors: 7.8e-5 (RK4, 16 steps; 1.3e-3 at 8 steps) and 1.0e-5 (dopri5);
        // the bound is the target.
        expect(Math.abs(logp[i] - logq(p)), `point ${i}: ${logp[i]} vs ${logq(p)}`).toBeLessThan(1e-3);
        const want0 = x0Of(p);
        for (let d = 0; d < D; d++) expect(Math.abs(x0[D * i + d] - want0[d])).toBeLessThan(1e-4 * (1 + Math.abs(want0[d])));
      }
      // The model's parameter was in the graph of every evaluation but received no gradient.
      expect(gain.grad).toBeNull();
      r.logp.dispose();
      r.x0.dispose();
      x1.dispose();
      expect(g.stats.buffersInUse).toBe(inUse);
    });
  }
});

describe('logLikelihood with Hutchinson probes', () => {
  // The estimate for one probe ε is log p0(x0) − εᵀBε with B = ∫₀¹ ∂v/∂x dt = R·diag(log s)·Rᵀ
  // (x0 does not depend on ε). It is unbiased, E[εᵀBε] = tr B, with variance
  //   Rademacher: 2·Σ_{i≠j} B_ij²,   Gaussian: 2·‖B‖_F²,
  // divided by K when K probes are averaged. Each row gets its own probe, so 4 test points
  // repeated 1024 times give 1024 independent estimates of each.
  const B = rotated(S.map(Math.log));
  const offDiag = B.reduce((s, b, idx) => s + (Math.floor(idx / D) !== idx % D ? b * b : 0), 0);
  const frob = B.reduce((s, b) => s + b * b, 0);
  const REP = 1024;
  const NP = 4;
  const pts = PTS.slice(0, NP * D);
  const rows = Array.from({ length: NP * REP }, (_, r) => Array.from(pts.slice(D * Math.floor(r / REP), D * Math.floor(r / REP) + D))).flat();

  it('draws probe j from the shared generator at (seed, step j, STREAM.hutchinson)', async () => {
    const [rows, cols, k, seed] = [5, 7, 3, 9]; // 35 values: the last Philox call is partly used
    const got = await Promise.all(
      (['rademacher', 'gaussian'] as const).map(async (probe) => {
        const ps = tidy(() => hutchinsonProbes([rows, cols], k, probe, seed));
        const values = await Promise.all(ps.map((t) => t.f32()));
        ps.forEach((t) => t.dispose());
        expect(ps.map((t) => t.shape)).toEqual(Array(k).fill([rows, cols]));
        return values;
      }),
    );
    const [rad, gauss] = got;
    for (let j = 0; j < k; j++) {
      // Rademacher: sign(u − ½) of the shared uniforms, exact.
      const u = uniformsCpu(rows * cols, seed, j, STREAM.hutchinson);
      expect(Array.from(rad[j]), `probe ${j}`).toEqual(Array.from(u, (v) => (v > 0.5 ? 1 : -1)));
      // Gaussian: the shared normal transform, within WGSL's worst-case log/sin/cos error
      // (5e-3 per element, as in test/random.test.ts); a probe from another counter is off by O(1).
      const z = normalsCpu(rows * cols, seed, j, STREAM.hutchinson);
      gauss[j].forEach((v, i) => expect(Math.abs(v - z[i]), `probe ${j} element ${i}`).toBeLessThan(5e-3));
    }
  });

  for (const [probe, probes, theory] of [
    ['rademacher', 1, 2 * offDiag],
    ['gaussian', 1, 2 * frob],
    ['rademacher', 4, (2 * offDiag) / 4],
  ] as const) {
    it(`is unbiased with the predicted variance (${probe}, ${probes} probe${probes > 1 ? 's' : ''})`, async () => {
      const x1 = tensor(rows, [NP * REP, D]);
      const r = await logLikelihood(field, x1, { divergence: 'hutchinson', probe, probes, seed: 9, steps: 8 });
      const logp = await r.logp.f32();
      r.logp.dispose();
      r.x0.dispose();
      x1.dispose();
      let pooled = 0;
      for (let p = 0; p < NP; p++) {
        const est = logp.subarray(p * REP, (p + 1) * REP);
        const mean = est.reduce((s, v) => s + v, 0) / REP;
        const v = est.reduce((s, x) => s + (x - mean) ** 2, 0) / (REP - 1);
        pooled += v / NP;
        // The mean of 1024 independent estimates is within 5 standard errors of the exact value,
        // plus the RK4 discretisation error at 8 steps (≤ 1.3e-3 measured with the exact divergence).
        const want = logq(pts.slice(D * p, D * p + D));
        expect(Math.abs(mean - want), `point ${p}: mean ${mean} vs ${want} (sd ${Math.sqrt(v)})`).toBeLessThan(5 * Math.sqrt(v / REP) + 2e-3);
      }
      // Pooled variance over 4096 estimates: its relative standard error is √((κ − 1)/n) ≲ 0.04
      // for these quadratic forms (κ ≲ 7); 20% is 5 of them.
      expect(Math.abs(pooled / theory - 1), `variance ${pooled} vs predicted ${theory}`).toBeLessThan(0.2);
    });
  }
});

describe('bits per dimension', () => {
  it('gives log2(levels) for a model uniform on the dequantised cube', () => {
    // p_z uniform on [−1, 1)^D (z = 2y − 1): log p_z = −D·ln 2, so 8 bits for 256 levels.
    expect(bitsPerDim(-784 * Math.LN2, 784, { scale: 2 })).toBeCloseTo(8, 12);
    expect(bitsPerDim(0, 10, { levels: 2 })).toBeCloseTo(1, 12);
    // A density 2^D times higher saves exactly one bit per dimension.
    expect(bitsPerDim(0, 784, { scale: 2 })).toBeCloseTo(7, 12);
  });

  it('dequantises pixel k/255 uniformly into (k/256, (k+1)/256), then rescales', async () => {
    const n = 1 << 14;
    const k = Array.from({ length: n }, (_, i) => i % 256);
    const x = tensor(k.map((v) => v / 255), [n]);
    const y = dequantize(x, { seed: 4 });
    const z = dequantize(x, { seed: 4, scale: 2, shift: -1 });
    const [yh, zh] = await Promise.all([y.f32(), z.f32()]);
    [x, y, z].forEach((t) => t.dispose());
    let meanU = 0;
    let uMin = Infinity;
    let uMax = -Infinity;
    let zErr = 0;
    for (let i = 0; i < n; i++) {
      const u = yh[i] * 256 - k[i];
      uMin = Math.min(uMin, u);
      uMax = Math.max(uMax, u);
      meanU += u / n;
      zErr = Math.max(zErr, Math.abs(zh[i] - (2 * yh[i] - 1)));
    }
    // f32 rounding of (k + u)/256 moves u by at most 256·2⁻²⁴·… ≈ 1e-5.
    expect(uMin).toBeGreaterThanOrEqual(-1e-4);
    expect(uMax).toBeLessThan(1 + 1e-4);
    expect(uMax - uMin).toBeGreaterThan(0.99);
    expect(zErr).toBeLessThan(1e-6);
    // U(0, 1) offsets: mean ½ within 5 standard errors (√(1/12)/√n).
    expect(Math.abs(meanU - 0.5)).toBeLessThan((5 * Math.sqrt(1 / 12)) / Math.sqrt(n));
  });

  it('takes its offsets from the shared generator at (seed, step, STREAM.dequantize)', async () => {
    const n = 1001;
    const k = Array.from({ length: n }, (_, i) => (7 * i) % 256);
    const x = tensor(k.map((v) => v / 255), [n]);
    const y = dequantize(x, { seed: 4, step: 3 });
    const yh = await y.f32();
    [x, y].forEach((t) => t.dispose());
    const u = uniformsCpu(n, 4, 3, STREAM.dequantize);
    // u recovered as 256·y − k: k + u rounds to f32 (≤ 2⁻¹⁷ for k < 256) and WGSL's division is
    // within 2.5 ulp (≤ 2.5·2⁻¹⁶ after scaling by 256): 5e-5 in all; another counter is off by ~⅓.
    yh.forEach((v, i) => expect(Math.abs(256 * v - k[i] - u[i]), `element ${i}`).toBeLessThan(5e-5));
  });
});
