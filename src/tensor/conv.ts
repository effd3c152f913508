/**
 * The conv2d primitive, NCHW f32 with PyTorch's semantics and weight layout [C_out, C_in, k, k]:
 * the forward and both gradients, no autograd (src/autograd/conv.ts records them). A convolution is
 * matmuls on an explicit im2col: kernels/conv.wgsl lays the operands out and folds the input
 * gradient back, matmulRaw picks the GEMM kernel.
 */
import convSrc from '../../kernels/conv.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { axpby, fill, kernel, matmulRaw, permuteRaw, registerKernel, sliceRaw } from './primitives.js';
import { empty, gpu, run, sizeOf, type Shape, type Tensor } from './tensor.js';

registerKernel('conv', convSrc);

type T = Tensor;
const fmt = (s: Shape) => `[${s.join(', ')}]`;
const WG = 256;

/** Options of `conv2d`: stride and zero padding, the same along H and W. */
export interface Conv2dOptions {
  /** Same along H and W (default 1). */
  stride?: number;
  /** Zero padding on every side (default 0). */
  padding?: number;
}

interface ConvGeom {
  batch: number; cin: number; h: number; w: number;
  cout: number; oh: number; ow: number; ks: number;
  stride: number; pad: number;
}

/** Output size of a convolution along one axis, as PyTorch: ⌊(n + 2·pad − k)/stride⌋ + 1. */
export function convOutSize(n: number, k: number, stride: number, pad: number): number {
  return Math.floor((n + 2 * pad - k) / stride) + 1;
}

function convGeom(xs: Shape, ws: Shape, o: Conv2dOptions, what: string): ConvGeom {
  const stride = o.stride ?? 1;
  const pad = o.padding ?? 0;
  if (xs.length !== 4) throw new FlowGpuError(`${what}: input must be [N, C, H, W], got ${fmt(xs)}`);
  if (ws.length !== 4 || ws[2] !== ws[3]) throw new FlowGpuError(`${what}: weight must be [C_out, C_in, k, k], got ${fmt(ws)}`);
  if (ws[1] !== xs[1]) throw new FlowGpuError(`${what}: weight ${fmt(ws)} expects ${ws[1]} input channels, the input ${fmt(xs)} has ${xs[1]}`);
  if (!(Number.isInteger(stride) && stride >= 1 && Number.isInteger(pad) && pad >= 0)) {
    throw new FlowGpuError(`${what}: stride must be an integer ≥ 1 and padding an integer ≥ 0, got ${stride} and ${pad}`);
  }
  const [batch, cin, h, w] = xs;
  const [cout, , ks] = ws;
  const oh = convOutSize(h, ks, stride, pad);
  const ow = convOutSize(w, ks, stride, pad);
  if (oh < 1 || ow < 1) throw new FlowGpuError(`${what}: a ${ks}×${ks} kernel with padding ${pad} does not fit the input ${fmt(xs)}`);
  if (ks < 1) throw new FlowGpuError(`${what}: empty kernel ${fmt(ws)}`);
  return { batch, cin, h, w, cout, oh, ow, ks, stride, pad };
}

// The three GEMMs work channels-first over the whole batch, so that each is one matmul whose long
// side is N·OH·OW (a 4×4 level is no longer 32 skinny 16-column products, and the weight gradient
// needs no reduction over the batch):
//   forward      y'[C_out, N·P] = W[C_out, K] · col[K, N·P]           then y = permute(y') + bias, fused
//   input grad   gcol[K, N·P] = Wᵀ · gy'[C_out, N·P]                 then gx = col2im(gcol)
//   weight grad  gW[C_out, K] = gy' · colᵀ                            (col recomputed, not kept)
// with P = OH·OW, K = C_in·k², t' = t permuted to [C, N, P]. A 1×1, stride-1, unpadded convolution
// uses x' as its col and permutes gcol back instead of col2im.

/** Elements per thread of conv_out (kernels/conv.wgsl's SEG). */
const OUT_SEG = 32;

/** A 1×1 convolution with stride 1 and no padding: x' is its own im2col. */
const pointwise = (g: ConvGeom) => g.ks === 1 && g.stride === 1 && g.pad === 0;

