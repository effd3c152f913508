/**
 * torch.nn.GroupNorm's names and default initialisation (weight [C] = 1, bias [C] = 0, eps 1e-5), so
 * that a state dict loads into the same torch.nn module.
 */
import { groupNorm } from '../autograd/norm.js';
import { FlowGpuError } from '../gpu/errors.js';
import { fill } from '../tensor/primitives.js';
import { empty, type Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** Group normalisation over NCHW inputs as torch.nn.GroupNorm, with a learned per-channel weight and bias. */
export class GroupNorm extends Module {
  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
  ) {
    super();
    if (!(Number.isInteger(numGroups) && numGroups >= 1 && numChannels % numGroups === 0)) {
      throw new FlowGpuError(`GroupNorm: ${numChannels} channels cannot be split into ${numGroups} groups`);
    }
    const w = empty([numChannels]);
    fill(w, 1);
    const b = empty([numChannels]);
    fill(b, 0);
    this.registerParameter('weight', w);
    this.registerParameter('bias', b);
  }
  forward(x: Tensor): Tensor {
    return groupNorm(x, this.numGroups, this.getParameter('weight'), this.getParameter('bias'), this.eps);
  }
}
