/**
 * conv2d as a differentiable op: the forward and both gradients are the primitives of
 * src/tensor/conv.ts (an im2col and one GEMM per chunk of the batch), the bias gradient a sum.
 */
import { conv2dBackwardRaw, conv2dRaw, type Conv2dOptions } from '../tensor/conv.js';
import { reduceRaw } from '../tensor/primitives.js';
import type { Tensor } from '../tensor/tensor.js';
import { record } from './tape.js';

/**
 * 2-D convolution as torch.nn.functional.conv2d(x, w, b, stride, padding): x [N, C_in, H, W],
 * w [C_out, C_in, k, k], b [C_out] → [N, C_out, OH, OW].
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor, o: Conv2dOptions = {}): Tensor {
  return record(conv2dRaw(x, w, b, o), 'conv2d', b ? [x, w, b] : [x, w], (gy) => {
    const { gx, gw } = conv2dBackwardRaw(gy, x, w, o, { input: x.requiresGrad, weight: w.requiresGrad });
    return [gx, gw, b && b.requiresGrad ? reduceRaw('sum', gy, [0, 2, 3]) : null];
  });
}
