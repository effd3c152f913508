/**
 * One discrete flow-matching training step, recorded as one GPU submit with nothing read back (the
 * discrete twin of flow's `flowMatchingStep`):
 *
 *   mixture path (fused: t, x0, x_t from (seed, step)) → logits = model(x_t, t[, c]) → the
 *   generalized KL (or cross-entropy), forward + gradient fused → backward → update
 *
 * `discreteObjective` makes it the Trainer's step (`objective` option), so discrete runs have the
 * same checkpoints, resume, EMA, progress and model files as the continuous ones.
 */
import { generalizedKL, tokenCrossEntropy } from '../autograd/discrete.js';
import { dropLabels, recordTrainingStep, type VelocityModel } from '../flow/train.js';
import { FlowGpuError } from '../gpu/errors.js';
import type { VelocityNet } from '../nn/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TrainBatch, TrainObjective } from '../train/trainer.js';
import { polynomialKappa, sampleMixturePath, type DiscreteSource, type TokenSpace } from './kernels.js';

/** The training loss: 'gkl' (generalized KL, an ELBO) or 'ce' (cross-entropy of the posterior). */
export type DiscreteLoss = 'gkl' | 'ce';

/** Options of `discreteStep`: the token space, (seed, step), loss, ε, the update, labels. */
export interface DiscreteStepOptions extends TokenSpace {
  seed: number;
  step: number;
  /** Default 'gkl'. */
  loss?: DiscreteLoss;
  /** t ~ U(0, 1 − eps) (default 1e-3). */
  eps?: number;
  update: { step(): void } | (() => void);
  ema?: { update(): void } | null;
  /** i32 class labels [N]. */
  labels?: Tensor;
  /** Classifier-free guidance: labels replaced by −1 (∅) with probability p. */
  labelDropout?: number;
  flush?: boolean;
}

/** Records one whole discrete training step and submits it; returns the loss (one value, the caller's). */
export function discreteStep(model: VelocityModel, x1: Tensor, o: DiscreteStepOptions): Tensor {
  const kind = o.loss ?? 'gkl';
  if (kind !== 'gkl' && kind !== 'ce') throw new FlowGpuError(`discrete: the loss must be 'gkl' or 'ce', got '${String(kind)}'`);
  return recordTrainingStep(model, o, () => {
    const { xt, t } = sampleMixturePath(x1, { ...o, eps: o.eps });
    let labels = o.labels;
    if (labels && (o.labelDropout ?? 0) > 0) labels = dropLabels(labels, { p: o.labelDropout!, nullLabel: -1, seed: o.seed, step: o.step });
    const logits = model.forward(xt, t, labels);
    return kind === 'gkl' ? generalizedKL(logits, x1, xt, t, o) : tokenCrossEntropy(logits, x1);
  });
}

/** Options of `discreteObjective`: the source, the scheduler exponent, the loss and ε. */
export interface DiscreteObjectiveOptions {
  source: DiscreteSource;
  /** κ_t = tⁿ (default 1). */
  exponent?: number;
  loss?: DiscreteLoss;
  eps?: number;
}

/**
 * The Trainer's step for a token network (`new Trainer({ net, data, objective: discreteObjective(…) })`):
 * batches of i32 tokens x1 [N, d] (and labels for a class-conditional net). Its `config` is stored
 * in checkpoints and model files, so `discreteSpaceOf` can rebuild the token space.
 */
export function discreteObjective(o: DiscreteObjectiveOptions): TrainObjective {
  const scheduler = polynomialKappa(o.exponent ?? 1);
  const loss = o.loss ?? 'gkl';
  const eps = o.eps ?? 1e-3;
  return {
    config: { kind: 'discrete', source: o.source, exponent: scheduler.n, loss, eps },
    step(net: VelocityNet, b: TrainBatch, s: { seed: number; step: number; labelDropout: number; update: () => void }): Tensor {
      const categories = tokenCategories(net);
      if (b.x1.dtype !== 'i32') throw new FlowGpuError(`discrete training: the data source must give i32 tokens, got ${b.x1.dtype}`);
      const model = { forward: net.forward, parameters: () => net.module.parameters(), zeroGrad: () => net.module.zeroGrad() };
      const labels = net.numClasses > 0 ? b.labels : undefined;
      return discreteStep(model, b.x1, {
        categories, source: o.source, scheduler, loss, eps, seed: s.seed, step: s.step, update: s.update,
        labels, labelDropout: labels ? s.labelDropout : 0,
      });
    },
  };
}

/** The K of a token network (its spec's `categories`). */
export function tokenCategories(net: Pick<VelocityNet, 'spec'>): number {
  const m = (net.spec as { model: { categories?: unknown } }).model;
  if (typeof m.categories !== 'number') throw new FlowGpuError(`discrete: the network (${net.spec.arch}) is not a token network; build one with arch 'tokenmlp'`);
  return m.categories;
}

/** The token space stored in a run's config by `discreteObjective` (null: not a discrete run). */
export function discreteSpaceOf(config: Record<string, unknown>, categories: number): TokenSpace | null {
  const d = config.objective as { kind?: unknown; source?: unknown; exponent?: unknown } | undefined;
  if (!d || d.kind !== 'discrete') return null;
  if (d.source !== 'uniform' && d.source !== 'mask') throw new FlowGpuError(`discrete: the stored source '${String(d.source)}' is not 'uniform' or 'mask'`);
  return { categories, source: d.source, scheduler: polynomialKappa(typeof d.exponent === 'number' ? d.exponent : 1) };
}
