/**
 * The registry of differentiable ops: every name the tape records. `record()` takes only these
 * names (a new op does not compile until it is listed here), and test/op-registry.test.ts checks
 * every one of them, by name, against a float64 reference and float64 central differences, so an
 * op cannot be added without a backward rule and a test of it.
 *
 * Each op is written once, forward and rule side by side:
 *   record(primitiveRaw(...), 'name', inputs, (g) => [gradient of each input, or null])
 * with the primitive in src/tensor/ (see docs/architecture.md, "Adding a differentiable op").
 *
 * Everything else in src/autograd/ops.ts is a composition of these and needs no rule: mean
 * (sum·1/n), square and pow (pow), scale and addScalar (affine), transpose (permute),
 * crossEntropy (log_softmax, mul, sum), and linear with a fused activation when gradients are
 * recorded (linear, then relu or silu).
 */
import { UNARY, type UnaryOp } from '../tensor/opcodes.js';

/** The ops with a rule of their own, by the file that holds them (the unary math ops come from UNARY). */
const NAMED_OPS = [
  // autograd/ops.ts
  'add', 'sub', 'mul', 'div',
  'matmul', 'linear',
  'sum', 'max',
  'reshape', 'permute', 'broadcast_to', 'concat', 'slice', 'gather_rows',
  'softmax', 'log_softmax', 'mse_loss',
  // autograd/conv.ts, norm.ts, resample.ts, embedding.ts
  'conv2d', 'group_norm', 'upsample2x', 'avg_pool2x', 'sinusoidal_embedding',
  // autograd/discrete.ts
  'token_cross_entropy', 'generalized_kl', 'carry_unmasked',
] as const;

/**
 * A differentiable op's name: the unary math ops of kernels/elementwise.wgsl (one rule for all of
 * them in autograd/ops.ts, gx = gy·f'(x) from the same kernel) and the named ops above.
 */
export type DiffOp = UnaryOp | (typeof NAMED_OPS)[number];

/** Every differentiable op, for tests and tools that enumerate them. */
export const DIFF_OPS: readonly DiffOp[] = [...(Object.keys(UNARY) as UnaryOp[]), ...NAMED_OPS];
