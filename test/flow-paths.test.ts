import { describe, expect, it } from 'vitest';
import {
  condOT,
  cosine,
  drawSourceAndTime,
  FlowGpuError,
  interpolateWithTarget,
  logitNormalTime,
  polynomial,
  randNormal,
  sampleTimes,
  STREAM,
  tensor,
  tidy,
  timeCpu,
  uniformTime,
  vp,
  type Scheduler,
  type Tensor,
  type TimeSampler,
} from '../src/internal.js';
import { Rng, useGpu } from './helpers.js';

useGpu();

const SCHEDULERS: [string, Scheduler][] = [
  ['condot', condOT()],
  ['condot σmin=0.1', condOT(0.1)],
  ['condot σmin=1e-4', condOT(1e-4)],
  ['polynomial n=2', polynomial(2)],
  ['polynomial n=3', polynomial(3)],
  ['polynomial n=0.5', polynomial(0.5)],
  ['polynomial n=1.7', polynomial(1.7)],
  ['cosine', cosine()],
  ['vp', vp()],
];

async function read(...ts: Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) out.push(await t.f32());
  for (const t of ts) t.dispose();
  return out;
}

/** float64 path from schedulers.ts: x_t and u_t for flat x0, x1 [N·D] and t [N]. */
function pathRef(s: Scheduler, x0: ArrayLike<number>, x1: ArrayLike<number>, t: ArrayLike<number>, d: number) {
  const xt = new Float64Array(x1.length);
  const ut = new Float64Array(x1.length);
  const scaleX = new Float64Array(x1.length);
  const scaleU = new Float64Array(x1.length);
  for (let i = 0; i < x1.length; i++) {
    const r = Math.floor(i / d);
    const a = s.alpha(t[r]), g = s.sigma(t[r]), da = s.dAlpha(t[r]), dg = s.dSigma(t[r]);
    xt[i] = a * x1[i] + g * x0[i];
    ut[i] = da * x1[i] + dg * x0[i];
    scaleX[i] = Math.abs(a * x1[i]) + Math.abs(g * x0[i]);
    scaleU[i] = Math.abs(da * x1[i]) + Math.abs(dg * x0[i]);
  }
  return { xt, ut, scaleX, scaleU };
}

/**
 * f32 evaluation of α, σ and their derivatives (exp, sin, cos, pow) and of the two products,
 * relative to the terms' magnitudes |α·x1| + |σ·x0|: measured ≤ 2.6e-6 on llvmpipe (cosine's u_t
 * is the worst); 1e-5 ≈ 80 ulps. (WGSL's worst-case rules for sin/cos are looser, 2⁻¹¹ absolute.)
 */
const REL = 1e-5;

