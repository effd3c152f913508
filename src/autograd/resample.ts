/** Nearest 2× up-sampling and 2×2 average pooling as differentiable ops (src/tensor/resample.ts). */
import { avgPool2xBackwardRaw, avgPool2xRaw, upsample2xBackwardRaw, upsample2xRaw } from '../tensor/resample.js';
import type { Tensor } from '../tensor/tensor.js';
import { record } from './tape.js';

/** Nearest-neighbour 2× up-sampling, F.interpolate(x, scale_factor=2, mode='nearest'). */
export function upsample2x(x: Tensor): Tensor {
  return record(upsample2xRaw(x), 'upsample2x', [x], (g) => [upsample2xBackwardRaw(g, x.shape)]);
}

/** 2×2 average pooling with stride 2, F.avg_pool2d(x, 2) (floor mode: an odd last row/column is dropped). */
export function avgPool2x(x: Tensor): Tensor {
  return record(avgPool2xRaw(x), 'avg_pool2x', [x], (g) => [avgPool2xBackwardRaw(g, x.shape)]);
}