/** Bytes an im2col buffer may take (128 MiB): a chunk of the batch is laid out at a time. */
const COL_BYTES = 1 << 27;
let colBytes = COL_BYTES;

/** Caps the im2col buffer at `bytes` (tests force the batch to be split); null restores 128 MiB. */
export function setConvColBytes(bytes: number | null): void {
  colBytes = bytes ?? COL_BYTES;
}

/** The batch split into chunks [n0, n0 + count) whose col buffer [K, count·OH·OW] fits the cap (one for 1×1). */
function chunks(g: ConvGeom): Array<[number, number]> {
  if (pointwise(g)) return [[0, g.batch]];
  const perSample = g.cin * g.ks * g.ks * g.oh * g.ow * 4;
  const limit = Math.min(colBytes, gpu().limits.maxStorageBufferBindingSize ?? colBytes);
  if (perSample > limit) {
    throw new FlowGpuError(`conv2d: one sample's im2col (${perSample} bytes for ${g.cin}×${g.h}×${g.w} with a ${g.ks}×${g.ks} kernel) exceeds the ${limit}-byte limit; use fewer channels or a smaller image`);
  }
  const per = Math.max(1, Math.floor(limit / perSample));
  const out: Array<[number, number]> = [];
  for (let n0 = 0; n0 < g.batch; n0 += per) out.push([n0, Math.min(per, g.batch - n0)]);
  return out;
}

/** An entry of kernels/conv.wgsl on `threads` threads (src: its input; bias for conv_out, if any). */
function convKernel(entry: 'im2col' | 'col2im' | 'conv_out', g: ConvGeom, n0: number, count: number, threads: number,
  src: T, dst: T, label: string, bias?: T): void {
  run(kernel('conv'), entry, {
    inputs: entry === 'conv_out' ? { src, bias: bias ?? src } : { src },
    outputs: { dst },
    params: { n0, count, cin: g.cin, h: g.h, w: g.w, oh: g.oh, ow: g.ow, pad: g.pad, cout: g.cout, total: threads },
    overrides: entry === 'conv_out' ? { HAS_BIAS: bias ? 1 : 0 } : { KS: g.ks, STRIDE: g.stride },
    workgroups: gpu().grid(threads, WG),
    label,
  });
}

/** t viewed as [a, b, p] with its first two axes swapped, viewed as `shape`. */
function swap01(t: T, a: number, b: number, p: number, shape: Shape): T {
  const v = t.view([a, b, p]);
  const sw = permuteRaw(v, [1, 0, 2]);
  v.dispose();
  const out = sw.view(shape);
  sw.dispose();
  return out;
}

/** t [N, C, H, W] → t' [C, N·H·W]. */
function channelsFirst(t: T): T {
  const [n, c, h, w] = t.shape;
  return swap01(t, n, c, h * w, [c, n * h * w]);
}

/** Samples [n0, n0 + count) of a channels-first t' [C, N·P]: [C, count·P] (a view when all of them). */
function sampleCols(t: T, p: number, n0: number, count: number): T {
  if (count * p === t.shape[1]) return t.view(t.shape);
  return sliceRaw(t, [0, n0 * p], [t.shape[0], (n0 + count) * p]);
}

/** The GEMM operand col [K, count·OH·OW] of samples [n0, n0 + count) (x' given for a pointwise conv). */
function colOf(x: T, xT: T | null, g: ConvGeom, n0: number, count: number): T {
  const p = g.oh * g.ow;
  if (xT) return sampleCols(xT, p, n0, count);
  const col = empty([g.cin * g.ks * g.ks, count * p]);
  convKernel('im2col', g, n0, count, col.size / g.ow, x, col, 'conv2d.im2col');
  return col;
}

/** y = conv2d(x, w) + b, forward only. */
export function conv2dRaw(x: T, w: T, bias: T | undefined, o: Conv2dOptions = {}): T {
  const g = convGeom(x.shape, w.shape, o, 'conv2d');
  if (bias && (bias.rank !== 1 || bias.shape[0] !== g.cout)) throw new FlowGpuError(`conv2d: bias must be [${g.cout}], got ${fmt(bias.shape)}`);
  const shape = [g.batch, g.cout, g.oh, g.ow];
  if (sizeOf(shape) === 0) return empty(shape);
  const w2 = w.view([g.cout, g.cin * g.ks * g.ks]);
  const xT = pointwise(g) ? channelsFirst(x) : null;
  const y = empty(shape);
  for (const [n0, count] of chunks(g)) {
    const col = colOf(x, xT, g, n0, count);
    const yT = matmulRaw(w2, col); // [C_out, count·OH·OW]
    col.dispose();
    const runs = count * g.cout * Math.ceil((g.oh * g.ow) / OUT_SEG);
    convKernel('conv_out', g, n0, count, runs, yT, y, 'conv2d.out', bias);
    yT.dispose();
  }
  w2.dispose();
  xT?.dispose();
  return y;
}

