/**
 * Image ops, NCHW f32, with PyTorch's semantics and layouts: conv2d (weight [C_out, C_in, k, k]),
 * group norm, 2× nearest up-sampling and 2×2 average pooling. Each op's forward dispatch is followed
 * by its backward rule; the kernels are kernels/conv.wgsl (one implicit GEMM for the forward, the
 * input gradient and the weight gradient), kernels/norm.wgsl and kernels/resample.wgsl.
 */
import convSrc from '../../kernels/conv.wgsl';
import normSrc from '../../kernels/norm.wgsl';
import resampleSrc from '../../kernels/resample.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { fill, kernel, reduceRaw, registerKernel } from '../tensor/primitives.js';
import { empty, gpu, run, type Shape, type Tensor } from '../tensor/tensor.js';
import { record } from './tape.js';

registerKernel('conv', convSrc);
registerKernel('norm', normSrc);
registerKernel('resample', resampleSrc);

type T = Tensor;
const fmt = (s: Shape) => `[${s.join(', ')}]`;
const TILE = 64;
const WG = 256;

// ------------------------------------------------------------------ conv2d

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

function convDispatch(mode: 0 | 1 | 2, g: ConvGeom, src: T, wt: T, bias: T | undefined, dst: T,
  gemm: { m: number; n: number; k: number; z: number; kchunk: number }, label: string): void {
  const maxWg = gpu().limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const wx = Math.ceil(gemm.n / TILE);
  const wy = Math.ceil(gemm.m / TILE);
  if (wx > maxWg || wy > maxWg || gemm.z > maxWg) {
    throw new FlowGpuError(`${label}: the GEMM ${gemm.m}×${gemm.n} is too large for one dispatch (use a smaller batch)`);
  }
  run(kernel('conv'), 'conv_gemm', {
    inputs: { src, wt, bias: bias ?? wt },
    outputs: { dst },
    params: { ...g, gm: gemm.m, gn: gemm.n, gk: gemm.k, kchunk: gemm.kchunk },
    overrides: { MODE: mode, HAS_BIAS: bias ? 1 : 0 },
    workgroups: [wx, wy, gemm.z],
    label,
  });
}

/** y = conv2d(x, w) + b, forward only. */
export function conv2dRaw(x: T, w: T, bias: T | undefined, o: Conv2dOptions = {}): T {
  const g = convGeom(x.shape, w.shape, o, 'conv2d');
  if (bias && (bias.rank !== 1 || bias.shape[0] !== g.cout)) throw new FlowGpuError(`conv2d: bias must be [${g.cout}], got ${fmt(bias.shape)}`);
  const y = empty([g.batch, g.cout, g.oh, g.ow]);
  if (y.size === 0) return y;
  const k = g.cin * g.ks * g.ks;
  convDispatch(0, g, x, w, bias, y, { m: g.batch * g.oh * g.ow, n: g.cout, k, z: 1, kchunk: k }, 'conv2d');
  return y;
}

/** The input gradient of conv2d (a transposed convolution of gy with w). */
export function conv2dBackwardInputRaw(gy: T, w: T, xShape: Shape, o: Conv2dOptions = {}): T {
  const g = convGeom(xShape, w.shape, o, 'conv2d.backward_input');
  const gx = empty(xShape);
  if (gx.size === 0) return gx;
  const k = g.cout * g.ks * g.ks;
  convDispatch(1, g, gy, w, undefined, gx, { m: g.batch * g.h * g.w, n: g.cin, k, z: 1, kchunk: k }, 'conv2d.backward_input');
  return gx;
}

/**
 * The weight gradient of conv2d: gw[co, ci, ky, kx] = Σ_{n,oy,ox} gy·x(shifted). The reduction over
 * N·OH·OW is long and the output small, so it is split into slices summed afterwards (split-K).
 */
export function conv2dBackwardWeightRaw(x: T, gy: T, wShape: Shape, o: Conv2dOptions = {}): T {
  const g = convGeom(x.shape, wShape, o, 'conv2d.backward_weight');
  const m = g.cout;
  const n = g.cin * g.ks * g.ks;
  const k = g.batch * g.oh * g.ow;
  if (k === 0) {
    const z = empty(wShape);
    fill(z, 0);
    return z;
  }
  const tiles = Math.ceil(m / TILE) * Math.ceil(n / TILE);
  // Aim for ≥ 128 workgroups, but keep every slice at least 256 long.
  let slices = Math.max(1, Math.min(Math.ceil(128 / tiles), Math.floor(k / 256)));
  const kchunk = Math.ceil(Math.ceil(k / slices) / 16) * 16;
  slices = Math.ceil(k / kchunk);
  const part = empty([slices, m, n]);
  convDispatch(2, g, x, gy, undefined, part, { m, n, k, z: slices, kchunk }, 'conv2d.backward_weight');
  if (slices === 1) {
    const gw = part.view(wShape);
    part.dispose();
    return gw;
  }
  const sum = reduceRaw('sum', part, 0);
  part.dispose();
  const gw = sum.view(wShape);
  sum.dispose();
  return gw;
}

