/**
 * Float64 CPU references of discrete flow matching (src/discrete, kernels/discrete.wgsl), written
 * from the formulas of issue 13, independently of the kernels: log-softmax, the cross-entropy and
 * generalized-KL losses, the mixture path's conditional, the exact posterior of a small pmf by
 * enumeration and the exact generalized-KL ELBO by quadrature.
 */

/** log-softmax of row r (length k) of z, float64. */
export function logSoftmaxRow(z: ArrayLike<number>, r: number, k: number): Float64Array {
  let m = -Infinity;
  for (let j = 0; j < k; j++) m = Math.max(m, z[r * k + j]);
  let s = 0;
  for (let j = 0; j < k; j++) s += Math.exp(z[r * k + j] - m);
  const lse = m + Math.log(s);
  return Float64Array.from({ length: k }, (_, j) => z[r * k + j] - lse);
}

/** Mean cross-entropy of logits [M, k] against x1 [M]. */
export function ceRef(z: ArrayLike<number>, x1: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let r = 0; r < x1.length; r++) s -= logSoftmaxRow(z, r, k)[x1[r]];
  return s / x1.length;
}

/** The per-token generalized-KL ℓ of logits [M, k] (token r in row ⌊r/d⌋ with time t[⌊r/d⌋]). */
export function gklTermsRef(z: ArrayLike<number>, x1: ArrayLike<number>, xt: ArrayLike<number>, t: ArrayLike<number>, d: number, k: number, n = 1): Float64Array {
  return Float64Array.from({ length: x1.length }, (_, r) => {
    const lp = logSoftmaxRow(z, r, k);
    const tt = t[Math.floor(r / d)];
    const c = (n * tt ** (n - 1)) / (1 - tt ** n);
    const a = xt[r] < k ? Math.exp(lp[xt[r]]) : 0;
    const same = x1[r] === xt[r] ? 1 : 0;
    return -c * (a - same + (same ? 0 : lp[x1[r]]));
  });
}

/** The mean generalized-KL loss. */
export function gklRef(z: ArrayLike<number>, x1: ArrayLike<number>, xt: ArrayLike<number>, t: ArrayLike<number>, d: number, k: number, n = 1): number {
  const l = gklTermsRef(z, x1, xt, t, d, k, n);
  return l.reduce((a, b) => a + b, 0) / l.length;
}

/** P(x_t^i = v | x_1^i = y) of the mixture path at κ (v = k is the mask). */
export function pathCond(v: number, y: number, kappa: number, k: number, mask: boolean): number {
  const p0 = mask ? (v === k ? 1 : 0) : v < k ? 1 / k : 0;
  return (1 - kappa) * p0 + kappa * (v === y ? 1 : 0);
}

/** The tokens of state index s of [k]^d (first token most significant). */
export function tokensOf(s: number, d: number, k: number): number[] {
  return Array.from({ length: d }, (_, i) => Math.floor(s / k ** (d - 1 - i)) % k);
}

/** The exact posterior marginals p(x_1^i = · | x_t) [d][k] of pmf q over [k]^d at κ. */
export function exactPosteriorRef(q: ArrayLike<number>, xt: number[], kappa: number, k: number, mask: boolean): Float64Array[] {
  const d = xt.length;
  const out = Array.from({ length: d }, () => new Float64Array(k));
  let total = 0;
  for (let s = 0; s < q.length; s++) {
    const tok = tokensOf(s, d, k);
    let w = q[s];
    for (let j = 0; j < d; j++) w *= pathCond(xt[j], tok[j], kappa, k, mask);
    total += w;
    for (let j = 0; j < d; j++) out[j][tok[j]] += w;
  }
  for (const o of out) for (let j = 0; j < k; j++) o[j] /= total;
  return out;
}

/**
 * The exact ELBO −∫₀^T E_{x_t | x1}[Σ_i ℓ_i] dt of the exact-posterior model at x1, by enumerating x_t
 * and Gauss–Legendre quadrature on [0, T] (linear κ).
 */
export function exactElboRef(q: ArrayLike<number>, x1: number[], k: number, mask: boolean, tMax: number, nodes = 400): number {
  const d = x1.length;
  const v = k + (mask ? 1 : 0);
  // composite midpoint rule on a t grid refined towards T (the integrand varies fastest there)
  let integral = 0;
  for (let i = 0; i < nodes; i++) {
    // u ↦ t = T·(1 − (1 − u)²) clusters nodes near T; dt = 2T(1 − u) du
    const u = (i + 0.5) / nodes;
    const t = tMax * (1 - (1 - u) ** 2);
    const jac = 2 * tMax * (1 - u);
    let e = 0;
    for (let st = 0; st < v ** d; st++) {
      const xt = tokensOf(st, d, v);
      let pr = 1;
      for (let j = 0; j < d; j++) pr *= pathCond(xt[j], x1[j], t, k, mask);
      if (pr === 0) continue;
      const post = exactPosteriorRef(q, xt, t, k, mask);
      const c = 1 / (1 - t);
      for (let j = 0; j < d; j++) {
        const a = xt[j] < k ? post[j][xt[j]] : 0;
        const same = xt[j] === x1[j] ? 1 : 0;
        e += pr * -c * (a - same + (same ? 0 : Math.log(post[j][x1[j]])));
      }
    }
    integral += (e * jac) / nodes;
  }
  return -integral;
}
