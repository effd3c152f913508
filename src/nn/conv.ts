/**
 * Image layers with torch.nn's names, layouts and default initialisation, so that a state dict
 * loads into the same torch.nn modules:
 *   Conv2d     weight [out, in, k, k], bias [out]; kaiming_uniform(a=√5) = U(−1/√fan_in, 1/√fan_in)
 *              for the weight and U(−1/√fan_in, 1/√fan_in) for the bias, fan_in = in·k·k.
 *   GroupNorm  weight [C] = 1, bias [C] = 0, eps 1e-5.
 *   Embedding  weight [num, dim] ~ N(0, 1).
 */
import { conv2d, groupNorm } from '../autograd/conv.js';
import { gatherRows } from '../autograd/ops.js';
import { FlowGpuError } from '../gpu/errors.js';
import { fill } from '../tensor/primitives.js';
import { empty, tensor, type Tensor } from '../tensor/tensor.js';
import { HostRng, Module, uniformTensor } from './module.js';

export interface Conv2dModuleOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
  rng?: HostRng;
}

export class Conv2d extends Module {
  readonly stride: number;
  readonly padding: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: Conv2dModuleOptions = {},
  ) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    const rng = opts.rng ?? new HostRng(0);
    const bound = 1 / Math.sqrt(inChannels * kernelSize * kernelSize);
    this.registerParameter('weight', uniformTensor([outChannels, inChannels, kernelSize, kernelSize], bound, rng));
    if (opts.bias !== false) this.registerParameter('bias', uniformTensor([outChannels], bound, rng));
  }
  get weight(): Tensor {
    return this.getParameter('weight');
  }
  get bias(): Tensor | null {
    return this.hasParameter('bias') ? this.getParameter('bias') : null;
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias ?? undefined, { stride: this.stride, padding: this.padding });
  }
}

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

/** A lookup table [num, dim]: forward(i32 indices [N]) → [N, dim]. */
export class Embedding extends Module {
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { rng?: HostRng } = {},
  ) {
    super();
    const rng = opts.rng ?? new HostRng(0);
    const v = new Float32Array(numEmbeddings * embeddingDim);
    for (let i = 0; i < v.length; i++) v[i] = rng.normal();
    this.registerParameter('weight', tensor(v, [numEmbeddings, embeddingDim]));
  }
  get weight(): Tensor {
    return this.getParameter('weight');
  }
  forward(idx: Tensor): Tensor {
    return gatherRows(this.weight, idx);
  }
}
