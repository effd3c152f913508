/**
 * The token MLP of discrete flow matching (flow_matching's 2-D discrete example): each of the d
 * tokens of x_t is embedded (a table of V = K or K + 1 rows, width E), the d embeddings are
 * concatenated with the time (and an optional one-hot class), and a SiLU MLP maps them to d·K logits
 * of the posterior p_{1|t}(x_1^i | x_t):
 *
 *   logits = MLP(concat[E[x_t^1], …, E[x_t^d], t, c]) reshaped to [N, d, K]
 *
 * With a mask source (V = K + 1) a token that is no longer the mask is carried over: its logits are
 * those of δ(x_t), the exact posterior (the path keeps x1 wherever x_t is not the mask), so the
 * network predicts only masked tokens. Without it the generalized KL must teach the network to copy
 * unmasked tokens through the linear term −κ̇/(1−κ)·(p(x_t) − 1), whose gradient is ∝ p(x_t) (weak
 * while the copy is unlearned) and whose weight reaches 1/ε: on the checkerboard (3000 steps, batch
 * 512, lr 2e-3) the loss then stalls at 7.2 nats per token (an independent PyTorch implementation,
 * bench/peers/torch_discrete_2d.py, stalls at the same 7.24), while carried over it reaches 4.56 of
 * the 4.505 bound (PyTorch with the same carry-over: 4.56).
 *
 * Parameters: `embed.weight` [V, E] and the MLP's `mlp.0.weight`, `mlp.0.bias`, … (VelocityMLP's
 * names under `mlp.`).
 */
import { carryUnmasked } from '../autograd/discrete.js';
import { gatherRows, reshape } from '../autograd/ops.js';
import { FlowGpuError } from '../gpu/errors.js';
import { Embedding } from '../nn/embedding.js';
import { VelocityMLP } from '../nn/mlp.js';
import { HostRng, Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';

/** A token MLP's configuration (plain JSON, stored in checkpoints and model files). */
export interface TokenMLPConfig {
  kind: 'tokenmlp';
  /** Tokens per sequence d. */
  length: number;
  /** Categories K the posterior is over. */
  categories: number;
  /** Rows of the embedding table: K, or K + 1 when the source is the mask (id K). */
  vocabulary: number;
  /** Embedding width E. */
  embed: number;
  hidden: number;
  hiddenLayers: number;
  /** Classes it is conditioned on (0: none; label −1 is ∅ for guidance). */
  classes: number;
}

/** Fills in defaults (embed 128, hidden 256, 3 layers, no classes) and checks a config. */
export function tokenMLPConfig(o: Partial<TokenMLPConfig> & { length: number; categories: number; vocabulary?: number }): TokenMLPConfig {
  const c: TokenMLPConfig = {
    kind: 'tokenmlp', length: o.length, categories: o.categories, vocabulary: o.vocabulary ?? o.categories,
    embed: o.embed ?? 128, hidden: o.hidden ?? 256, hiddenLayers: o.hiddenLayers ?? 3, classes: o.classes ?? 0,
  };
  const int = (v: number, min: number) => Number.isInteger(v) && v >= min;
  if (!int(c.length, 1) || !int(c.categories, 2) || !int(c.embed, 1) || !int(c.hidden, 1) || !int(c.hiddenLayers, 1) || !int(c.classes, 0)) {
    throw new FlowGpuError(
      `tokenmlp: length ≥ 1, categories ≥ 2, embed, hidden, hiddenLayers ≥ 1 and classes ≥ 0 must be integers ` +
        `(got length ${c.length}, categories ${c.categories}, embed ${c.embed}, hidden ${c.hidden}, hiddenLayers ${c.hiddenLayers}, classes ${c.classes})`,
    );
  }
  if (c.vocabulary !== c.categories && c.vocabulary !== c.categories + 1) {
    throw new FlowGpuError(`tokenmlp: the vocabulary is K (uniform source) or K + 1 (mask source), got ${c.vocabulary} for K = ${c.categories}`);
  }
  return c;
}

/** The token MLP (see the file comment): forward(x_t i32 [N, d], t [N], labels?) → logits [N, d, K]. */
export class TokenMLP extends Module {
  readonly config: TokenMLPConfig;
  readonly embed: Embedding;
  readonly mlp: VelocityMLP;

  constructor(opts: Parameters<typeof tokenMLPConfig>[0], seed = 0) {
    super();
    const c = (this.config = tokenMLPConfig(opts));
    this.embed = this.registerModule('embed', new Embedding(c.vocabulary, c.embed, { rng: new HostRng(seed ^ 0x7e3a) }));
    this.mlp = this.registerModule(
      'mlp',
      new VelocityMLP({ dim: c.length * c.embed, outDim: c.length * c.categories, hidden: c.hidden, hiddenLayers: c.hiddenLayers, condDim: c.classes }, seed),
    );
  }

  forward(xt: Tensor, t: Tensor, labels?: Tensor): Tensor {
    const c = this.config;
    if (xt.dtype !== 'i32' || xt.rank !== 2 || xt.shape[1] !== c.length) {
      throw new FlowGpuError(`tokenmlp: x_t must be i32 tokens [N, ${c.length}], got ${xt.dtype}[${xt.shape.join(', ')}]`);
    }
    const n = xt.shape[0];
    const e = gatherRows(this.embed.weight, xt.view([n * c.length]));
    const out = this.mlp.forward(reshape(e, [n, c.length * c.embed]), t, c.classes > 0 ? labels : undefined);
    const logits = reshape(out, [n, c.length, c.categories]);
    return c.vocabulary > c.categories ? carryUnmasked(logits, xt) : logits;
  }
}
