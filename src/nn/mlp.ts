/**
 * The velocity network of the 2D toys and of small image models: an MLP on
 * concat[x, time features, cond].
 *
 *   Linear(D + T + C, H), SiLU, (hiddenLayers − 1)×[Linear(H, H), SiLU], Linear(H, D_out)
 *
 * T is 1 for the raw time input (t as one column) or `timeDim` for the sinusoidal embedding
 * (src/nn/embedding.ts); C is the width of the optional conditioning input (0 = none), e.g. a
 * one-hot class label. The layers are this module's children `0`, `1`, `2`, … exactly as in
 * `torch.nn.Sequential`, so parameters are named `0.weight`, `0.bias`, `2.weight`, … and
 *
 *   torch.nn.Sequential(Linear(D+T+C, H), SiLU(), …, Linear(H, D_out)).load_state_dict(sd)
 *
 * loads a checkpoint directly; the PyTorch forward is that Sequential applied to
 * torch.cat([x, t[:, None] (or emb(t)), c], dim=1). The toy reference network
 * (DESIGN.md: 4 hidden layers of 512 on concat[x, t]) is `{ dim: 2, hidden: 512, hiddenLayers: 4 }`.
 */
import { broadcastTo, concat, reshape } from '../autograd/ops.js';
import { FlowGpuError } from '../gpu/errors.js';
import { oneHot } from '../tensor/primitives.js';
import type { Tensor } from '../tensor/tensor.js';
import { SinusoidalEmbedding } from './embedding.js';
import { forwardLayers, Linear, SiLU } from './layers.js';
import { HostRng, Module } from './module.js';

/** A plain JSON-able description, stored in checkpoints; `VelocityMLP.fromConfig` rebuilds the net. */
export interface VelocityMLPConfig {
  kind: 'mlp';
  /** Width of x (the state). */
  dim: number;
  /** Width of the output (the velocity); defaults to dim. */
  outDim: number;
  /** Hidden width H. */
  hidden: number;
  /** Number of Linear+SiLU blocks before the output Linear (≥ 1). */
  hiddenLayers: number;
  /** 'raw': t as one input column; 'sinusoidal': the fixed embedding of width timeDim. */
  timeEmbedding: 'raw' | 'sinusoidal';
  /** Embedding width (1 for raw). */
  timeDim: number;
  /** Sinusoidal only: t is scaled by timeScale; frequencies maxPeriod^(−i/half). */
  timeScale: number;
  maxPeriod: number;
  /** Width of the conditioning input appended to the concat (0 = unconditional). */
  condDim: number;
  activation: 'silu';
}

/**
 * Options of `VelocityMLP`: `dim`, `hidden` and `hiddenLayers` required, the rest of
 * `VelocityMLPConfig` optional with defaults.
 */
export type VelocityMLPOptions = Partial<Omit<VelocityMLPConfig, 'kind' | 'activation'>> & {
  dim: number;
  hidden: number;
  hiddenLayers: number;
};

/** Fills in defaults and checks a config. */
export function mlpConfig(o: VelocityMLPOptions): VelocityMLPConfig {
  const timeEmbedding = o.timeEmbedding ?? 'raw';
  const c: VelocityMLPConfig = {
    kind: 'mlp',
    dim: o.dim,
    outDim: o.outDim ?? o.dim,
    hidden: o.hidden,
    hiddenLayers: o.hiddenLayers,
    timeEmbedding,
    timeDim: timeEmbedding === 'raw' ? 1 : o.timeDim ?? 64,
    timeScale: o.timeScale ?? 1000,
    maxPeriod: o.maxPeriod ?? 10000,
    condDim: o.condDim ?? 0,
    activation: 'silu',
  };
  const posInt = (v: number, min: number) => Number.isInteger(v) && v >= min;
  if (!posInt(c.dim, 1) || !posInt(c.outDim, 1) || !posInt(c.hidden, 1) || !posInt(c.hiddenLayers, 1) || !posInt(c.condDim, 0)) {
    throw new FlowGpuError(
      `mlp: dim, outDim, hidden, hiddenLayers must be positive integers and condDim ≥ 0 ` +
        `(got dim ${c.dim}, outDim ${c.outDim}, hidden ${c.hidden}, hiddenLayers ${c.hiddenLayers}, condDim ${c.condDim})`,
    );
  }
  if (timeEmbedding !== 'raw' && timeEmbedding !== 'sinusoidal') throw new FlowGpuError(`mlp: unknown time embedding '${timeEmbedding}'`);
  if (timeEmbedding === 'raw' && o.timeDim !== undefined && o.timeDim !== 1) throw new FlowGpuError('mlp: the raw time input has timeDim 1');
  if (timeEmbedding === 'sinusoidal' && !posInt(c.timeDim, 2)) throw new FlowGpuError(`mlp: timeDim must be an integer ≥ 2, got ${c.timeDim}`);
  return c;
}

