/**
 * CPU float64 references for the op tests: plain loops over flat row-major arrays, written
 * independently of the GPU code paths (no collapsing of dimensions, no compensated sums, no
 * transposed-operand tricks), so that a shared mistake is unlikely.
 *
 * Error-bound vocabulary used by the tests: EPS = 2⁻²⁴ is the unit roundoff of f32 (half an ulp
 * at 1); a correctly rounded f32 operation is within EPS·|exact| of the exact value.
 */

export const EPS = 2 ** -24;

export const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Multi-index of flat position `i` in `shape`. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const pa = [...Array(r - a.length).fill(1), ...a];
  const pb = [...Array(r - b.length).fill(1), ...b];
  return pa.map((d, i) => {
    if (d !== pb[i] && d !== 1 && pb[i] !== 1) throw new Error(`reference: ${a} and ${b} do not broadcast`);
    return d === 1 ? pb[i] : d;
  });
}

/** x (of `shape`) read at every index of `out` by NumPy broadcasting. */
export function broadcastRef(x: ArrayLike<number>, shape: readonly number[], out: readonly number[]): Float64Array {
  const lead = out.length - shape.length;
  const st = stridesOf(shape);
  const y = new Float64Array(size(out));
  for (let i = 0; i < y.length; i++) {
    const idx = unravel(i, out);
    let j = 0;
    for (let d = 0; d < shape.length; d++) j += (shape[d] === 1 ? 0 : idx[d + lead]) * st[d];
    y[i] = x[j];
  }
  return y;
}

export function binaryRef(
  f: (u: number, v: number) => number,
  a: ArrayLike<number>,
  sa: readonly number[],
  b: ArrayLike<number>,
  sb: readonly number[],
): Float64Array {
  const out = broadcastShape(sa, sb);
  const A = broadcastRef(a, sa, out);
  const B = broadcastRef(b, sb, out);
  return A.map((u, i) => f(u, B[i]));
}

const GELU_C = Math.sqrt(2 / Math.PI);
export const UNARY_REF = {
  neg: (x: number) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  relu: (x: number) => Math.max(x, 0),
  silu: (x: number) => x / (1 + Math.exp(-x)),
  // 0.5·x·(1 + tanh u) written as x·sigmoid(2u): identical, but float64 keeps its precision for
  // negative x too (1 + tanh u cancels there, even in float64: 4e-6 relative at x = −6)
  gelu: (x: number) => x / (1 + Math.exp(-2 * GELU_C * (x + 0.044715 * x * x * x))),
  sigmoid: (x: number) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  sin: Math.sin,
  cos: Math.cos,
} as const;

/** Normalises axes like NumPy (negative from the end), sorted. */
export function axesOf(axes: number | readonly number[] | undefined, rank: number): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : typeof axes === 'number' ? [axes] : [...axes];
  return list.map((a) => (a < 0 ? a + rank : a)).sort((p, q) => p - q);
}