/**
 * 2-D convolution as torch.nn.functional.conv2d(x, w, b, stride, padding): x [N, C_in, H, W],
 * w [C_out, C_in, k, k], b [C_out] → [N, C_out, OH, OW].
 */
export function conv2d(x: T, w: T, b?: T, o: Conv2dOptions = {}): T {
  const y = conv2dRaw(x, w, b, o);
  return record(y, 'conv2d', b ? [x, w, b] : [x, w], (gy) => [
    x.requiresGrad ? conv2dBackwardInputRaw(gy, w, x.shape, o) : null,
    w.requiresGrad ? conv2dBackwardWeightRaw(x, gy, w.shape, o) : null,
    b && b.requiresGrad ? reduceRaw('sum', gy, [0, 2, 3]) : null,
  ]);
}

// ------------------------------------------------------------------ group norm

function groupGrid(n: number): [number, number, number] {
  return gpu().grid(n, 1);
}

/**
 * torch.nn.functional.group_norm(x, groups, weight, bias, eps): x [N, C, ...] (any spatial rank,
 * contiguous), weight and bias [C]. Mean and biased variance per (sample, group of C/G channels).
 */
export function groupNorm(x: T, groups: number, weight: T, bias: T, eps = 1e-5): T {
  if (x.rank < 2) throw new FlowGpuError(`group_norm: input must be [N, C, ...], got ${fmt(x.shape)}`);
  const [batch, c] = x.shape;
  if (!(Number.isInteger(groups) && groups >= 1 && c % groups === 0)) {
    throw new FlowGpuError(`group_norm: ${c} channels cannot be split into ${groups} groups`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t.rank !== 1 || t.shape[0] !== c) throw new FlowGpuError(`group_norm: ${name} must be [${c}], got ${fmt(t.shape)}`);
  }
  const hw = x.size / Math.max(batch * c, 1);
  const params = { batch, c, groups, hw, eps };
  const y = empty(x.shape);
  if (y.size === 0) return y;
  const stats = empty([batch * groups, 2]);
  run(kernel('norm'), 'gn_forward', {
    inputs: { x, gamma: weight, beta: bias },
    outputs: { y, stats },
    params,
    workgroups: groupGrid(batch * groups),
    label: 'group_norm',
  });
  const out = record(y, 'group_norm', [x, weight, bias], (gy) => {
    let gx: T | null = null;
    if (x.requiresGrad) {
      gx = empty(x.shape);
      run(kernel('norm'), 'gn_backward_input', {
        inputs: { x, gy, gamma: weight, stats_in: stats },
        outputs: { gx },
        params,
        workgroups: groupGrid(batch * groups),
        label: 'group_norm.backward_input',
      });
    }
    let gw: T | null = null;
    let gb: T | null = null;
    if (weight.requiresGrad || bias.requiresGrad) {
      gw = empty([c]);
      gb = empty([c]);
      run(kernel('norm'), 'gn_backward_params', {
        inputs: { x, gy, stats_in: stats },
        outputs: { ggamma: gw, gbeta: gb },
        params,
        workgroups: groupGrid(c),
        label: 'group_norm.backward_params',
      });
    }
    return [gx, gw, gb];
  });
  if (!out.requiresGrad) stats.dispose();
  return out;
}

// ------------------------------------------------------------------ resampling

function resample(entry: string, x: T, shape: number[], p: { h: number; w: number; oh: number; ow: number }, label: string): T {
  const y = empty(shape);
  if (y.size === 0) return y;
  run(kernel('resample'), entry, {
    inputs: { x },
    outputs: { y },
    params: { planes: shape[0] * shape[1], ...p },
    workgroups: gpu().grid(y.size, WG),
    label,
  });
  return y;
}

function check4(x: T, what: string): number[] {
  if (x.rank !== 4) throw new FlowGpuError(`${what}: input must be [N, C, H, W], got ${fmt(x.shape)}`);
  return x.shape;
}

/** Nearest-neighbour 2× up-sampling, F.interpolate(x, scale_factor=2, mode='nearest'). */
export function upsample2x(x: T): T {
  const [n, c, h, w] = check4(x, 'upsample2x');
  const dims = { h, w, oh: 2 * h, ow: 2 * w };
  const y = resample('up_forward', x, [n, c, 2 * h, 2 * w], dims, 'upsample2x');
  return record(y, 'upsample2x', [x], (g) => [resample('up_backward', g, [n, c, h, w], dims, 'upsample2x.backward')]);
}

/** 2×2 average pooling with stride 2, F.avg_pool2d(x, 2) (floor mode: an odd last row/column is dropped). */
export function avgPool2x(x: T): T {
  const [n, c, h, w] = check4(x, 'avg_pool2x');
  const oh = Math.floor(h / 2);
  const ow = Math.floor(w / 2);
  if (oh < 1 || ow < 1) throw new FlowGpuError(`avg_pool2x: input ${fmt(x.shape)} is smaller than 2×2`);
  const dims = { h, w, oh, ow };
  const y = resample('pool_forward', x, [n, c, oh, ow], dims, 'avg_pool2x');
  return record(y, 'avg_pool2x', [x], (g) => [resample('pool_backward', g, [n, c, h, w], dims, 'avg_pool2x.backward')]);
}
