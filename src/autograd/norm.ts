/**
 * Group norm as a differentiable op (src/tensor/norm.ts: the forward keeps each group's mean and
 * 1/σ, which both backward kernels read; they are released with the node, or at once when no
 * gradient is recorded).
 */
import { groupNormBackwardInputRaw, groupNormBackwardParamsRaw, groupNormRaw } from '../tensor/norm.js';
import type { Tensor } from '../tensor/tensor.js';
import { record } from './tape.js';

/**
 * torch.nn.functional.group_norm(x, groups, weight, bias, eps): x [N, C, ...] (any spatial rank,
 * contiguous), weight and bias [C]. Mean and biased variance per (sample, group of C/G channels).
 */
export function groupNorm(x: Tensor, groups: number, weight: Tensor, bias: Tensor, eps = 1e-5): Tensor {
  const { y, stats } = groupNormRaw(x, groups, weight, bias, eps);
  const out = record(y, 'group_norm', [x, weight, bias], (gy) => {
    const gx = x.requiresGrad ? groupNormBackwardInputRaw(x, gy, weight, stats, groups, eps) : null;
    const p = weight.requiresGrad || bias.requiresGrad ? groupNormBackwardParamsRaw(x, gy, stats, groups, eps) : null;
    return [gx, p?.gw ?? null, p?.gb ?? null];
  });
  if (!out.requiresGrad) stats.dispose();
  return out;
}
