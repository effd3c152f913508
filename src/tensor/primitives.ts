/**
 * Primitives: the computations that dispatch a WGSL kernel, with no autograd, for the kernel
 * families every model uses (elementwise, binary, reduce, layout, softmax, loss, and matmul's front
 * door; larger families have their own file beside this one: matmul.ts, conv.ts, norm.ts,
 * resample.ts, embedding.ts). The differentiable ops in src/autograd/ are built from these, forward
 * and backward alike. Each function checks its shapes and throws a FlowGpuError naming the op before
 * anything is dispatched. Op codes (UNARY, BINARY, …) come from opcodes.ts, shared with the WGSL.
 */
import binarySrc from '../../kernels/binary.wgsl';
import elementwiseSrc from '../../kernels/elementwise.wgsl';
import layoutSrc from '../../kernels/layout.wgsl';
import lossSrc from '../../kernels/loss.wgsl';
import reduceSrc from '../../kernels/reduce.wgsl';
import softmaxSrc from '../../kernels/softmax.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import type { KernelFamily } from '../gpu/kernel.js';
import { dispatchMatmul, MATMUL_FAMILIES } from './matmul.js';
import { ACT, BINARY, REDUCE, UNARY, withOpCodes, type Activation, type BinaryOp, type ReduceOp, type UnaryOp } from './opcodes.js';
import { withTrig } from './wgsl-lib.js';
import { empty, gpu, registerFill, run, sizeOf, type Shape, type Tensor } from './tensor.js';

export { ACT, BINARY, REDUCE, UNARY, type Activation, type BinaryOp, type ReduceOp, type UnaryOp };

const SOURCES: Record<string, string> = {
  binary: withOpCodes('binary', binarySrc),
  elementwise: withOpCodes('elementwise', withTrig(elementwiseSrc)),
  layout: layoutSrc,
  loss: lossSrc,
  reduce: withOpCodes('reduce', reduceSrc),
  softmax: softmaxSrc,
};

export function kernel(name: keyof typeof SOURCES | string): KernelFamily {
  const code = SOURCES[name];
  if (!code) throw new FlowGpuError(`unknown kernel family '${name}'`);
  return gpu().family({ name, code });
}

/** Every registered family's WGSL source, by name (the test of other WGSL compilers compiles them all). */
export function kernelSources(): Record<string, string> {
  return { ...SOURCES, ...Object.fromEntries(MATMUL_FAMILIES.map((f) => [f.name, f.code])) };
}

/** Lets other rooms (flow, optim, nn) register their own kernel files. */
export function registerKernel(name: string, code: string): void {
  SOURCES[name] = code;
}

const WG = 256;
const fmt = (s: Shape) => `[${s.join(', ')}]`;

// ------------------------------------------------------------------ elementwise

/**
 * Runs an elementwise entry over n elements: its vec4 twin (`entry4`, the buffers bound as vec4
 * arrays, one thread per 4 elements) when n % 4 == 0, else the scalar entry.
 */
function elementwise(
  entry: 'unary_forward' | 'unary_backward' | 'fill' | 'axpby',
  n: number,
  inputs: Record<string, Tensor>,
  y: Tensor,
  params: { a: number; b: number },
  label: string,
  overrides?: Record<string, number>,
): void {
  const v4 = n % 4 === 0;
  const name = (k: string) => (v4 ? `${k}4` : k);
  run(kernel('elementwise'), name(entry), {
    inputs: Object.fromEntries(Object.entries(inputs).map(([k, t]) => [name(k), t])),
    outputs: { [name('y')]: y },
    params: { n, ...params },
    overrides,
    workgroups: gpu().grid(v4 ? n / 4 : n, WG),
    label,
  });
}

export function unaryRaw(op: UnaryOp, x: Tensor, a = 0, b = 0): Tensor {
  const y = empty(x.shape);
  if (x.size === 0) return y;
  elementwise('unary_forward', x.size, { x }, y, { a, b }, op, { OP: UNARY[op] });
  return y;
}

