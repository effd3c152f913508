/**
 * The group-norm primitive, torch.nn.functional.group_norm's semantics: the forward (which also
 * keeps each group's mean and 1/σ for the backward) and the two backward kernels, no autograd
 * (src/autograd/norm.ts records them). Kernels: kernels/norm.wgsl.
 */
import normSrc from '../../kernels/norm.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { fill, kernel, registerKernel } from './primitives.js';
import { empty, gpu, run, type Shape, type Tensor } from './tensor.js';

registerKernel('norm', normSrc);

type T = Tensor;
const fmt = (s: Shape) => `[${s.join(', ')}]`;

/** Threads per (sample, group) workgroup: one 8-lane subgroup on CPU drivers, 256 on GPUs (kernels/norm.wgsl). */
const normWG = () => ({ WG: gpu().traits.cpu ? 8 : 256 });

/** The uniform block of kernels/norm.wgsl for x [N, C, ...]. */
function normParams(x: T, groups: number, eps: number) {
  const [batch, c] = x.shape;
  return { batch, c, groups, hw: x.size / Math.max(batch * c, 1), eps };
}

function normKernel(entry: string, inputs: Record<string, T>, outputs: Record<string, T>, params: ReturnType<typeof normParams>, workgroups: number, label: string): void {
  run(kernel('norm'), entry, { inputs, outputs, params, overrides: normWG(), workgroups: gpu().grid(workgroups, 1), label });
}

/**
 * y = group_norm(x, groups, weight, bias, eps): x [N, C, ...] (any spatial rank, contiguous), weight
 * and bias [C]; mean and biased variance per (sample, group of C/G channels). `stats` [N·G, 2] holds
 * (mean, 1/σ) per group for the backward.
 */
export function groupNormRaw(x: T, groups: number, weight: T, bias: T, eps = 1e-5): { y: T; stats: T } {
  if (x.rank < 2) throw new FlowGpuError(`group_norm: input must be [N, C, ...], got ${fmt(x.shape)}`);
  const [batch, c] = x.shape;
  if (!(Number.isInteger(groups) && groups >= 1 && c % groups === 0)) {
    throw new FlowGpuError(`group_norm: ${c} channels cannot be split into ${groups} groups`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t.rank !== 1 || t.shape[0] !== c) throw new FlowGpuError(`group_norm: ${name} must be [${c}], got ${fmt(t.shape)}`);
  }
  const y = empty(x.shape);
  const stats = empty([batch * groups, 2]);
  if (y.size === 0) return { y, stats };
  normKernel('gn_forward', { x, gamma: weight, beta: bias }, { y, stats }, normParams(x, groups, eps), batch * groups, 'group_norm');
  return { y, stats };
}

/** gx from x, gy, the weight and the forward's stats. */
export function groupNormBackwardInputRaw(x: T, gy: T, weight: T, stats: T, groups: number, eps = 1e-5): T {
  const gx = empty(x.shape);
  if (gx.size === 0) return gx;
  normKernel('gn_backward_input', { x, gy, gamma: weight, stats_in: stats }, { gx }, normParams(x, groups, eps), x.shape[0] * groups, 'group_norm.backward_input');
  return gx;
}

/** The weight and bias gradients, Σ gy·x̂ and Σ gy per channel (zeros for an empty input). */
export function groupNormBackwardParamsRaw(x: T, gy: T, stats: T, groups: number, eps = 1e-5): { gw: T; gb: T } {
  const c = x.shape[1];
  const gw = empty([c]);
  const gb = empty([c]);
  if (x.size === 0) {
    fill(gw, 0);
    fill(gb, 0);
    return { gw, gb };
  }
  normKernel('gn_backward_params', { x, gy, stats_in: stats }, { ggamma: gw, gbeta: gb }, normParams(x, groups, eps), c, 'group_norm.backward_params');
  return { gw, gb };
}