/** gx from gy' [C_out, N·OH·OW]. */
function backwardInput(gyT: T, w: T, g: ConvGeom, xShape: Shape): T {
  const w2 = w.view([g.cout, g.cin * g.ks * g.ks]);
  const p = g.oh * g.ow;
  let gx: T;
  if (pointwise(g)) {
    const gxT = matmulRaw(w2, gyT, { transA: true }); // [C_in, N·H·W]: gx'
    gx = swap01(gxT, g.cin, g.batch, g.h * g.w, xShape);
    gxT.dispose();
  } else {
    gx = empty(xShape);
    for (const [n0, count] of chunks(g)) {
      const gyc = sampleCols(gyT, p, n0, count);
      const gcol = matmulRaw(w2, gyc, { transA: true }); // [K, count·OH·OW]
      gyc.dispose();
      convKernel('col2im', g, n0, count, count * g.cin * g.h, gcol, gx, 'conv2d.col2im');
      gcol.dispose();
    }
  }
  w2.dispose();
  return gx;
}

/** gW from x and gy' [C_out, N·OH·OW]: one matmul per chunk of the batch, summed (zeros for an empty batch). */
function backwardWeight(x: T, gyT: T, g: ConvGeom, wShape: Shape): T {
  const p = g.oh * g.ow;
  const xT = pointwise(g) ? channelsFirst(x) : null;
  let gw: T | null = null;
  for (const [n0, count] of chunks(g)) {
    const col = colOf(x, xT, g, n0, count);
    const gyc = sampleCols(gyT, p, n0, count);
    const part = matmulRaw(gyc, col, { transB: true }); // [C_out, K]
    col.dispose();
    gyc.dispose();
    if (gw) axpby(gw, part, 1, 1);
    else gw = part.view(wShape);
    part.dispose();
  }
  xT?.dispose();
  if (!gw) {
    gw = empty(wShape);
    fill(gw, 0);
  }
  return gw;
}

/** The input gradient of conv2d (a transposed convolution of gy with w). */
export function conv2dBackwardInputRaw(gy: T, w: T, xShape: Shape, o: Conv2dOptions = {}): T {
  const g = convGeom(xShape, w.shape, o, 'conv2d.backward_input');
  if (sizeOf(xShape) === 0) return empty(xShape);
  const gyT = channelsFirst(gy);
  const gx = backwardInput(gyT, w, g, xShape);
  gyT.dispose();
  return gx;
}

/** The weight gradient of conv2d: gW = gy' · colᵀ (a sum over the batch and the output pixels). */
export function conv2dBackwardWeightRaw(x: T, gy: T, wShape: Shape, o: Conv2dOptions = {}): T {
  const g = convGeom(x.shape, wShape, o, 'conv2d.backward_weight');
  const gyT = channelsFirst(gy);
  const gw = backwardWeight(x, gyT, g, wShape);
  gyT.dispose();
  return gw;
}

/**
 * Both gradients of conv2d from one gy' (gy permuted channels-first once for the two): gx when
 * `input`, gW when `weight`, null otherwise.
 */
export function conv2dBackwardRaw(gy: T, x: T, w: T, o: Conv2dOptions, want: { input: boolean; weight: boolean }): { gx: T | null; gw: T | null } {
  const g = convGeom(x.shape, w.shape, o, 'conv2d.backward');
  if (!want.input && !want.weight) return { gx: null, gw: null };
  const gyT = channelsFirst(gy);
  const gx = want.input ? backwardInput(gyT, w, g, x.shape) : null;
  const gw = want.weight ? backwardWeight(x, gyT, g, w.shape) : null;
  gyT.dispose();
  return { gx, gw };
}