/** gx = gy · f'(x) */
export function unaryBackwardRaw(op: UnaryOp, x: Tensor, gy: Tensor, a = 0): Tensor {
  const y = empty(x.shape);
  if (x.size === 0) return y;
  elementwise('unary_backward', x.size, { x, gy }, y, { a, b: 0 }, `${op}.backward`, { OP: UNARY[op] });
  return y;
}

export function fill(t: Tensor, value: number): void {
  if (t.dtype !== 'f32') throw new FlowGpuError('fill() takes an f32 tensor');
  if (t.size === 0) return;
  elementwise('fill', t.size, {}, t, { a: value, b: 0 }, 'fill');
}
registerFill(fill);

/** In place: y = a·x + b·y (same number of elements). */
export function axpby(y: Tensor, x: Tensor, a: number, b: number): void {
  if (x.size !== y.size) throw new FlowGpuError(`axpby: x ${fmt(x.shape)} and y ${fmt(y.shape)} differ in size`);
  if (y.size === 0) return;
  elementwise('axpby', y.size, { x }, y, { a, b }, 'axpby');
}

// ------------------------------------------------------------------ broadcasting binary

export function broadcastShapes(a: Shape, b: Shape, what = 'broadcast'): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new FlowGpuError(`${what}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast (dimension ${i}: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Strides of `shape` read as broadcast into `out` (0 where broadcast). */
function broadcastStrides(shape: Shape, out: Shape): number[] {
  const cs = contiguousStrides(shape);
  const off = out.length - shape.length;
  return out.map((d, i) => (i < off || shape[i - off] === 1 ? 0 : cs[i - off]));
}

/**
 * Drops size-1 dimensions and merges neighbours that are contiguous for every operand, so the
 * kernels' index arithmetic runs on the smallest rank that describes the access.
 */
export function collapse(shape: Shape, strides: number[][]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((d, i) => i).filter((i) => shape[i] !== 1);
  let sh = keep.map((i) => shape[i]);
  let st = strides.map((s) => keep.map((i) => s[i]));
  for (let k = sh.length - 2; k >= 0; k--) {
    if (st.every((s) => s[k] === s[k + 1] * sh[k + 1])) {
      sh[k] *= sh[k + 1];
      sh.splice(k + 1, 1);
      for (const s of st) {
        s[k] = s[k + 1];
        s.splice(k + 1, 1);
      }
    }
  }
  if (sh.length === 0) {
    sh = [1];
    st = st.map(() => [0]);
  }
  return { shape: sh, strides: st };
}

const pack8 = (v: number[], what: string) => {
  if (v.length > 8) throw new FlowGpuError(`${what}: more than 8 non-contiguous dimensions are not supported`);
  const out = new Array<number>(8).fill(0);
  v.forEach((x, i) => (out[i] = x));
  return out;
};

export function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new FlowGpuError(`${op}: both operands must be f32 (got ${a.dtype}, ${b.dtype})`);
  const shape = broadcastShapes(a.shape, b.shape, op);
  const c = empty(shape);
  if (c.size === 0) return c;
  const same = sizeOf(a.shape) === c.size && sizeOf(b.shape) === c.size;
  const cs = contiguousStrides(shape);
  const col = collapse(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape), cs]);
  run(kernel('binary'), same ? 'same_shape' : 'broadcast', {
    inputs: { a, b },
    outputs: { c },
    params: {
      n: c.size,
      rank: col.shape.length,
      shape: pack8(col.shape, op),
      sa: pack8(col.strides[0], op),
      sb: pack8(col.strides[1], op),
    },
    overrides: { OP: BINARY[op] },
    workgroups: gpu().grid(c.size, WG),
    label: op,
  });
  return c;
}

// ------------------------------------------------------------------ reductions

export function normAxes(axes: number | readonly number[] | undefined, rank: number, what: string): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => {
    const x = a < 0 ? a + rank : a;
    if (!Number.isInteger(x) || x < 0 || x >= rank) throw new FlowGpuError(`${what}: axis ${a} is out of range for rank ${rank}`);
    return x;
  });
  if (new Set(out).size !== out.length) throw new FlowGpuError(`${what}: repeated axis in [${list.join(', ')}]`);
  return out.sort((p, q) => p - q);
}

function reduceOnce(op: ReduceOp, x: Tensor, outer: number, r: number, inner: number, chunk: number): Tensor {
  const chunks = Math.ceil(r / chunk);
  const y = empty([outer, chunks, inner]);
  run(kernel('reduce'), 'reduce_axis', {
    inputs: { x },
    outputs: { y },
    params: { outer, r, inner, chunk, chunks },
    overrides: { OP: REDUCE[op] },
    workgroups: gpu().grid(outer * chunks * inner, WG),
    label: `${op}[${outer},${r},${inner}]`,
  });
  return y;
}

/** Reduces `x` over `axes` (all by default); keepDims keeps them as size 1. */
export function reduceRaw(op: ReduceOp, x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normAxes(axes, x.rank, op);
  const outShape = keepDims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
  if (ax.some((a) => x.shape[a] === 0)) {
    if (op === 'max') throw new FlowGpuError(`max over an empty axis of ${fmt(x.shape)}`);
    const z = empty(outShape);
    fill(z, 0);
    return z;
  }
  // Nothing to reduce (rank 0, or axes = []): a copy, never a view of x (x may be disposed by its
  // owner, and an in-place update of the result must not write through to x).
  if (ax.length === 0) {
    const y = empty(outShape);
    if (x.size) copyFlat(x, y);
    return y;
  }
  // Merge runs of adjacent reduced axes, then reduce the runs from the innermost out.
  let cur = x;
  let shape = [...x.shape];
  let axesLeft = [...ax];
  const tmp: Tensor[] = [];
  while (axesLeft.length) {
    let hi = axesLeft[axesLeft.length - 1];
    let lo = hi;
    while (axesLeft.includes(lo - 1)) lo--;
    const outer = sizeOf(shape.slice(0, lo));
    const r = sizeOf(shape.slice(lo, hi + 1));
    const inner = sizeOf(shape.slice(hi + 1));
    let res: Tensor;
    // Long axes with few outputs: two passes so that enough threads work.
    if (r > 512 && outer * inner < 4096) {
      const chunk = Math.ceil(Math.sqrt(r));
      const part = reduceOnce(op, cur, outer, r, inner, chunk);
      tmp.push(part);
      res = reduceOnce(op, part, outer, part.shape[1], inner, part.shape[1]);
    } else {
      res = reduceOnce(op, cur, outer, r, inner, r);
    }
    if (cur !== x) tmp.push(cur);
    cur = res;
    shape = [...shape.slice(0, lo), ...shape.slice(hi + 1)];
    axesLeft = axesLeft.filter((a) => a < lo);
    void hi;
    hi = lo;
  }
  for (const t of tmp) t.dispose();
  const out = cur.view(outShape);
  cur.dispose();
  return out;
}

/** y ← x element for element (same number of elements, both contiguous). */
function copyFlat(x: Tensor, y: Tensor): void {
  stridedCopy(x, y, [x.size], [1], 0, [1], 0, 'copy');
}

// ------------------------------------------------------------------ matmul

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor;
  act?: Activation;
}

/**
 * C = op(A)·op(B) for 2-D operands, or batched over leading dimensions (which broadcast).
 * A is [..., M, K] ([..., K, M] with transA), B is [..., K, N] ([..., N, K] with transB).
 */
export function matmulRaw(a: Tensor, b: Tensor, o: MatmulOptions = {}): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new FlowGpuError(`matmul needs operands of rank ≥ 2, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, ka] = o.transA ? [ac, ar] : [ar, ac];
  const [kb, n] = o.transB ? [bc, br] : [br, bc];
  if (ka !== kb) {
    throw new FlowGpuError(
      `matmul: inner dimensions differ: ${fmt(a.shape)}${o.transA ? 'ᵀ' : ''} · ${fmt(b.shape)}${o.transB ? 'ᵀ' : ''} (${ka} vs ${kb})`,
    );
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = broadcastShapes(batchA, batchB, 'matmul batch');
  const nb = sizeOf(batch);
  // Only whole-operand broadcast in the kernel (stride 0); partial broadcast is materialised.
  let aa = a;
  let bb = b;
  const owned: Tensor[] = [];
  if (sizeOf(batchA) !== nb && sizeOf(batchA) !== 1) {
    aa = broadcastToRaw(a, [...batch, ar, ac]);
    owned.push(aa);
  }
  if (sizeOf(batchB) !== nb && sizeOf(batchB) !== 1) {
    bb = broadcastToRaw(b, [...batch, br, bc]);
    owned.push(bb);
  }
  if (o.bias && (o.bias.rank !== 1 || o.bias.shape[0] !== n)) {
    throw new FlowGpuError(`matmul: bias must be [${n}], got ${fmt(o.bias.shape)}`);
  }
  const c = empty([...batch, m, n]);
  if (c.size === 0) return c;
  if (ka === 0) {
    fill(c, 0);
    return c;
  }
  // Kernel choice (general / tiled for GPUs / 8-lane subgroups for CPU drivers) lives in matmul.ts.
  dispatchMatmul({
    a: aa,
    b: bb,
    c,
    bias: o.bias,
    act: o.act ?? 'none',
    m,
    n,
    k: ka,
    nb,
    transA: !!o.transA,
    transB: !!o.transB,
    sa: sizeOf(aa.shape.slice(0, -2)) === 1 ? 0 : m * ka,
    sb: sizeOf(bb.shape.slice(0, -2)) === 1 ? 0 : ka * n,
    sc: m * n,
  });
  for (const t of owned) t.dispose();
  return c;
}

