/** Basic layers with PyTorch's names, layouts and default initialisation. */
import { linear, silu } from '../autograd/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import { HostRng, Module, uniformTensor } from './module.js';

/**
 * y = x·Wᵀ + b, W [out, in], b [out]. PyTorch's default init: kaiming_uniform(a=√5) for W, which is
 * U(−1/√in, 1/√in), and U(−1/√in, 1/√in) for b.
 */
export class Linear extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean; rng?: HostRng } = {},
  ) {
    super();
    const rng = opts.rng ?? new HostRng(0);
    const bound = 1 / Math.sqrt(inFeatures);
    this.registerParameter('weight', uniformTensor([outFeatures, inFeatures], bound, rng));
    if (opts.bias !== false) this.registerParameter('bias', uniformTensor([outFeatures], bound, rng));
  }
  get weight(): Tensor {
    return this.getParameter('weight');
  }
  get bias(): Tensor | null {
    return this.hasParameter('bias') ? this.getParameter('bias') : null;
  }
  forward(x: Tensor, act?: 'silu'): Tensor {
    return linear(x, this.weight, this.bias ?? undefined, act);
  }
}

/** The SiLU activation x·σ(x) as a parameter-free module (torch.nn.SiLU). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** Children named 0, 1, 2, … as torch.nn.Sequential. */
export class Sequential extends Module {
  readonly layers: { forward(x: Tensor): Tensor }[];
  constructor(...layers: (Module & { forward(x: Tensor): Tensor })[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }
  forward(x: Tensor): Tensor {
    return forwardLayers(this.layers, x);
  }
}

/** Applies layers in order; a Linear followed by a SiLU runs as one op (fused when sampling). */
export function forwardLayers(layers: readonly { forward(x: Tensor): Tensor }[], x: Tensor): Tensor {
  let h = x;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    if (l instanceof Linear && layers[i + 1] instanceof SiLU) {
      h = l.forward(h, 'silu');
      i++;
    } else {
      h = l.forward(h);
    }
  }
  return h;
}
