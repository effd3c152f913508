/**
 * Embeddings: the learned lookup table of class labels (`Embedding`, torch.nn.Embedding's names:
 * weight [num, dim] ~ N(0, 1)) and the fixed sinusoidal time embedding of transformer and diffusion
 * models (`SinusoidalEmbedding`, computed on the GPU by kernels/embedding.wgsl).
 *
 * The sinusoidal embedding: for t in [0, 1] and an embedding width `dim` (half = ⌊dim/2⌋):
 *
 *   ω_i = maxPeriod^(−i/half),  i = 0 … half−1
 *   emb(t) = [cos(scale·t·ω_0), …, cos(scale·t·ω_{half−1}), sin(scale·t·ω_0), …, sin(scale·t·ω_{half−1})]
 *
 * with a zero column appended when dim is odd. This is guided-diffusion's
 * `timestep_embedding(scale * t, dim, max_period)`; in PyTorch:
 *
 *   freqs = torch.exp(-math.log(max_period) * torch.arange(half) / half)
 *   args = (scale * t)[:, None] * freqs[None]
 *   emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
 *
 * The default scale 1000 maps t ∈ [0, 1] onto the 0…1000 range of diffusion timesteps, where the
 * default maxPeriod 10000 spreads the frequencies. The embedding has no parameters (nothing in the
 * state dict); it is differentiable in t.
 */
import { sinusoidalEmbedding } from '../autograd/embedding.js';
import { gatherRows } from '../autograd/ops.js';
import { FlowGpuError } from '../gpu/errors.js';
import { keep, tensor, type Tensor } from '../tensor/tensor.js';
import { HostRng, Module } from './module.js';

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

/** Options of `SinusoidalEmbedding`: the time scale (default 1000) and the longest period (default 10000). */
export interface SinusoidalOptions {
  /** t is multiplied by this before the embedding (default 1000). */
  scale?: number;
  /** Longest period, in units of scale·t (default 10000). */
  maxPeriod?: number;
}

/** The frequencies in turns per unit of t, scale·ω_i/(2π), in float64. */
export function sinusoidalFrequencies(dim: number, scale = 1000, maxPeriod = 10000): Float64Array {
  const half = Math.floor(dim / 2);
  const f = new Float64Array(half);
  for (let i = 0; i < half; i++) f[i] = (scale * Math.exp((-Math.log(maxPeriod) * i) / half)) / (2 * Math.PI);
  return f;
}

/** emb(t) as above, [N] or [N, 1] times → [N, dim]. */
export class SinusoidalEmbedding extends Module {
  readonly dim: number;
  readonly scale: number;
  readonly maxPeriod: number;
  private freq: Tensor | null = null;

  constructor(dim: number, opts: SinusoidalOptions = {}) {
    super();
    if (!(Number.isInteger(dim) && dim >= 2)) throw new FlowGpuError(`sinusoidal embedding: dim must be an integer ≥ 2, got ${dim}`);
    this.dim = dim;
    this.scale = opts.scale ?? 1000;
    this.maxPeriod = opts.maxPeriod ?? 10000;
    if (!(this.scale > 0 && this.maxPeriod > 0)) {
      throw new FlowGpuError(`sinusoidal embedding: scale and maxPeriod must be positive, got ${this.scale} and ${this.maxPeriod}`);
    }
  }

  /** Created on first use, on the runtime in use then; a constant, not a parameter. */
  private frequencies(): Tensor {
    if (!this.freq || this.freq.disposed) {
      this.freq = keep(tensor(Float32Array.from(sinusoidalFrequencies(this.dim, this.scale, this.maxPeriod))));
    }
    return this.freq;
  }

  forward(t: Tensor): Tensor {
    return sinusoidalEmbedding(t, this.frequencies(), this.dim);
  }

  override dispose(): void {
    this.freq?.dispose();
    this.freq = null;
    super.dispose();
  }
}