// ------------------------------------------------------------------ layout

/** Elements per thread of kernels/layout.wgsl's strided_copy_rows (its SEG). */
const ROW_SEG = 32;

function stridedCopy(
  x: Tensor,
  y: Tensor,
  shape: Shape,
  sx: number[],
  xOff: number,
  sy: number[],
  yOff: number,
  label: string,
): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const col = collapse(shape, [sx, sy]);
  const i32 = x.dtype === 'i32';
  if (y.dtype !== x.dtype) throw new FlowGpuError(`${label}: cannot copy ${x.dtype} into ${y.dtype}`);
  const r = col.shape.length;
  // contiguous rows of ≥ 8 elements: a thread per 32-element segment (strided_copy_rows)
  const inner = col.shape[r - 1];
  const rows = !i32 && inner >= 8 && col.strides[0][r - 1] === 1 && col.strides[1][r - 1] === 1;
  const threads = rows ? (n / inner) * Math.ceil(inner / ROW_SEG) : n;
  run(kernel('layout'), i32 ? 'strided_copy_i32' : rows ? 'strided_copy_rows' : 'strided_copy', {
    inputs: i32 ? { x_i32: x } : { x },
    outputs: i32 ? { y_i32: y } : { y },
    params: { n: threads, rank: r, x_off: xOff, y_off: yOff, shape: pack8(col.shape, label), sx: pack8(col.strides[0], label), sy: pack8(col.strides[1], label) },
    workgroups: gpu().grid(threads, WG),
    label,
  });
}

