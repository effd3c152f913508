import { describe, expect, it } from 'vitest';
import { frechetDistance, gaussianStats, sqrtPsd, symmetricEigen, traceSqrtProduct, type GaussianStats } from '../src/metrics/fid.js';
import { Rng } from './helpers.js';

/** A random orthogonal n×n matrix (Gram–Schmidt on Gaussian columns), row-major. */
function orthogonal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const v = Float64Array.from({ length: n }, () => rng.normal());
    for (let k = 0; k < j; k++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += v[i] * q[i * n + k];
      for (let i = 0; i < n; i++) v[i] -= d * q[i * n + k];
    }
    const norm = Math.hypot(...v);
    for (let i = 0; i < n; i++) q[i * n + j] = v[i] / norm;
  }
  return q;
}

/** Q·diag(d)·Qᵀ. */
function withEigen(q: Float64Array, d: ArrayLike<number>, n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += q[i * n + k] * d[k] * q[j * n + k];
    a[i * n + j] = s;
  }
  return a;
}

const stats = (mean: ArrayLike<number>, cov: Float64Array): GaussianStats => ({ dim: mean.length, count: 0, mean: Float64Array.from(mean), cov });

describe('symmetric eigendecomposition (Jacobi) and the PSD square root', () => {
  it('reconstructs a dense symmetric matrix with orthonormal eigenvectors', () => {
    const rng = new Rng(3);
    const n = 40;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
    const { values, vectors: v } = symmetricEigen(a, n);
    // float64 rotations: residuals of a few hundred ulps of the matrix's scale (‖A‖ ≈ √n·2)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let av = 0;
      let vtv = 0;
      for (let k = 0; k < n; k++) {
        av += a[i * n + k] * v[k * n + j];
        vtv += v[k * n + i] * v[k * n + j];
      }
      expect(Math.abs(av - values[j] * v[i * n + j])).toBeLessThan(1e-11);
      expect(Math.abs(vtv - (i === j ? 1 : 0))).toBeLessThan(1e-12);
    }
  });

  it('finds known eigenvalues of Q·diag(d)·Qᵀ, and sqrtPsd squares back to the matrix', () => {
    const rng = new Rng(5);
    const n = 32;
    const d = Float64Array.from({ length: n }, (_, i) => 0.01 + i * 0.37);
    const a = withEigen(orthogonal(n, rng), d, n);
    const got = [...symmetricEigen(a, n).values].sort((x, y) => x - y);
    for (let i = 0; i < n; i++) expect(Math.abs(got[i] - d[i])).toBeLessThan(1e-11);
    const r = sqrtPsd(a, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += r[i * n + k] * r[k * n + j];
      expect(Math.abs(s - a[i * n + j])).toBeLessThan(1e-10);
      expect(r[i * n + j]).toBeCloseTo(r[j * n + i], 12);
    }
  });
});

describe('Fréchet distance against closed forms', () => {
  it('covariances with common eigenvectors: ‖Δμ‖² + Σ (√a_i − √b_i)²', () => {
    const rng = new Rng(11);
    const n = 64;
    const q = orthogonal(n, rng);
    const a = Float64Array.from({ length: n }, () => rng.uniform(0.1, 4));
    const b = Float64Array.from({ length: n }, () => rng.uniform(0.1, 4));
    const m1 = Float64Array.from({ length: n }, () => rng.normal());
    const m2 = Float64Array.from({ length: n }, () => rng.normal());
    let want = 0;
    for (let i = 0; i < n; i++) want += (m1[i] - m2[i]) ** 2 + (Math.sqrt(a[i]) - Math.sqrt(b[i])) ** 2;
    const got = frechetDistance(stats(m1, withEigen(q, a, n)), stats(m2, withEigen(q, b, n)));
    // the sum of terms of size ~1 in float64 through two eigendecompositions: 1e-9 relative
    expect(Math.abs(got - want)).toBeLessThan(1e-9 * want);
    expect(frechetDistance(stats(m1, withEigen(q, a, n)), stats(m1, withEigen(q, a, n)))).toBeLessThan(1e-10);
  });

  it('non-commuting 2×2 covariances: tr √(Σ₁Σ₂) = √(tr Σ₁Σ₂ + 2√(det Σ₁ det Σ₂))', () => {
    const rng = new Rng(17);
    for (let trial = 0; trial < 20; trial++) {
      const spd = () => {
        const l = [rng.uniform(0.2, 2), rng.normal(), rng.uniform(0.2, 2)]; // lower-triangular factor
        return Float64Array.of(l[0] * l[0], l[0] * l[1], l[0] * l[1], l[1] * l[1] + l[2] * l[2]);
      };
      const s1 = spd();
      const s2 = spd();
      const trProd = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
      const det = (s: Float64Array) => s[0] * s[3] - s[1] * s[2];
      const want = Math.sqrt(trProd + 2 * Math.sqrt(det(s1) * det(s2)));
      expect(Math.abs(traceSqrtProduct(s1, s2, 2) - want)).toBeLessThan(1e-12 * (1 + want));
      const m = [rng.normal(), rng.normal()];
      const fd = frechetDistance(stats([0, 0], s1), stats(m, s2));
      expect(Math.abs(fd - (m[0] ** 2 + m[1] ** 2 + s1[0] + s1[3] + s2[0] + s2[3] - 2 * want))).toBeLessThan(1e-11);
    }
  });

  it('estimated from samples: two draws of one Gaussian are close, a shifted one is ‖Δμ‖² away', () => {
    const rng = new Rng(23);
    const n = 8;
    const q = orthogonal(n, rng);
    const d = Float64Array.from({ length: n }, (_, i) => 0.5 + i * 0.25);
    const l = sqrtPsd(withEigen(q, d, n), n);
    const draw = (count: number, shift: number) => {
      const x = new Float64Array(count * n);
      for (let r = 0; r < count; r++) {
        const z = Float64Array.from({ length: n }, () => rng.normal());
        for (let i = 0; i < n; i++) {
          let s = shift;
          for (let k = 0; k < n; k++) s += l[i * n + k] * z[k];
          x[r * n + i] = s;
        }
      }
      return gaussianStats(x, n);
    };
    const a = draw(20000, 0);
    const b = draw(20000, 0);
    const c = draw(20000, 1);
    // the estimate's bias is ≈ tr(Σ)·n/count per set (≈ 0.02 here): a loose bound for "same"
    expect(frechetDistance(a, b)).toBeLessThan(0.05);
    // ‖Δμ‖² = n·1² = 8, covariance terms as above
    expect(Math.abs(frechetDistance(a, c) - 8)).toBeLessThan(0.3);
  });

  it('gaussianStats gives the unbiased covariance, and stays finite with fewer vectors than dimensions', () => {
    const s = gaussianStats([1, 2, 3, 4, 5, 9], 2); // rows (1,2) (3,4) (5,9)
    expect([...s.mean]).toEqual([3, 5]);
    expect([...s.cov]).toEqual([4, 7, 7, 13]); // Σ(dx²)/2 = 8/2, Σ(dx·dy)/2 = 14/2, Σ(dy²)/2 = 26/2
    const rng = new Rng(29);
    const x = Float64Array.from({ length: 5 * 16 }, () => rng.normal());
    const low = gaussianStats(x, 16); // rank 4 covariance
    const fd = frechetDistance(low, low);
    expect(Number.isFinite(fd)).toBe(true);
    expect(Math.abs(fd)).toBeLessThan(1e-8);
    expect(() => gaussianStats([1, 2, NaN, 4], 2)).toThrow(/non-finite/);
  });
});
