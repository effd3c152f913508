/**
 * Differentiable ops. Each op is its forward (a primitive that dispatches a kernel) followed, within
 * a few lines, by its backward rule: record(primitiveRaw(...), 'name', inputs, rule), with 'name'
 * listed in registry.ts. Higher-level functions (mean, cross-entropy, …) are compositions and need
 * no rule of their own unless fused on purpose (mseLoss, linear). The image ops and the time
 * embedding follow the same recipe in conv.ts, norm.ts, resample.ts and embedding.ts.
 */
import { FlowGpuError } from '../gpu/errors.js';
import {
  binaryRaw,
  broadcastShapes,
  broadcastToRaw,
  concatRaw,
  embedRaw,
  gatherRowsRaw,
  matmulRaw,
  mseFusedRaw,
  normAxes,
  oneHot,
  permuteRaw,
  reduceRaw,
  scatterRowsRaw,
  sliceRaw,
  softmaxBackwardRaw,
  softmaxRaw,
  unaryBackwardRaw,
  unaryRaw,
  type UnaryOp,
} from '../tensor/primitives.js';
import type { Shape, Tensor } from '../tensor/tensor.js';
import { isGradEnabled, record } from './tape.js';

type T = Tensor;
const same = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Sums a broadcast gradient back down to `shape`. */
export function unbroadcast(g: T, shape: Shape): T {
  if (same(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const s = axes.length ? reduceRaw('sum', g, axes, true) : g;
  const out = s.view(shape);
  if (s !== g) s.dispose();
  return out;
}

// ------------------------------------------------------------------ arithmetic with broadcasting

/** Elementwise a + b with broadcasting, differentiable. */
export function add(a: T, b: T): T {
  return record(binaryRaw('add', a, b), 'add', [a, b], (g) => [
    a.requiresGrad ? unbroadcast(g, a.shape) : null,
    b.requiresGrad ? unbroadcast(g, b.shape) : null,
  ]);
}

/** Elementwise a − b with broadcasting, differentiable. */
export function sub(a: T, b: T): T {
  return record(binaryRaw('sub', a, b), 'sub', [a, b], (g) => {
    let gb: T | null = null;
    if (b.requiresGrad) {
      const nb = unaryRaw('neg', g);
      gb = unbroadcast(nb, b.shape);
      if (gb !== nb) nb.dispose();
    }
    return [a.requiresGrad ? unbroadcast(g, a.shape) : null, gb];
  });
}

/** Elementwise a·b with broadcasting, differentiable. */
export function mul(a: T, b: T): T {
  return record(binaryRaw('mul', a, b), 'mul', [a, b], (g) => [
    a.requiresGrad ? reduceTo(binaryRaw('mul', g, b), a.shape) : null,
    b.requiresGrad ? reduceTo(binaryRaw('mul', g, a), b.shape) : null,
  ]);
}

/** Elementwise a/b with broadcasting, differentiable. */
export function div(a: T, b: T): T {
  return record(binaryRaw('div', a, b), 'div', [a, b], (g) => {
    const ga = a.requiresGrad ? reduceTo(binaryRaw('div', g, b), a.shape) : null;
    let gb: T | null = null;
    if (b.requiresGrad) {
      // d(a/b)/db = −a/b²
      const q = binaryRaw('div', a, b);
      const q2 = binaryRaw('div', q, b);
      const t = binaryRaw('mul', g, q2);
      gb = reduceTo(unaryRaw('neg', t), b.shape);
      q.dispose(); q2.dispose(); t.dispose();
    }
    return [ga, gb];
  });
}

/** unbroadcast that owns (and releases) its input. */
function reduceTo(g: T, shape: Shape): T {
  const r = unbroadcast(g, shape);
  if (r !== g) g.dispose();
  return r;
}

// ------------------------------------------------------------------ unary math

function unary(op: UnaryOp, x: T, a = 0, b = 0): T {
  return record(unaryRaw(op, x, a, b), op, [x], (g) => [unaryBackwardRaw(op, x, g, a)]);
}

/** Elementwise −x, differentiable. */
export const neg = (x: T) => unary('neg', x);
/** Elementwise eˣ, differentiable. */
export const exp = (x: T) => unary('exp', x);
/** Elementwise natural logarithm, differentiable. */
export const log = (x: T) => unary('log', x);
/** Elementwise √x, differentiable. */
export const sqrt = (x: T) => unary('sqrt', x);
/** Elementwise |x|, differentiable. */
export const abs = (x: T) => unary('abs', x);
/** Elementwise max(x, 0), differentiable. */
export const relu = (x: T) => unary('relu', x);
/** Elementwise SiLU x·σ(x), differentiable. */
export const silu = (x: T) => unary('silu', x);
/** GELU, tanh approximation (as PyTorch's approximate='tanh'). */
export const gelu = (x: T) => unary('gelu', x);
/** Elementwise logistic σ(x) = 1/(1 + e^−x), differentiable. */
export const sigmoid = (x: T) => unary('sigmoid', x);
/** Elementwise tanh x, differentiable. */
export const tanh = (x: T) => unary('tanh', x);
/** Elementwise sin x, differentiable. */
export const sin = (x: T) => unary('sin', x);
/** Elementwise cos x, differentiable. */
export const cos = (x: T) => unary('cos', x);
/** x^p for a scalar exponent p. */
export const pow = (x: T, p: number) => unary('pow', x, p);
/** Elementwise x², differentiable. */
export const square = (x: T) => unary('pow', x, 2);
/** a·x + b for scalars a, b. */
export const affine = (x: T, a: number, b = 0) => unary('affine', x, a, b);
/** a·x for a scalar a, differentiable. */
export const scale = (x: T, a: number) => unary('affine', x, a, 0);
/** x + b for a scalar b, differentiable. */
export const addScalar = (x: T, b: number) => unary('affine', x, 1, b);

// ------------------------------------------------------------------ matmul

export interface MatmulOpts {
  transA?: boolean;
  transB?: boolean;
}

/**
 * op(A)·op(B), 2-D or batched (leading dimensions broadcast). With C = A'B' (A' = op(A), B' = op(B)):
 * dA' = dC·B'ᵀ and dB' = A'ᵀ·dC, and each is expressed with transpose flags, never a copy.
 */
export function matmul(a: T, b: T, o: MatmulOpts = {}): T {
  const ta = !!o.transA;
  const tb = !!o.transB;
  return record(matmulRaw(a, b, o), 'matmul', [a, b], (g) => [
    a.requiresGrad
      ? reduceTo(ta ? matmulRaw(b, g, { transA: tb, transB: true }) : matmulRaw(g, b, { transB: !tb }), a.shape)
      : null,
    b.requiresGrad
      ? reduceTo(tb ? matmulRaw(g, a, { transA: true, transB: ta }) : matmulRaw(a, g, { transA: !ta }), b.shape)
      : null,
  ]);
}

/**
 * y = act(x·Wᵀ + b) with W [out, in] (PyTorch's layout), bias fused into the matmul epilogue.
 * x may have leading batch dimensions.
 */
export function linear(x: T, w: T, b?: T, act?: 'silu' | 'relu'): T {
  const lead = x.shape.slice(0, -1);
  const x2 = x.rank === 2 ? x : reshape(x, [-1, x.shape[x.rank - 1]]);
  if (act) {
    // No gradient to record (sampling): the activation is fused into the matmul's store. With one,
    // it stays a separate op, whose backward needs the pre-activation.
    const y = isGradEnabled() && [x, w, b].some((t) => t?.requiresGrad)
      ? unary(act, linear(x2, w, b))
      : matmulRaw(x2, w, { transB: true, bias: b, act });
    return x.rank === 2 ? y : reshape(y, [...lead, w.shape[0]]);
  }
  const y = record(matmulRaw(x2, w, { transB: true, bias: b }), 'linear', b ? [x2, w, b] : [x2, w], (g) => [
    x2.requiresGrad ? matmulRaw(g, w) : null,
    w.requiresGrad ? matmulRaw(g, x2, { transA: true }) : null,
    b && b.requiresGrad ? reduceRaw('sum', g, 0) : null,
  ]);
  return x.rank === 2 ? y : reshape(y, [...lead, w.shape[0]]);
}

// ------------------------------------------------------------------ reductions

/**
 * Sum over `axes` (all axes when omitted; negative axes count from the end), optionally keeping
 * them as size 1, differentiable.
 */
export function sum(x: T, axes?: number | readonly number[], keepDims = false): T {
  return record(reduceRaw('sum', x, axes, keepDims), 'sum', [x], (g) => {
    const ax = normAxes(axes, x.rank, 'sum');
    const kd = g.view(x.shape.map((d, i) => (ax.includes(i) ? 1 : d)));
    const out = broadcastToRaw(kd, x.shape);
    kd.dispose();
    return [out];
  });
}

/** Mean over `axes` (all axes when omitted), optionally keeping them as size 1, differentiable. */
export function mean(x: T, axes?: number | readonly number[], keepDims = false): T {
  const ax = normAxes(axes, x.rank, 'mean');
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  const s = sum(x, axes, keepDims);
  return scale(s, 1 / n);
}

/** Maximum over one axis; the gradient goes to the maximal entries (split evenly among ties). */
export function max(x: T, axis: number, keepDims = false): T {
  const ax = normAxes(axis, x.rank, 'max');
  const y = reduceRaw('max', x, ax, keepDims);
  return record(y, 'max', [x], (g) => {
    const kshape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
    const yk = y.view(kshape);
    const gk = g.view(kshape);
    const mask = binaryRaw('eq', x, yk);
    const count = reduceRaw('sum', mask, ax, true);
    const share = binaryRaw('div', gk, count);
    const out = binaryRaw('mul', mask, share);
    for (const t of [yk, gk, mask, count, share]) t.dispose();
    return [out];
  });
}

// ------------------------------------------------------------------ shape and layout

/** The same elements in a new shape (at most one −1, inferred), sharing storage, differentiable. */
export function reshape(x: T, shape: readonly number[]): T {
  const known = shape.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  const holes = shape.filter((d) => d === -1).length;
  if (holes > 1) throw new FlowGpuError(`reshape: at most one -1 in [${shape.join(', ')}]`);
  const s = shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  if (holes && !Number.isInteger(x.size / known)) {
    throw new FlowGpuError(`reshape: cannot reshape [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
  }
  return record(x.view(s), 'reshape', [x], (g) => [g.view(x.shape)]);
}

/** Reorders the axes (output axis i is input axis perm[i]) into a new contiguous tensor, differentiable. */
export function permute(x: T, perm: readonly number[]): T {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return record(permuteRaw(x, perm), 'permute', [x], (g) => [permuteRaw(g, inv)]);
}

/** Swaps two axes (the last two by default). */
export function transpose(x: T, a = -2, b = -1): T {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  const i = a < 0 ? a + r : a;
  const j = b < 0 ? b + r : b;
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return permute(x, perm);
}

/** x broadcast (NumPy rules) to `shape` as a new tensor, differentiable. */
export function broadcastTo(x: T, shape: readonly number[]): T {
  return record(broadcastToRaw(x, shape), 'broadcast_to', [x], (g) => [unbroadcast(g, x.shape)]);
}

/** Joins tensors along `axis` (default 0, negative counts from the end), differentiable. */
export function concat(xs: readonly T[], axis = 0): T {
  const ax = axis < 0 ? axis + xs[0].rank : axis;
  return record(concatRaw(xs, ax), 'concat', xs, (g) => {
    let at = 0;
    return xs.map((x) => {
      const starts = g.shape.map((_, i) => (i === ax ? at : 0));
      const ends = g.shape.map((d, i) => (i === ax ? at + x.shape[ax] : d));
      at += x.shape[ax];
      return x.requiresGrad ? sliceRaw(g, starts, ends) : null;
    });
  });
}

/** x[starts:ends] per axis, unit steps. */
export function slice(x: T, starts: readonly number[], ends: readonly number[]): T {
  return record(sliceRaw(x, starts, ends), 'slice', [x], (g) => [embedRaw(g, x.shape, starts)]);
}

/** table[idx] for a table [V, D] and i32 indices [N] (embedding lookup). */
export function gatherRows(table: T, idx: T): T {
  return record(gatherRowsRaw(table, idx), 'gather_rows', [table], (g) => [scatterRowsRaw(g, idx, table.shape[0])]);
}

// ------------------------------------------------------------------ softmax family and losses

/** Softmax over the last axis, differentiable. */
export function softmax(x: T): T {
  const y = softmaxRaw(x, false);
  return record(y, 'softmax', [x], (g) => [softmaxBackwardRaw(y, g, false)]);
}

/** Log-softmax over the last axis (numerically stable), differentiable. */
export function logSoftmax(x: T): T {
  const y = softmaxRaw(x, true);
  return record(y, 'log_softmax', [x], (g) => [softmaxBackwardRaw(y, g, true)]);
}

/** Mean cross-entropy of logits [N, C] against i32 class labels [N]. */
export function crossEntropy(logits: T, labels: T): T {
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new FlowGpuError(`cross_entropy: logits must be [N, C] and labels [N], got [${logits.shape.join(', ')}] and [${labels.shape.join(', ')}]`);
  }
  const ls = logSoftmax(logits);
  const onehot = oneHot(labels, logits.shape[1]);
  return scale(sum(mul(ls, onehot)), -1 / logits.shape[0]);
}

/** mean((pred − target)²), fused: one pass computes the loss terms and the gradient. */
export function mseLoss(pred: T, target: T): T {
  const { loss, grad } = mseFusedRaw(pred, target);
  const out = record(loss, 'mse_loss', [pred, target], (g) => {
    // grad already holds d loss / d pred; scale by the upstream scalar gradient
    const gp = binaryRaw('mul', grad, g);
    return [gp, target.requiresGrad ? unaryRaw('neg', gp) : null];
  });
  if (!out.requiresGrad) grad.dispose();
  return out;
}

export { broadcastShapes };