export function reducedShape(shape: readonly number[], axes: readonly number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** Sum or max over `axes` in float64 (plain left-to-right loop). */
export function reduceRef(x: ArrayLike<number>, shape: readonly number[], axes: readonly number[], op: 'sum' | 'max'): Float64Array {
  const kshape = reducedShape(shape, axes, true);
  const ks = stridesOf(kshape);
  const y = new Float64Array(size(kshape)).fill(op === 'sum' ? 0 : -Infinity);
  for (let i = 0; i < size(shape); i++) {
    const idx = unravel(i, shape);
    let j = 0;
    for (let d = 0; d < shape.length; d++) if (!axes.includes(d)) j += idx[d] * ks[d];
    y[j] = op === 'sum' ? y[j] + x[i] : Math.max(y[j], x[i]);
  }
  return y;
}

export function permuteRef(x: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float64Array {
  const out = perm.map((p) => shape[p]);
  const xs = stridesOf(shape);
  const y = new Float64Array(size(out));
  for (let i = 0; i < y.length; i++) {
    const idx = unravel(i, out);
    let j = 0;
    for (let d = 0; d < out.length; d++) j += idx[d] * xs[perm[d]];
    y[i] = x[j];
  }
  return y;
}

export function sliceRef(x: ArrayLike<number>, shape: readonly number[], starts: readonly number[], ends: readonly number[]): Float64Array {
  const st = shape.map((_, i) => starts[i] ?? 0);
  const en = shape.map((d, i) => ends[i] ?? d);
  const out = st.map((s, i) => en[i] - s);
  const xs = stridesOf(shape);
  const y = new Float64Array(size(out));
  for (let i = 0; i < y.length; i++) {
    const idx = unravel(i, out);
    let j = 0;
    for (let d = 0; d < out.length; d++) j += (idx[d] + st[d]) * xs[d];
    y[i] = x[j];
  }
  return y;
}

export function concatRef(xs: readonly ArrayLike<number>[], shapes: readonly number[][], axis: number): Float64Array {
  const out = [...shapes[0]];
  out[axis] = shapes.reduce((s, sh) => s + sh[axis], 0);
  const y = new Float64Array(size(out));
  for (let i = 0; i < y.length; i++) {
    const idx = unravel(i, out);
    let k = 0;
    let pos = idx[axis];
    while (pos >= shapes[k][axis]) pos -= shapes[k++][axis];
    const local = [...idx];
    local[axis] = pos;
    const st = stridesOf(shapes[k]);
    y[i] = xs[k][local.reduce((acc, v, d) => acc + v * st[d], 0)];
  }
  return y;
}

/**
 * Batched C = op(A)·op(B): A stored [..., M, K] ([..., K, M] when ta), B [..., K, N] ([..., N, K]
 * when tb); batch dimensions broadcast. Returns the data and the output shape.
 */
export function matmulRef(
  a: ArrayLike<number>,
  sa: readonly number[],
  b: ArrayLike<number>,
  sb: readonly number[],
  ta = false,
  tb = false,
): { data: Float64Array; shape: number[] } {
  const [ar, ac] = sa.slice(-2);
  const [br, bc] = sb.slice(-2);
  const m = ta ? ac : ar;
  const k = ta ? ar : ac;
  const n = tb ? br : bc;
  const batch = broadcastShape(sa.slice(0, -2), sb.slice(0, -2));
  const nb = size(batch);
  const ba = sa.slice(0, -2);
  const bb = sb.slice(0, -2);
  // which source matrix each output batch reads
  const aIdx = broadcastRef(Float64Array.from({ length: size(ba) }, (_, i) => i), ba, batch);
  const bIdx = broadcastRef(Float64Array.from({ length: size(bb) }, (_, i) => i), bb, batch);
  const c = new Float64Array(nb * m * n);
  for (let z = 0; z < nb; z++) {
    const ao = aIdx[z] * m * k;
    const bo = bIdx[z] * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = ta ? a[ao + p * m + i] : a[ao + i * k + p];
          const bv = tb ? b[bo + j * k + p] : b[bo + p * n + j];
          s += av * bv;
        }
        c[z * m * n + i * n + j] = s;
      }
  }
  return { data: c, shape: [...batch, m, n] };
}

/** Softmax (or log-softmax) over rows of length `cols`, in float64 with the max subtracted. */
export function softmaxRef(x: ArrayLike<number>, cols: number, log: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += cols) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[o + c]);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[o + c] - m);
    for (let c = 0; c < cols; c++) y[o + c] = log ? x[o + c] - m - Math.log(s) : Math.exp(x[o + c] - m) / s;
  }
  return y;
}

/** Mean over rows of −log softmax(logits)[label]. */
export function crossEntropyRef(logits: ArrayLike<number>, labels: readonly number[], classes: number): number {
  const ls = softmaxRef(logits, classes, true);
  let s = 0;
  labels.forEach((l, r) => (s -= ls[r * classes + l]));
  return s / labels.length;
}

export function sumAbs(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]);
  return s;
}

/** table[idx] for a table [V, D] (float64 copy of the rows). */
export function gatherRowsRef(table: ArrayLike<number>, d: number, idx: readonly number[]): Float64Array {
  const y = new Float64Array(idx.length * d);
  idx.forEach((k, n) => {
    for (let j = 0; j < d; j++) y[n * d + j] = table[k * d + j];
  });
  return y;
}

