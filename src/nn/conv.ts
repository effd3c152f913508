/**
 * torch.nn.Conv2d's names, layout and default initialisation, so that a state dict loads into the
 * same torch.nn module: weight [out, in, k, k], bias [out]; kaiming_uniform(a=√5) =
 * U(−1/√fan_in, 1/√fan_in) for the weight and U(−1/√fan_in, 1/√fan_in) for the bias, fan_in = in·k·k.
 */
import { conv2d } from '../autograd/conv.js';
import type { Tensor } from '../tensor/tensor.js';
import { HostRng, Module, uniformTensor } from './module.js';

/**
 * Options of `Conv2d`: stride (default 1), padding (default 0), bias (default true) and the
 * initialisation generator.
 */
export interface Conv2dModuleOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
  rng?: HostRng;
}

/**
 * A 2-D convolution layer, NCHW, as torch.nn.Conv2d: weight [out, in, k, k], bias [out], PyTorch
 * default init.
 */
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