/**
 * A velocity MLP on concat[x, t or emb(t), cond] with SiLU activations and PyTorch Sequential
 * parameter names.
 */
export class VelocityMLP extends Module {
  readonly config: VelocityMLPConfig;
  readonly layers: (Linear | SiLU)[] = [];
  private readonly embed: SinusoidalEmbedding | null;

  /** `seed` drives the (PyTorch-default) initialisation: the same seed gives the same weights. */
  constructor(opts: VelocityMLPOptions, seed = 0) {
    super();
    const c = (this.config = mlpConfig(opts));
    const rng = new HostRng(seed);
    const inWidth = c.dim + c.timeDim + c.condDim;
    const push = (l: Linear | SiLU) => {
      this.registerModule(String(this.layers.length), l);
      this.layers.push(l);
    };
    push(new Linear(inWidth, c.hidden, { rng }));
    push(new SiLU());
    for (let i = 1; i < c.hiddenLayers; i++) {
      push(new Linear(c.hidden, c.hidden, { rng }));
      push(new SiLU());
    }
    push(new Linear(c.hidden, c.outDim, { rng }));
    this.embed = c.timeEmbedding === 'sinusoidal' ? new SinusoidalEmbedding(c.timeDim, { scale: c.timeScale, maxPeriod: c.maxPeriod }) : null;
  }

  static fromConfig(c: VelocityMLPConfig, seed = 0): VelocityMLP {
    if (c.kind !== 'mlp') throw new FlowGpuError(`not an MLP config (kind '${c.kind}')`);
    return new VelocityMLP(c, seed);
  }

  /** The input width of the first Linear: D + T + C. */
  get inWidth(): number {
    return this.config.dim + this.config.timeDim + this.config.condDim;
  }

  /**
   * v(x, t[, cond]) for x [N, D]; t [N], [N, 1], or one time for all rows ([] or [1]); cond
   * [N, C] f32, or i32 class labels [N] turned into one-hot rows of width C (a label outside
   * 0…C−1, e.g. −1 for the null class of classifier-free guidance, gives a zero row).
   */
  forward(x: Tensor, t: Tensor, cond?: Tensor): Tensor {
    const c = this.config;
    if (x.rank !== 2 || x.shape[1] !== c.dim) throw new FlowGpuError(`mlp: x must be [N, ${c.dim}], got [${x.shape.join(', ')}]`);
    const n = x.shape[0];
    let tc: Tensor;
    if (t.size === 1) tc = n === 1 ? reshape(t, [1, 1]) : broadcastTo(reshape(t, [1, 1]), [n, 1]);
    else if (t.size === n && (t.rank === 1 || (t.rank === 2 && t.shape[1] === 1))) tc = t.rank === 1 ? reshape(t, [n, 1]) : t;
    else throw new FlowGpuError(`mlp: t must be [${n}], [${n}, 1] or a single time, got [${t.shape.join(', ')}]`);
    const parts = [x, this.embed ? this.embed.forward(tc) : tc];
    if (c.condDim > 0) {
      if (!cond) throw new FlowGpuError(`mlp: this network is conditional (condDim ${c.condDim}); pass cond`);
      if (cond.dtype === 'i32') {
        if (cond.rank !== 1 || cond.shape[0] !== n) throw new FlowGpuError(`mlp: labels must be i32 [${n}], got [${cond.shape.join(', ')}]`);
        parts.push(oneHot(cond, c.condDim));
      } else {
        if (cond.rank !== 2 || cond.shape[0] !== n || cond.shape[1] !== c.condDim) {
          throw new FlowGpuError(`mlp: cond must be [${n}, ${c.condDim}], got [${cond.shape.join(', ')}]`);
        }
        parts.push(cond);
      }
    } else if (cond) throw new FlowGpuError('mlp: this network is unconditional (condDim 0) but cond was given');
    return forwardLayers(this.layers, concat(parts, 1));
  }

  override dispose(): void {
    this.embed?.dispose();
    super.dispose();
  }
}
