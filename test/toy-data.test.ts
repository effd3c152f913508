/**
 * The 2-D toy samplers against their definitions (DESIGN.md's table), by statistics that follow
 * from the definitions analytically (or by quadrature of the definition's densities).
 *
 * Error bounds: with N = 20 000 points the standard error of a mean is σ/√N ≈ 0.7 % of σ and of a
 * variance ≈ 1 % of it; bounds are set at ≥ 4 standard errors (stated per check), and the seeds
 * are fixed, so the tests are deterministic and still fail on any wrong constant (a radius, a
 * noise level, a missing shift or a wrong mixture weight moves a statistic by far more).
 */
import { describe, expect, it } from 'vitest';
import {
  EIGHT_GAUSSIANS_STD, TOY_NAMES, checkerboard, circles, eightGaussians, moons, sampleToy, twoSpirals, validateFinite,
} from '../src/data/toy.js';

const N = 20_000;

function column(x: Float32Array, c: number): Float64Array {
  return Float64Array.from({ length: x.length / 2 }, (_, i) => x[2 * i + c]);
}
const mean = (v: ArrayLike<number>) => Array.from(v).reduce((s, a) => s + a, 0) / v.length;
function variance(v: ArrayLike<number>): number {
  const m = mean(v);
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2;
  return s / (v.length - 1);
}
/** Kolmogorov–Smirnov statistic of `v` against U(lo, hi). */
function ksUniform(v: Float64Array, lo: number, hi: number): number {
  const s = Float64Array.from(v).sort();
  let d = 0;
  for (let i = 0; i < s.length; i++) {
    const f = (s[i] - lo) / (hi - lo);
    d = Math.max(d, Math.abs(f - i / s.length), Math.abs(f - (i + 1) / s.length));
  }
  return d;
}
// KS critical value at the 0.1 % level: 1.95/√N.
const KS_BOUND = 1.95 / Math.sqrt(N);
// χ² with 7 degrees of freedom, 0.1 % level: 24.32.
const CHI2_7 = 24.32;

describe('toy samplers: shape and seeding', () => {
  it.each(TOY_NAMES)('%s returns Float32Array [n·2], finite, the same points for the same seed', (name) => {
    const a = sampleToy(name, 500, 42);
    expect(a).toBeInstanceOf(Float32Array);
    expect(a.length).toBe(1000);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Array.from(sampleToy(name, 500, 42))).toEqual(Array.from(a));
    const b = sampleToy(name, 500, 43);
    expect(Array.from(b)).not.toEqual(Array.from(a));
    expect(sampleToy(name, 0, 1).length).toBe(0);
  });

  it('rejects an unknown name and names the choices', () => {
    expect(() => sampleToy('swissroll', 10)).toThrow(/unknown 2-D data set 'swissroll'.*checkerboard, moons, 8gaussians, 2spirals, circles/);
    expect(() => sampleToy('moons', -1)).toThrow(/non-negative integer/);
  });
});

