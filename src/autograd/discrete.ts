/**
 * The losses of discrete flow matching as differentiable ops in the logits: forward and gradient are
 * one fused pass (src/discrete/kernels.ts, kernels/discrete.wgsl), and the rule scales the stored
 * gradient by the upstream scalar (as mseLoss does).
 */
import { generalizedKLRaw, tokenCrossEntropyRaw, type FusedLoss, type TokenSpace } from '../discrete/kernels.js';
import { binaryRaw } from '../tensor/primitives.js';
import type { Tensor } from '../tensor/tensor.js';
import { record } from './tape.js';
import type { DiffOp } from './registry.js';

function fused(op: DiffOp, logits: Tensor, { loss, grad }: FusedLoss): Tensor {
  const out = record(loss, op, [logits], (g) => [binaryRaw('mul', grad, g)]);
  if (!out.requiresGrad) grad.dispose();
  return out;
}

/** Mean cross-entropy of logits [N, d, K] against i32 tokens x1 [N, d] (log-softmax, stable). */
export function tokenCrossEntropy(logits: Tensor, x1: Tensor): Tensor {
  return fused('token_cross_entropy', logits, tokenCrossEntropyRaw(logits, x1));
}

/**
 * The mean generalized-KL loss of the mixture path over the N·d tokens, for logits [N, d, K] of
 * p_{1|t}(· | x_t), data x1 and state x_t (i32 [N, d]) and times t [N]:
 * ℓ = −κ̇/(1−κ)·[p(x_t) − δ(x1 = x_t) + (1 − δ(x1 = x_t))·log p(x1)] (p(mask) = 0).
 */
export function generalizedKL(logits: Tensor, x1: Tensor, xt: Tensor, t: Tensor, space: TokenSpace): Tensor {
  return fused('generalized_kl', logits, generalizedKLRaw(logits, x1, xt, t, space));
}