export function permuteRaw(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((p, q) => p - q).some((v, i) => v !== i)) {
    throw new FlowGpuError(`permute: [${perm.join(', ')}] is not a permutation of the ${x.rank} axes of ${fmt(x.shape)}`);
  }
  const shape = perm.map((p) => x.shape[p]);
  const y = empty(shape, x.dtype);
  const xs = contiguousStrides(x.shape);
  stridedCopy(x, y, shape, perm.map((p) => xs[p]), 0, contiguousStrides(shape), 0, 'permute');
  return y;
}

export function broadcastToRaw(x: Tensor, shape: Shape): Tensor {
  const out = broadcastShapes(x.shape, shape, 'broadcast_to');
  if (out.length !== shape.length || out.some((d, i) => d !== shape[i])) {
    throw new FlowGpuError(`broadcast_to: ${fmt(x.shape)} cannot be broadcast to ${fmt(shape)}`);
  }
  const y = empty(shape, x.dtype);
  stridedCopy(x, y, shape, broadcastStrides(x.shape, shape), 0, contiguousStrides(shape), 0, 'broadcast_to');
  return y;
}

/** x[starts[0]:ends[0], …] with unit steps; missing trailing axes are taken whole. */
export function sliceRaw(x: Tensor, starts: readonly number[], ends: readonly number[]): Tensor {
  if (starts.length > x.rank || ends.length !== starts.length) throw new FlowGpuError(`slice: bad bounds for ${fmt(x.shape)}`);
  const st = x.shape.map((d, i) => (i < starts.length ? starts[i] : 0));
  const en = x.shape.map((d, i) => (i < ends.length ? ends[i] : d));
  for (let i = 0; i < x.rank; i++) {
    if (!(Number.isInteger(st[i]) && Number.isInteger(en[i]) && 0 <= st[i] && st[i] <= en[i] && en[i] <= x.shape[i])) {
      throw new FlowGpuError(`slice: [${st[i]}, ${en[i]}) is out of range for axis ${i} of ${fmt(x.shape)}`);
    }
  }
  const shape = st.map((s, i) => en[i] - s);
  const y = empty(shape, x.dtype);
  const xs = contiguousStrides(x.shape);
  const off = st.reduce((acc, s, i) => acc + s * xs[i], 0);
  stridedCopy(x, y, shape, xs, off, contiguousStrides(shape), 0, 'slice');
  return y;
}