/** mean((p − t)²). */
export function mseRef(p: ArrayLike<number>, t: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += (p[i] - t[i]) ** 2;
  return s / p.length;
}

/** Cross-correlation with zero padding, PyTorch's conv2d: x [N, C_in, H, W], w [C_out, C_in, k, k], bias [C_out] or null. */
export function conv2dRef(
  x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null,
  [n, ci, h, wd]: readonly number[], [co, , k]: readonly number[], s: number, p: number,
): Float64Array {
  const oh = Math.floor((h + 2 * p - k) / s) + 1;
  const ow = Math.floor((wd + 2 * p - k) / s) + 1;
  const y = new Float64Array(n * co * oh * ow);
  for (let b0 = 0; b0 < n; b0++)
    for (let o = 0; o < co; o++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let acc = b ? b[o] : 0;
          for (let c = 0; c < ci; c++)
            for (let ky = 0; ky < k; ky++)
              for (let kx = 0; kx < k; kx++) {
                const iy = oy * s - p + ky;
                const ix = ox * s - p + kx;
                if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
                acc += x[((b0 * ci + c) * h + iy) * wd + ix] * w[((o * ci + c) * k + ky) * k + kx];
              }
          y[((b0 * co + o) * oh + oy) * ow + ox] = acc;
        }
  return y;
}

/** torch.nn.functional.group_norm (biased variance, eps inside the root) of x [N, C, ...]. */
export function groupNormRef(
  x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, shape: readonly number[], groups: number, eps: number,
): Float64Array {
  const [n, c] = shape;
  const hw = size(shape.slice(2));
  const cpg = c / groups;
  const len = cpg * hw;
  const y = new Float64Array(x.length);
  for (let b = 0; b < n; b++)
    for (let g = 0; g < groups; g++) {
      const base = (b * c + g * cpg) * hw;
      let mean = 0;
      for (let i = 0; i < len; i++) mean += x[base + i];
      mean /= len;
      let v = 0;
      for (let i = 0; i < len; i++) v += (x[base + i] - mean) ** 2;
      v /= len;
      const rstd = 1 / Math.sqrt(v + eps);
      for (let i = 0; i < len; i++) {
        const ch = g * cpg + Math.floor(i / hw);
        y[base + i] = (x[base + i] - mean) * rstd * gamma[ch] + beta[ch];
      }
    }
  return y;
}

/** Nearest 2× up-sampling of x [N, C, H, W]. */
export function upsample2xRef(x: ArrayLike<number>, [n, c, h, w]: readonly number[]): Float64Array {
  const y = new Float64Array(n * c * 4 * h * w);
  for (let pl = 0; pl < n * c; pl++)
    for (let i = 0; i < 2 * h; i++)
      for (let j = 0; j < 2 * w; j++) y[(pl * 2 * h + i) * 2 * w + j] = x[(pl * h + (i >> 1)) * w + (j >> 1)];
  return y;
}

/** 2×2 average pooling, stride 2, floor mode, of x [N, C, H, W]. */
export function avgPool2xRef(x: ArrayLike<number>, [n, c, h, w]: readonly number[]): Float64Array {
  const oh = Math.floor(h / 2);
  const ow = Math.floor(w / 2);
  const y = new Float64Array(n * c * oh * ow);
  for (let pl = 0; pl < n * c; pl++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        let s = 0;
        for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) s += x[(pl * h + 2 * i + a) * w + 2 * j + b];
        y[(pl * oh + i) * ow + j] = s / 4;
      }
  return y;
}

/** The sinusoidal time embedding emb(t) exactly as documented in src/nn/embedding.ts: [N] → [N, dim]. */
export function sinusoidalRef(t: ArrayLike<number>, dim: number, scale: number, maxPeriod: number): Float64Array {
  const half = Math.floor(dim / 2);
  const out = new Float64Array(t.length * dim);
  for (let r = 0; r < t.length; r++)
    for (let i = 0; i < half; i++) {
      const a = scale * t[r] * Math.exp((-Math.log(maxPeriod) * i) / half);
      out[r * dim + i] = Math.cos(a);
      out[r * dim + half + i] = Math.sin(a);
    }
  return out;
}
