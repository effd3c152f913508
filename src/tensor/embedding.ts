/**
 * The sinusoidal-embedding primitive and its derivative in t, no autograd
 * (src/autograd/embedding.ts records them; src/nn/embedding.ts documents the math and holds the
 * frequencies). Kernels: kernels/embedding.wgsl.
 */
import embeddingSrc from '../../kernels/embedding.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { kernel, registerKernel } from './primitives.js';
import { withTrig } from './wgsl-lib.js';
import { empty, gpu, run, type Tensor } from './tensor.js';

registerKernel('embedding', withTrig(embeddingSrc));

const WG = 256;

/**
 * y [N, dim] = [cos(2π·t·f_0), …, cos(2π·t·f_{half−1}), sin(2π·t·f_0), …] (and a zero column when
 * dim is odd) for times t f32 [N] or [N, 1] and frequencies f [half] in turns per unit of t.
 */
export function sinusoidalEmbeddingRaw(t: Tensor, freq: Tensor, dim: number): Tensor {
  if (t.dtype !== 'f32' || !(t.rank === 1 || (t.rank === 2 && t.shape[1] === 1))) {
    throw new FlowGpuError(`sinusoidal embedding: t must be f32 [N] or [N, 1], got ${t.dtype}[${t.shape.join(', ')}]`);
  }
  const n = t.shape[0];
  const half = freq.size;
  const y = empty([n, dim]);
  if (n === 0) return y;
  run(kernel('embedding'), 'sinusoidal_forward', {
    inputs: { t, freq },
    outputs: { y },
    params: { n, half, dim },
    workgroups: gpu().grid(n * half, WG),
    label: 'sinusoidal_embedding',
  });
  return y;
}

/** dL/dt [t's shape] from the output gradient g [N, dim]. */
export function sinusoidalEmbeddingBackwardRaw(t: Tensor, freq: Tensor, g: Tensor): Tensor {
  const gt = empty(t.shape);
  const n = t.shape[0];
  if (n === 0) return gt;
  run(kernel('embedding'), 'sinusoidal_backward', {
    inputs: { t, freq, g },
    outputs: { gt },
    params: { n, half: freq.size, dim: g.shape[1] },
    workgroups: gpu().grid(n, WG),
    label: 'sinusoidal_embedding.backward',
  });
  return gt;
}
