/**
 * The resampling primitives, NCHW f32 with PyTorch's semantics: nearest 2× up-sampling and 2×2
 * average pooling, each with its backward, no autograd (src/autograd/resample.ts records them).
 * Kernels: kernels/resample.wgsl.
 */
import resampleSrc from '../../kernels/resample.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { kernel, registerKernel } from './primitives.js';
import { empty, gpu, run, type Shape, type Tensor } from './tensor.js';

registerKernel('resample', resampleSrc);

type T = Tensor;
const fmt = (s: Shape) => `[${s.join(', ')}]`;
const WG = 256;

/** An entry of kernels/resample.wgsl from x to a new y of `shape`; h, w: the forward op's input size, oh, ow: its output size. */
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

function check4(shape: Shape, what: string): number[] {
  if (shape.length !== 4) throw new FlowGpuError(`${what}: input must be [N, C, H, W], got ${fmt(shape)}`);
  return [...shape];
}

/** F.interpolate(x, scale_factor=2, mode='nearest'): [N, C, H, W] → [N, C, 2H, 2W]. */
export function upsample2xRaw(x: T): T {
  const [n, c, h, w] = check4(x.shape, 'upsample2x');
  return resample('up_forward', x, [n, c, 2 * h, 2 * w], { h, w, oh: 2 * h, ow: 2 * w }, 'upsample2x');
}

/** The input gradient of upsample2x: each 2×2 block of gy summed. */
export function upsample2xBackwardRaw(gy: T, xShape: Shape): T {
  const [n, c, h, w] = check4(xShape, 'upsample2x.backward');
  return resample('up_backward', gy, [n, c, h, w], { h, w, oh: 2 * h, ow: 2 * w }, 'upsample2x.backward');
}

/** The output size of avg_pool2x for an input [N, C, H, W] (floor mode). */
function pooledDims(xShape: Shape, what: string) {
  const [n, c, h, w] = check4(xShape, what);
  const oh = Math.floor(h / 2);
  const ow = Math.floor(w / 2);
  if (oh < 1 || ow < 1) throw new FlowGpuError(`${what}: input ${fmt(xShape)} is smaller than 2×2`);
  return { n, c, dims: { h, w, oh, ow } };
}

/** F.avg_pool2d(x, 2): 2×2 blocks averaged, stride 2; an odd last row/column is dropped (floor mode). */
export function avgPool2xRaw(x: T): T {
  const { n, c, dims } = pooledDims(x.shape, 'avg_pool2x');
  return resample('pool_forward', x, [n, c, dims.oh, dims.ow], dims, 'avg_pool2x');
}

/** The input gradient of avg_pool2x: ¼·gy spread over each block, 0 in a dropped odd row/column. */
export function avgPool2xBackwardRaw(gy: T, xShape: Shape): T {
  const { n, c, dims } = pooledDims(xShape, 'avg_pool2x.backward');
  return resample('pool_backward', gy, [n, c, dims.h, dims.w], dims, 'avg_pool2x.backward');
}