describe('checkerboard (flow_matching: u~U(−2,2), v~U(0,1)−2B + floor(u) mod 2, x = (u,v)/0.45)', () => {
  const x = checkerboard(N, 1);
  const u = column(x, 0).map((a) => a * 0.45);
  const v = column(x, 1).map((a) => a * 0.45);

  it('puts every point in a square with floor(u) + floor(v) even', () => {
    let wrong = 0;
    for (let i = 0; i < u.length; i++) {
      // Points within float32 rounding (1e-5) of a grid line may land on either side.
      const nearEdge = Math.abs(u[i] - Math.round(u[i])) < 1e-5 || Math.abs(v[i] - Math.round(v[i])) < 1e-5;
      if (!nearEdge && (((Math.floor(u[i]) + Math.floor(v[i])) % 2) + 2) % 2 !== 0) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it('has uniform marginals on [−2/0.45, 2/0.45] and fills the 8 black squares equally', () => {
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-2 - 1e-5);
    expect(Math.max(...u)).toBeLessThan(2 + 1e-5);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-2 - 1e-5);
    expect(Math.max(...v)).toBeLessThan(2 + 1e-5);
    expect(ksUniform(u, -2, 2)).toBeLessThan(KS_BOUND);
    expect(ksUniform(v, -2, 2)).toBeLessThan(KS_BOUND);
    const counts = new Map<string, number>();
    for (let i = 0; i < u.length; i++) {
      const k = `${Math.floor(u[i])},${Math.floor(v[i])}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    expect(counts.size).toBe(8);
    const e = N / 8;
    const chi2 = [...counts.values()].reduce((s, c) => s + (c - e) ** 2 / e, 0);
    expect(chi2).toBeLessThan(CHI2_7);
  });
});

describe('8gaussians (torchcfm: centres 5·(cos kπ/4, sin kπ/4), std 0.1^¼)', () => {
  const x = eightGaussians(N, 2);
  it('has 8 equally likely clusters at radius 5 with per-coordinate std 0.5623', () => {
    expect(EIGHT_GAUSSIANS_STD).toBeCloseTo(0.56234, 5);
    const counts = new Array(8).fill(0);
    const res: number[][] = [[], []];
    for (let i = 0; i < N; i++) {
      const px = x[2 * i], py = x[2 * i + 1];
      // Nearest centre: centres are 3.83 apart, 3.4 std from the midpoint, so misassignment is ~3e-4.
      const k = ((Math.round(Math.atan2(py, px) / (Math.PI / 4)) % 8) + 8) % 8;
      counts[k]++;
      res[0].push(px - 5 * Math.cos((k * Math.PI) / 4));
      res[1].push(py - 5 * Math.sin((k * Math.PI) / 4));
    }
    const e = N / 8;
    expect(counts.reduce((s, c) => s + (c - e) ** 2 / e, 0)).toBeLessThan(CHI2_7);
    for (const r of res) {
      // Mean: 4 standard errors ≈ 4·0.56/√N = 0.016. Std: standard error 0.5 %, bound 3 %.
      expect(Math.abs(mean(r))).toBeLessThan(0.016);
      expect(Math.sqrt(variance(r)) / EIGHT_GAUSSIANS_STD).toBeGreaterThan(0.97);
      expect(Math.sqrt(variance(r)) / EIGHT_GAUSSIANS_STD).toBeLessThan(1.03);
    }
  });
});

describe('circles (radius 1 or ½ w.p. ½, noise 0.08, all × 3)', () => {
  const x = circles(N, 3);
  it('has half the points near radius 3 and half near 1.5, noise std 0.24, uniform angles', () => {
    const outer: number[] = [];
    const inner: number[] = [];
    const angles = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      const r = Math.hypot(x[2 * i], x[2 * i + 1]);
      (r > 2.25 ? outer : inner).push(r);
      angles[i] = Math.atan2(x[2 * i + 1], x[2 * i]);
    }
    // Fraction: 4 standard errors = 4·0.5/√N = 0.014.
    expect(Math.abs(outer.length / N - 0.5)).toBeLessThan(0.014);
    // E|c + ε| for |c| = ρ and isotropic 2-D noise of std s is ρ + s²/(2ρ) to second order.
    const s = 0.24;
    expect(Math.abs(mean(outer) - (3 + (s * s) / 6))).toBeLessThan(0.01);
    expect(Math.abs(mean(inner) - (1.5 + (s * s) / 3))).toBeLessThan(0.01);
    // Radial std ≈ s (its curvature correction is O(s³/ρ²) < 0.2 %); standard error 0.7 %, bound 4 %.
    expect(Math.abs(Math.sqrt(variance(outer)) / s - 1)).toBeLessThan(0.04);
    expect(Math.abs(Math.sqrt(variance(inner)) / s - 1)).toBeLessThan(0.04);
    expect(ksUniform(angles, -Math.PI, Math.PI)).toBeLessThan(KS_BOUND);
  });
});

describe('moons (sklearn make_moons, noise 0.05, x = 3·(m − (0.5, 0.25)))', () => {
  const x = moons(N, 4);
  it('is centred with the analytic per-coordinate variances', () => {
    // m_x: E = ½, E m_x² = (½ + 3/2)/2 = 1 → Var 0.75; m_y: E = ¼, E m_y² = (½ + ¾ − 2/π)/2 → Var 0.5625 − 1/π.
    const varX = 9 * (0.75 + 0.05 ** 2);
    const varY = 9 * (0.5625 - 1 / Math.PI + 0.05 ** 2);
    const cx = column(x, 0), cy = column(x, 1);
    // Mean: 4 standard errors = 4·√Var/√N ≈ 0.074 and 0.042.
    expect(Math.abs(mean(cx))).toBeLessThan(4 * Math.sqrt(varX / N));
    expect(Math.abs(mean(cy))).toBeLessThan(4 * Math.sqrt(varY / N));
    // Variance: relative standard error ≈ 1–1.5 %; bound 5 %.
    expect(Math.abs(variance(cx) / varX - 1)).toBeLessThan(0.05);
    expect(Math.abs(variance(cy) / varY - 1)).toBeLessThan(0.05);
  });

  it('puts points within the noise of the two half-circle arcs', () => {
    const arcDistance = (mx: number, my: number) => {
      // Outer: upper half of the unit circle at the origin; inner: lower half of the unit circle at (1, ½).
      const outer = my >= 0 ? Math.abs(Math.hypot(mx, my) - 1) : Math.min(Math.hypot(mx - 1, my), Math.hypot(mx + 1, my));
      const qx = mx - 1, qy = my - 0.5;
      const inner = qy <= 0 ? Math.abs(Math.hypot(qx, qy) - 1) : Math.min(Math.hypot(qx - 1, qy), Math.hypot(qx + 1, qy));
      return Math.min(outer, inner);
    };
    let ss = 0;
    let far = 0;
    for (let i = 0; i < N; i++) {
      const d = arcDistance(x[2 * i] / 3 + 0.5, x[2 * i + 1] / 3 + 0.25);
      ss += d * d;
      if (d > 0.25) far++; // 5 noise standard deviations
    }
    const rms = Math.sqrt(ss / N);
    // The normal component of the noise has std 0.05, so the nearest-arc distance has RMS ≈ 0.05
    // (slightly more past the arc ends, slightly less where the arcs cross; measured 0.0505).
    // Its standard error is ≈ 0.5 %; a noise std of 0.045 or 0.055 would fall outside.
    expect(rms).toBeGreaterThan(0.046);
    expect(rms).toBeLessThan(0.054);
    expect(far).toBe(0);
  });
});

describe('2spirals (FFJORD: r = √U·3π, p = (−r cos r + U(0,½), r sin r + U(0,½)), ±p, /3, noise 0.1)', () => {
  const x = twoSpirals(N, 5);
  it('matches the second moments given by quadrature of the definition', () => {
    // r has density 2r/R² on [0, R], R = 3π. Simpson's rule with 20 000 intervals (error ≪ 1e-6).
    const R = 3 * Math.PI;
    const E = (f: (r: number) => number) => {
      const m = 20_000;
      const h = R / m;
      let s = 0;
      for (let i = 0; i <= m; i++) {
        const w = i === 0 || i === m ? 1 : i % 2 ? 4 : 2;
        const r = i * h;
        s += w * f(r) * ((2 * r) / (R * R));
      }
      return (s * h) / 3;
    };
    // p0 = −r cos r + u1, p1 = r sin r + u2 with E u = ¼, E u² = 1/12; x = ±p/3 + N(0, 0.1).
    const ex0 = (E((r) => (r * Math.cos(r)) ** 2) - 0.5 * E((r) => r * Math.cos(r)) + 1 / 12) / 9 + 0.01;
    const ex1 = (E((r) => (r * Math.sin(r)) ** 2) + 0.5 * E((r) => r * Math.sin(r)) + 1 / 12) / 9 + 0.01;
    const cx = column(x, 0), cy = column(x, 1);
    const m2 = (v: Float64Array) => v.reduce((s, a) => s + a * a, 0) / v.length;
    // E x² ≈ 2.5; the relative standard error of a second moment here is ≈ 1 %; bound 4 %.
    expect(Math.abs(m2(cx) / ex0 - 1)).toBeLessThan(0.04);
    expect(Math.abs(m2(cy) / ex1 - 1)).toBeLessThan(0.04);
    // The ± flip makes the distribution symmetric: mean 0 (4 standard errors ≈ 0.045).
    expect(Math.abs(mean(cx))).toBeLessThan(0.045);
    expect(Math.abs(mean(cy))).toBeLessThan(0.045);
    // Radius: |p| ≤ R + √2/2 and noise 0.1·√2, so |x| < (R + 0.71)/3 + 6·0.14.
    const maxR = Math.max(...Array.from({ length: N }, (_, i) => Math.hypot(x[2 * i], x[2 * i + 1])));
    expect(maxR).toBeLessThan((R + 0.71) / 3 + 0.85);
    expect(maxR).toBeGreaterThan(R / 3 - 0.5);
  });
});

describe('validateFinite', () => {
  it('accepts finite data and names the first bad row and column', () => {
    expect(() => validateFinite(Float32Array.of(1, 2, 3, 4), 2)).not.toThrow();
    expect(() => validateFinite(Float32Array.of(1, 2, 3, NaN, 5, 6), 2)).toThrow(/data row 1 \(of 3\) has NaN in column 1/);
    expect(() => validateFinite([0, 0, -Infinity], 1, 'train set')).toThrow(/train set row 2 \(of 3\) has -Infinity in column 0/);
    expect(() => validateFinite([1, 2, 3], 2)).toThrow(/do not form rows of 2/);
  });
});
