/**
 * ops — differentiable tensor operations: each records its backward rule on the tape, so
 * `backward(loss)` differentiates any composition of them. Arithmetic with broadcasting, unary math,
 * matmul / linear, reductions, layout (reshape, permute, concat, slice, gather), softmax and the
 * losses, and the image ops (conv2d, group norm, up-sampling and pooling).
 */
export {
  add, sub, mul, div, neg, exp, log, sqrt, abs, relu, silu, gelu, sigmoid, tanh, sin, cos, pow, square, affine, scale, addScalar,
  matmul, linear, sum, mean, max, reshape, permute, transpose, broadcastTo, concat, slice, gatherRows, softmax, logSoftmax,
  crossEntropy, mseLoss,
} from './ops.js';
export { conv2d } from './conv.js';
export { groupNorm } from './norm.js';
export { upsample2x, avgPool2x } from './resample.js';
export { convOutSize, type Conv2dOptions } from '../tensor/conv.js';