function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>, rel: number, what: string) {
  for (let i = 0; i < want.length; i++) {
    const bound = rel * scale[i] + 1e-7;
    if (!(Math.abs(got[i] - want[i]) <= bound)) {
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (|err| ${Math.abs(got[i] - want[i]).toExponential(3)} > ${bound.toExponential(3)})`);
    }
  }
}

/** Times covering the interior and both ends closely (never exactly 0 or 1). */
function testTimes(n: number, rng: Rng): Float64Array {
  const fixed = [2 ** -24, 1e-4, 0.01, 0.5, 0.99, 0.9999, 1 - 2 ** -24];
  return Float64Array.from({ length: n }, (_, i) => Math.fround(i < fixed.length ? fixed[i] : rng.uniform(0.001, 0.999)));
}

describe('affine paths: the fused interpolation kernel', () => {
  it('x_t and u_t match float64 for every scheduler, given x0 and t', async () => {
    const rng = new Rng(1);
    const [n, d] = [41, 3];
    const x0 = rng.array(n * d);
    const x1 = rng.array(n * d, () => 2 * rng.normal() + 1);
    const t = testTimes(n, rng);
    for (const [name, s] of SCHEDULERS) {
      const [xt, ut] = await read(
        ...tidy(() => {
          const r = interpolateWithTarget(tensor(Float32Array.from(x1), [n, d]), {
            scheduler: s, seed: 0, step: 0, x0: tensor(Float32Array.from(x0), [n, d]), t: tensor(Float32Array.from(t)),
          });
          return [r.xt, r.ut];
        }),
      );
      const ref = pathRef(s, x0, x1, t, d);
      expectWithin(xt, ref.xt, ref.scaleX, REL, `${name} x_t`);
      expectWithin(ut, ref.ut, ref.scaleU, REL, `${name} u_t`);
    }
  });

  it('CondOT with σ_min is the path of Lipman et al.: x_t = t·x1 + (1 − (1 − σ_min)t)·x0, u = x1 − (1 − σ_min)·x0', async () => {
    // written out here from the paper (seed 004), independently of schedulers.ts
    const rng = new Rng(2);
    const [n, d, sm] = [16, 2, 0.05];
    const x0 = rng.array(n * d);
    const x1 = rng.array(n * d);
    const t = rng.array(n, () => rng.uniform());
    const [xt, ut] = await read(
      ...tidy(() => {
        const r = interpolateWithTarget(tensor(Float32Array.from(x1), [n, d]), {
          scheduler: condOT(sm), seed: 0, step: 0, x0: tensor(Float32Array.from(x0), [n, d]), t: tensor(Float32Array.from(t)),
        });
        return [r.xt, r.ut];
      }),
    );
    for (let i = 0; i < n * d; i++) {
      const tr = t[Math.floor(i / d)];
      // f32 rounding of three products and two sums: ≤ 4 ulps of the magnitudes involved
      expect(Math.abs(xt[i] - (tr * x1[i] + (1 - (1 - sm) * tr) * x0[i]))).toBeLessThan(1e-6 * (Math.abs(x1[i]) + Math.abs(x0[i]) + 1));
      expect(Math.abs(ut[i] - (x1[i] - (1 - sm) * x0[i]))).toBeLessThan(1e-6 * (Math.abs(x1[i]) + Math.abs(x0[i]) + 1));
    }
  });

  it('the derivatives in schedulers.ts are d/dt of α and σ (float64 central differences)', () => {
    const h = 1e-5;
    for (const [name, s] of SCHEDULERS) {
      for (let t = 0.05; t < 0.96; t += 0.05) {
        // central difference: truncation h²·|f'''|/6 ≲ 1e-8 here, rounding 1e-16/h = 1e-11
        const fa = (s.alpha(t + h) - s.alpha(t - h)) / (2 * h);
        const fs = (s.sigma(t + h) - s.sigma(t - h)) / (2 * h);
        expect(Math.abs(fa - s.dAlpha(t)), `${name} α̇(${t})`).toBeLessThan(1e-6 * (1 + Math.abs(fa)));
        expect(Math.abs(fs - s.dSigma(t)), `${name} σ̇(${t})`).toBeLessThan(1e-6 * (1 + Math.abs(fs)));
      }
      // boundary conditions of a path from noise to data
      expect(Math.abs(s.alpha(1) - 1), `${name} α(1)`).toBeLessThan(1e-12);
      if (s.name !== 'vp') expect(Math.abs(s.alpha(0)), `${name} α(0)`).toBeLessThan(1e-12);
      expect(Math.abs(s.sigma(0) - 1), `${name} σ(0)`).toBeLessThan(1e-2);
    }
  });

  it('the kernel u_t is d/dt of the kernel x_t (finite differences on the GPU values)', async () => {
    const rng = new Rng(3);
    const [n, d] = [24, 2];
    const h = 2 ** -7;
    const x0 = rng.array(n * d);
    const x1 = rng.array(n * d);
    const t = Float64Array.from({ length: n }, () => Math.fround(rng.uniform(0.05, 0.95)));
    const tp = t.map((v) => v + h);
    const tm = t.map((v) => v - h);
    for (const [name, s] of SCHEDULERS) {
      const run = (tt: Float64Array) =>
        interpolateWithTarget(tensor(Float32Array.from(x1), [n, d]), {
          scheduler: s, seed: 0, step: 0, x0: tensor(Float32Array.from(x0), [n, d]), t: tensor(Float32Array.from(tt)),
        });
      const [xp, xm, u] = await read(...tidy(() => [run(tp).xt, run(tm).xt, run(t).ut]));
      const refP = pathRef(s, x0, x1, tp, d);
      const refM = pathRef(s, x0, x1, tm, d);
      const ref0 = pathRef(s, x0, x1, t, d);
      for (let i = 0; i < n * d; i++) {
        const fd = (xp[i] - xm[i]) / (2 * h);
        // the same difference in float64 gives the truncation error exactly; the f32 values add at
        // most REL·scale each, divided by 2h; u_t itself carries REL·scale
        const trunc = Math.abs((refP.xt[i] - refM.xt[i]) / (2 * h) - ref0.ut[i]);
        const bound = trunc + (REL * (refP.scaleX[i] + refM.scaleX[i])) / (2 * h) + REL * ref0.scaleU[i] + 1e-6;
        expect(Math.abs(fd - u[i]), `${name} element ${i}: fd ${fd} vs u ${u[i]}`).toBeLessThanOrEqual(bound);
      }
    }
  });

  it('the sampling kernel uses exactly the x0 and t that drawSourceAndTime returns (rows of 1, 2, 3, 5, 8)', async () => {
    const rng = new Rng(4);
    for (const [n, d] of [[33, 1], [17, 2], [37, 3], [9, 5], [6, 8]]) {
      for (const time of [uniformTime(), logitNormalTime(0.3, 0.8)]) {
        const s = vp();
        const x1 = rng.array(n * d);
        const [xt, t, ut, x0, t2, x0n] = await read(
          ...tidy(() => {
            const r = interpolateWithTarget(tensor(Float32Array.from(x1), [n, d]), { scheduler: s, time, seed: 77, step: 5 });
            const dr = drawSourceAndTime([n, d], { seed: 77, step: 5, time });
            const z = randNormal([n, d], { seed: 77, step: 5, stream: STREAM.source });
            return [r.xt, r.t, r.ut, dr.x0, dr.t, z];
          }),
        );
        // same function, same words: identical up to the compiler's freedom to contract a·b + c
        expectWithin(t, t2, new Float64Array(n).fill(1), 1e-6, `t (${time.name}, D=${d})`);
        expectWithin(x0n, x0, new Float64Array(n * d).fill(1), 1e-6, 'x0 vs fill_normal on the source stream');
        // the CPU mirror of the time sampler: uniform times are exact; logit-normal goes through
        // log/cos/exp (WGSL worst case ≈ 2e-3 in z, ×s/4 in t), typically a few ulps
        const tc = Float64Array.from({ length: n }, (_, r) => timeCpu(time, 77, 5, r));
        if (time.name === 'uniform') expect(Array.from(t)).toEqual(Array.from(tc, Math.fround));
        else expectWithin(t, tc, new Float64Array(n).fill(1), 2e-3, 'logit-normal t vs CPU');
        const ref = pathRef(s, x0, x1, t, d);
        expectWithin(xt, ref.xt, ref.scaleX, REL, `x_t (${time.name}, D=${d})`);
        expectWithin(ut, ref.ut, ref.scaleU, REL, `u_t (${time.name}, D=${d})`);
        expect(t.every((v) => v > 0 && v < 1)).toBe(true);
      }
    }
  });

  it('the given-x0 variant draws the same t, the given-t variant the same x0', async () => {
    const rng = new Rng(5);
    const [n, d] = [20, 3];
    const s = cosine();
    const x1 = rng.array(n * d);
    const gx0 = rng.array(n * d);
    const gt = rng.array(n, () => rng.uniform());
    const [tA, xtA, utA, xtB, utB, x0, t] = await read(
      ...tidy(() => {
        const X1 = tensor(Float32Array.from(x1), [n, d]);
        const a = interpolateWithTarget(X1, { scheduler: s, seed: 3, step: 9, x0: tensor(Float32Array.from(gx0), [n, d]) });
        const b = interpolateWithTarget(X1, { scheduler: s, seed: 3, step: 9, t: tensor(Float32Array.from(gt)) });
        const dr = drawSourceAndTime([n, d], { seed: 3, step: 9 });
        return [a.t, a.xt, a.ut, b.xt, b.ut, dr.x0, dr.t];
      }),
    );
    expect(Array.from(tA)).toEqual(Array.from(t));
    const refA = pathRef(s, gx0, x1, t, d);
    expectWithin(xtA, refA.xt, refA.scaleX, REL, 'given x0: x_t');
    expectWithin(utA, refA.ut, refA.scaleU, REL, 'given x0: u_t');
    const refB = pathRef(s, x0, x1, gt, d);
    expectWithin(xtB, refB.xt, refB.scaleX, REL, 'given t: x_t');
    expectWithin(utB, refB.ut, refB.scaleU, REL, 'given t: u_t');
  });

  it('same seed and step give identical bits; another step gives other draws', async () => {
    const x1 = new Rng(6).array(64 * 2);
    const go = (step: number) =>
      tidy(() => {
        const r = interpolateWithTarget(tensor(Float32Array.from(x1), [64, 2]), { scheduler: condOT(), seed: 11, step });
        return [r.xt, r.t];
      });
    const [a, ta] = await read(...go(3));
    const [b, tb] = await read(...go(3));
    const [c, tc] = await read(...go(4));
    expect(new Uint32Array(b.buffer)).toEqual(new Uint32Array(a.buffer));
    expect(new Uint32Array(tb.buffer)).toEqual(new Uint32Array(ta.buffer));
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === c[i]) same++;
    expect(same).toBeLessThan(3);
    expect(tc.some((v, i) => v !== ta[i])).toBe(true);
  });

  it('rejects an x0 of another shape and t of the wrong length', () => {
    tidy(() => {
      const x1 = tensor(new Float32Array(12), [4, 3]);
      expect(() => interpolateWithTarget(x1, { scheduler: condOT(), seed: 0, step: 0, x0: tensor(new Float32Array(12), [3, 4]) })).toThrow(FlowGpuError);
      expect(() => interpolateWithTarget(x1, { scheduler: condOT(), seed: 0, step: 0, t: tensor(new Float32Array(3)) })).toThrow(/one time per row/);
    });
  });
});

describe('time samplers', () => {
  /** Kolmogorov–Smirnov statistic of a sample against a CDF. */
  function ks(values: ArrayLike<number>, cdf: (x: number) => number): number {
    const v = Float64Array.from(values).sort();
    let dmax = 0;
    for (let i = 0; i < v.length; i++) {
      const f = cdf(v[i]);
      dmax = Math.max(dmax, (i + 1) / v.length - f, f - i / v.length);
    }
    return dmax;
  }
  const n = 20000;
  // KS critical value at significance 0.001: 1.95/√n ≈ 0.0138
  const crit = 1.95 / Math.sqrt(n);

  async function draw(sampler: TimeSampler, step = 1): Promise<Float32Array> {
    const [t] = await read(tidy(() => sampleTimes(n, { seed: 123, step, time: sampler })));
    return t;
  }

  it('logit-normal(m, s) times follow the analytic CDF Φ((logit t − m)/s)', async () => {
    for (const [m, s] of [[0, 1], [0.5, 0.7], [-1, 1.5]]) {
      const sampler = logitNormalTime(m, s);
      const t = await draw(sampler);
      expect(ks(t, sampler.cdf), `m=${m}, s=${s}`).toBeLessThan(crit);
      // power: the same sample is rejected against m + 0.1
      expect(ks(t, logitNormalTime(m + 0.1, s).cdf), `m=${m}, s=${s} vs m+0.1`).toBeGreaterThan(crit);
      // histogram: 20 bins against the analytic mass, within 4 binomial standard errors
      const counts = new Array(20).fill(0);
      for (const v of t) counts[Math.min(19, Math.floor(v * 20))]++;
      for (let b = 0; b < 20; b++) {
        const p = sampler.cdf((b + 1) / 20) - sampler.cdf(b / 20);
        expect(Math.abs(counts[b] - n * p), `bin ${b}`).toBeLessThan(4 * Math.sqrt(n * p * (1 - p)) + 1);
      }
    }
  });

  it('uniform times follow U(tMin, tMax)', async () => {
    for (const [lo, hi] of [[0, 1], [0, 1 - 1e-3], [0.2, 0.6]]) {
      const sampler = uniformTime({ tMin: lo, tMax: hi });
      const t = await draw(sampler, 2);
      expect(ks(t, sampler.cdf)).toBeLessThan(crit);
      expect(Math.min(...t)).toBeGreaterThanOrEqual(Math.fround(lo));
      expect(Math.max(...t)).toBeLessThanOrEqual(Math.fround(hi));
    }
  });
});