/** A zero tensor of `shape` with `x` written at `starts` (the backward of slice). */
export function embedRaw(x: Tensor, shape: Shape, starts: readonly number[]): Tensor {
  const y = empty(shape, x.dtype);
  fill(y, 0);
  const ys = contiguousStrides(shape);
  const off = shape.reduce((acc, _, i) => acc + (starts[i] ?? 0) * ys[i], 0);
  stridedCopy(x, y, x.shape, contiguousStrides(x.shape), 0, ys, off, 'embed');
  return y;
}

export function concatRaw(xs: readonly Tensor[], axis: number): Tensor {
  if (!xs.length) throw new FlowGpuError('concat of no tensors');
  const r = xs[0].rank;
  const ax = axis < 0 ? axis + r : axis;
  if (ax < 0 || ax >= r) throw new FlowGpuError(`concat: axis ${axis} out of range for rank ${r}`);
  for (const t of xs) {
    if (t.rank !== r || t.dtype !== xs[0].dtype || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new FlowGpuError(`concat on axis ${ax}: shapes ${xs.map((t) => fmt(t.shape)).join(', ')} differ off that axis`);
    }
  }
  const shape = [...xs[0].shape];
  shape[ax] = xs.reduce((s, t) => s + t.shape[ax], 0);
  const y = empty(shape, xs[0].dtype);
  const ys = contiguousStrides(shape);
  let at = 0;
  for (const t of xs) {
    stridedCopy(t, y, t.shape, contiguousStrides(t.shape), 0, ys, at * ys[ax], 'concat');
    at += t.shape[ax];
  }
  return y;
}

export function gatherRowsRaw(table: Tensor, idx: Tensor): Tensor {
  if (table.rank !== 2 || idx.rank !== 1 || idx.dtype !== 'i32') {
    throw new FlowGpuError(`gather_rows: needs a table [V, D] and i32 indices [N], got ${fmt(table.shape)} and ${idx.dtype}${fmt(idx.shape)}`);
  }
  const [v, d] = table.shape;
  const y = empty([idx.shape[0], d]);
  if (y.size === 0) return y;
  run(kernel('layout'), 'gather_rows', {
    inputs: { x: table, idx },
    outputs: { yi: y },
    params: { n: idx.shape[0], d, v },
    workgroups: gpu().grid(y.size, WG),
    label: 'gather_rows',
  });
  return y;
}

