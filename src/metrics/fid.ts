/**
 * Fréchet distance between two sets of feature vectors, each summarised by a Gaussian (mean μ,
 * covariance Σ), as in FID (Heusel et al. 2017):
 *
 *   FD = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2·tr (Σ₁^½ Σ₂ Σ₁^½)^½
 *
 * (tr (Σ₁Σ₂)^½ equals tr (Σ₁^½ Σ₂ Σ₁^½)^½: the two matrices are similar; the second one is symmetric
 * positive semi-definite, so its square root comes from a symmetric eigendecomposition instead of
 * the general, non-symmetric sqrtm that scipy uses.) Everything is float64 on the CPU: the feature
 * dimension is small (≤ 128 for flowgpu's MNIST classifier), and the trace of a square root is
 * sensitive to rounding when the two covariances are close.
 *
 * Eigendecomposition: cyclic Jacobi (Golub & Van Loan, Matrix Computations, 8.5): sweeps of plane
 * rotations that zero each off-diagonal entry in turn until the off-diagonal mass is below
 * 1e-15 of the total. Quadratically convergent; for n = 128 about 8–10 sweeps of ≈ n³ flops each.
 * Eigenvalues below 1e-13 of the largest (rounding noise of a PSD matrix of rank < n: fewer
 * samples than dimensions, or dead features; it may even be negative) are taken as 0 before the
 * square root: √ would turn noise of 1e-16·λ_max into 1e-8·√λ_max per eigenvalue.
 */
import { FlowGpuError } from '../gpu/errors.js';

/** Mean and unbiased covariance (row-major [dim, dim]) of a set of vectors, as the Fréchet distance uses. */
export interface GaussianStats {
  dim: number;
  /** Number of vectors the statistics come from. */
  count: number;
  mean: Float64Array;
  /** Row-major [dim, dim], unbiased (divided by count − 1), symmetric. */
  cov: Float64Array;
}

/** Mean and unbiased covariance of `count` row vectors of width `dim` (row-major). */
export function gaussianStats(x: ArrayLike<number>, dim: number): GaussianStats {
  if (!Number.isInteger(dim) || dim < 1 || x.length % dim !== 0) {
    throw new FlowGpuError(`gaussianStats: ${x.length} values do not form rows of width ${dim}`);
  }
  const n = x.length / dim;
  if (n < 2) throw new FlowGpuError(`gaussianStats: a covariance needs at least 2 vectors, got ${n}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += x[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= n;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) {
      const v = x[i * dim + j];
      if (!Number.isFinite(v)) throw new FlowGpuError(`gaussianStats: vector ${i} has a non-finite value (${v})`);
      row[j] = v - mean[j];
    }
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      for (let b = a; b < dim; b++) cov[a * dim + b] += ra * row[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / (n - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { dim, count: n, mean, cov };
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix a [n, n] (row-major; only its symmetric part
 * is used): a = V·diag(values)·Vᵀ with V's columns the eigenvectors (`vectors` row-major [n, n],
 * column k belongs to values[k]). Values are in no particular order.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  if (a.length !== n * n) throw new FlowGpuError(`symmetricEigen: ${a.length} values are not a ${n}×${n} matrix`);
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += A[i] * A[i];
  const tol = 1e-30 * total;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] * A[p * n + q];
    if (off <= tol || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (apq === 0) continue;
        const app = A[p * n + p];
        const aqq = A[q * n + q];
        // the rotation angle with tan 2θ = 2a_pq / (a_qq − a_pp), taking the smaller root for stability
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // A ← Jᵀ A J, columns then rows
          const akp = A[k * n + p];
          const akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k];
          const aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        A[p * n + q] = A[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p];
          const vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = A[i * n + i];
  return { values, vectors: V };
}

/** √λ, with λ below 1e-13·λ_max (rounding noise) taken as 0 (see the file comment). */
function sqrtEigenvalues(values: Float64Array): Float64Array {
  let top = 0;
  for (const v of values) top = Math.max(top, v);
  const floor = 1e-13 * top;
  return values.map((v) => (v > floor ? Math.sqrt(v) : 0));
}

/** The symmetric PSD square root of a symmetric PSD matrix (see the file comment for tiny eigenvalues). */
export function sqrtPsd(a: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors: V } = symmetricEigen(a, n);
  const roots = sqrtEigenvalues(values);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const r = roots[k];
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = V[i * n + k] * r;
      if (vik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * V[j * n + k];
    }
  }
  return out;
}

function matmulSquare(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  }
  return out;
}

/** tr (Σ₁^½ Σ₂ Σ₁^½)^½ = tr (Σ₁Σ₂)^½ for symmetric PSD Σ₁, Σ₂. */
export function traceSqrtProduct(s1: ArrayLike<number>, s2: ArrayLike<number>, n: number): number {
  const r = sqrtPsd(s1, n);
  const m = matmulSquare(matmulSquare(r, Float64Array.from(s2), n), r, n);
  let t = 0;
  for (const r of sqrtEigenvalues(symmetricEigen(m, n).values)) t += r;
  return t;
}

/** Fréchet distance between two Gaussians (see the file comment); ≥ 0 up to rounding. */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  if (a.dim !== b.dim) throw new FlowGpuError(`frechetDistance: feature dimensions differ (${a.dim} and ${b.dim})`);
  const n = a.dim;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (a.mean[i] - b.mean[i]) ** 2;
  let tr = 0;
  for (let i = 0; i < n; i++) tr += a.cov[i * n + i] + b.cov[i * n + i];
  return d2 + tr - 2 * traceSqrtProduct(a.cov, b.cov, n);
}