export function scatterRowsRaw(gy: Tensor, idx: Tensor, v: number): Tensor {
  const d = gy.shape[1];
  const y = empty([v, d]);
  if (y.size === 0) return y;
  run(kernel('layout'), 'scatter_rows', {
    inputs: { x: gy, idx },
    outputs: { yi: y },
    params: { n: idx.shape[0], d, v },
    workgroups: gpu().grid(y.size, WG),
    label: 'scatter_rows',
  });
  return y;
}

/** [N] i32 → [N, C] f32; indices outside 0..C−1 give zero rows. */
export function oneHot(idx: Tensor, classes: number): Tensor {
  if (idx.rank !== 1 || idx.dtype !== 'i32') throw new FlowGpuError(`one_hot: needs i32 indices [N], got ${idx.dtype}${fmt(idx.shape)}`);
  const y = empty([idx.shape[0], classes]);
  if (y.size === 0) return y;
  run(kernel('layout'), 'one_hot', {
    inputs: { idx },
    outputs: { yi: y },
    params: { n: idx.shape[0], d: classes, v: classes },
    workgroups: gpu().grid(y.size, WG),
    label: 'one_hot',
  });
  return y;
}

// ------------------------------------------------------------------ softmax

export function softmaxRaw(x: Tensor, log: boolean): Tensor {
  const cols = x.shape[x.rank - 1] ?? 1;
  const rows = x.size / Math.max(cols, 1);
  const y = empty(x.shape);
  if (y.size === 0) return y;
  run(kernel('softmax'), 'forward', {
    inputs: { x },
    outputs: { y },
    params: { rows, cols },
    overrides: { LOG: log ? 1 : 0 },
    workgroups: gpu().grid(rows, 64),
    label: log ? 'log_softmax' : 'softmax',
  });
  return y;
}

/** From the saved output `y` and the output gradient `g`. */
export function softmaxBackwardRaw(y: Tensor, g: Tensor, log: boolean): Tensor {
  const cols = y.shape[y.rank - 1] ?? 1;
  const rows = y.size / Math.max(cols, 1);
  const gx = empty(y.shape);
  if (gx.size === 0) return gx;
  run(kernel('softmax'), 'backward', {
    inputs: { x: y, g },
    outputs: { y: gx },
    params: { rows, cols },
    overrides: { LOG: log ? 1 : 0 },
    workgroups: gpu().grid(rows, 64),
    label: log ? 'log_softmax.backward' : 'softmax.backward',
  });
  return gx;
}

// ------------------------------------------------------------------ fused MSE

/** loss = mean((pred − target)²) and dloss/dpred = 2(pred − target)/n, in one pass plus a tiny sum. */
export function mseFusedRaw(pred: Tensor, target: Tensor): { loss: Tensor; grad: Tensor } {
  if (pred.shape.length !== target.shape.length || pred.shape.some((d, i) => d !== target.shape[i])) {
    throw new FlowGpuError(`mse_loss: prediction ${fmt(pred.shape)} and target ${fmt(target.shape)} must have the same shape`);
  }
  const n = pred.size;
  if (n === 0) throw new FlowGpuError('mse_loss of empty tensors');
  const grad = empty(pred.shape);
  // ≥ 16 elements per thread: each workgroup's reduction tree costs 9 barriers (see loss.wgsl)
  const groups = Math.min(64, Math.ceil(n / (16 * WG)));
  const partial = empty([groups]);
  run(kernel('loss'), 'mse_fused', {
    inputs: { pred, tgt: target },
    outputs: { grad, partial },
    params: { n, inv_n: 1 / n },
    workgroups: [groups],
    label: 'mse_fused',
  });
  const loss = reduceRaw('sum', partial);
  partial.dispose();
  return { loss, grad };
}

