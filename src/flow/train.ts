/**
 * One flow-matching training step, recorded as one GPU submit with nothing read back:
 *
 *   (coupling) → interpolate (fused: x0, t, x_t, u_t) → v = model(x_t, t[, c]) → mean ‖v − u_t‖²
 *   (fused MSE + gradient) → backward → update (clip, AdamW, EMA: the optimiser's dispatches)
 *
 * All randomness (x0, t, label dropout, Sinkhorn pairing noise) is drawn on the GPU from
 * (seed, step), so a run is reproducible and nothing is uploaded per step but x1 itself. The loss
 * stays on the GPU: the step returns it as a one-element tensor that the caller owns; read it every
 * K steps (`LossMeter` sums it on the GPU and reads the mean once per K steps), never every step —
 * a read-back stalls the pipeline.
 *
 * Sources: N(0, I) noise drawn in the kernel, given pairs `x0` (reflow, paired data), or a batch of
 * another data set `source` that the coupling pairs with x1 (a data-to-data flow, usually with
 * path noise σ > 0). Conditions: i32 class labels, or continuous f32 rows (see `flagConditions`).
 *
 * Couplings: independent and Sinkhorn OT run inside the step. Exact OT needs the cost matrix on
 * the host (one read-back): `await exactOTCouple(x1, { seed, step })` before the step and pass the
 * result as `x0` (reflow pairs are passed the same way).
 */
import { backward, noGrad } from '../autograd/tape.js';
import { mseLoss } from '../autograd/ops.js';
import { FlowGpuError } from '../gpu/errors.js';
import { axpby, fill, kernel } from '../tensor/primitives.js';
import { empty, gpu, keep, run, tidy, type Tensor } from '../tensor/tensor.js';
import { sinkhornCouple, type Coupling } from './coupling.js';
import { interpolateWithTarget } from './paths.js';
import { splitU64 } from './random.js';
import type { Scheduler } from './schedulers.js';
import type { TimeSampler } from './time.js';

/** What the step needs of a velocity network (VelocityMLP, a UNet, or any Module with forward). */
export interface VelocityModel {
  /** v(x_t, t[, cond]) for x_t shaped like x1 and t [N]. */
  forward(x: Tensor, t: Tensor, cond?: Tensor): Tensor;
  parameters(): Tensor[];
  /** Zeros the gradients (Module has it; otherwise every parameter's .grad is filled with 0). */
  zeroGrad?(): void;
}

/** An optimiser (AdamW, …): `step()` applies the update from the current gradients. */
export interface Updater {
  step(): void;
}

/**
 * Options of `flowMatchingStep`: scheduler, time sampler, seed and step, the update, EMA,
 * conditioning, label dropout, x0 and coupling.
 */
export interface FlowMatchingStepOptions {
  scheduler: Scheduler;
  /** Time sampler (default uniform). */
  time?: TimeSampler;
  /** The run's seed and this step's counter: the step's draws are a function of both. */
  seed: number;
  step: number;
  /** Applies the update after backward: an optimiser (`step()`) or a callback. */
  update: Updater | (() => void);
  /** Also updated after the optimiser (an EMA not already fused into it). */
  ema?: { update(): void } | null;
  /**
   * Conditioning passed to the model: i32 class labels [N], or a continuous condition f32 [N, W]
   * that reaches the model as [N, W + 1] (`flagConditions`: the values and a 1, or zeros for ∅).
   */
  cond?: Tensor;
  /**
   * Dropout for classifier-free guidance: i32 labels are replaced by nullLabel w.p. p; rows of a
   * continuous condition by ∅.
   */
  labelDropout?: { p: number; nullLabel?: number } | null;
  /** Source samples paired with x1 (exact OT, reflow, paired data); drawn in the kernel when absent. */
  x0?: Tensor;
  /**
   * A batch of another data set, shaped like x1, to flow from (a data-to-data flow): the coupling
   * pairs its rows with x1's (independent: by position). Without it the source is N(0, I).
   */
  source?: Tensor;
  /** Path noise σ (default 0): x_t gains σ·ε (interpolateWithTarget's `noise`); for data sources. */
  noise?: number;
  /**
   * 'independent' (default) or Sinkhorn OT on the GPU. Exact OT cannot run inside a step (it reads
   * the cost matrix back): `x0 = await exactOTCouple(x1, { seed, step })`, then pass `x0`.
   */
  coupling?: 'independent' | Coupling;
  /** Submit the recorded step at its end (default true). */
  flush?: boolean;
}

/** What `recordTrainingStep` needs of a step's options: the update, an EMA and whether to submit. */
export interface StepUpdate {
  update: Updater | (() => void);
  ema?: { update(): void } | null;
  flush?: boolean;
}

/**
 * The frame every training step shares (flow matching, discrete flows): zero the gradients, build
 * the loss with `lossOf` (recorded on the tape), backward, apply the update and the EMA without
 * recording, and hand the loss back as a plain one-element value — its graph is released with the
 * step's scope — then submit (unless `flush: false`).
 */
export function recordTrainingStep(model: VelocityModel, o: StepUpdate, lossOf: () => Tensor): Tensor {
  const loss = tidy(() => {
    if (model.zeroGrad) model.zeroGrad();
    else for (const p of model.parameters()) if (p.grad) fill(p.grad, 0);
    const l = lossOf();
    backward(l);
    noGrad(() => {
      if (typeof o.update === 'function') o.update();
      else o.update.step();
      o.ema?.update();
    });
    l.node = null;
    l.requiresGrad = false;
    return keep(l);
  });
  if (o.flush !== false) gpu().flush();
  return loss;
}

/**
 * Records one whole training step and submits it (one submit, no read-back). Returns the loss,
 * a one-element tensor the caller owns (dispose it, or hand it to a LossMeter).
 */
export function flowMatchingStep(model: VelocityModel, x1: Tensor, o: FlowMatchingStepOptions): Tensor {
  const c = o.coupling && o.coupling !== 'independent' && o.coupling.kind !== 'independent' ? o.coupling : null;
  if (c?.kind === 'ot-exact') {
    throw new FlowGpuError(
      'flowMatchingStep: exact OT needs a read-back and cannot run inside the step; ' +
        'call `x0 = await exactOTCouple(x1, { seed, step })` first and pass it as x0',
    );
  }
  if (c && o.x0) throw new FlowGpuError('flowMatchingStep: give either x0 or a coupling, not both');
  if (o.x0 && o.source) throw new FlowGpuError('flowMatchingStep: give either x0 (pairs) or a source batch (to couple), not both');
  if (c && c.kind !== 'ot-sinkhorn') throw new FlowGpuError(`flowMatchingStep: unknown coupling '${(c as { kind: string }).kind}'`);
  return recordTrainingStep(model, o, () => {
    let x0 = o.x0 ?? o.source;
    if (!o.x0 && c?.kind === 'ot-sinkhorn') x0 = sinkhornCouple(x1, { ...c, seed: o.seed, step: o.step, source: o.source });
    const { xt, t, ut } = interpolateWithTarget(x1, { scheduler: o.scheduler, time: o.time, seed: o.seed, step: o.step, x0, noise: o.noise });
    let cond = o.cond;
    const p = o.labelDropout?.p ?? 0;
    if (cond && cond.dtype === 'f32') cond = flagConditions(cond, { p, seed: o.seed, step: o.step });
    else if (cond && p > 0) cond = dropLabels(cond, { ...o.labelDropout!, seed: o.seed, step: o.step });
    const v = model.forward(xt, t, cond);
    if (v.shape.join() !== ut.shape.join()) {
      throw new FlowGpuError(`flowMatchingStep: the model returned [${v.shape.join(', ')}] for data [${ut.shape.join(', ')}]`);
    }
    return mseLoss(v, ut);
  });
}

/**
 * Classifier-free guidance's label dropout on the GPU: each i32 label is replaced by `nullLabel`
 * (default −1, which VelocityMLP's one-hot turns into a zero row) with probability p, from
 * (seed, step) on its own stream.
 */
export function dropLabels(labels: Tensor, o: { p: number; nullLabel?: number; seed: number; step: number }): Tensor {
  if (labels.dtype !== 'i32') throw new FlowGpuError(`label dropout: labels must be i32, got ${labels.dtype}`);
  if (!(o.p >= 0 && o.p <= 1)) throw new FlowGpuError(`label dropout: p must be in [0, 1], got ${o.p}`);
  const out = empty(labels.shape, 'i32');
  if (labels.size === 0) return out;
  run(kernel('flow'), 'drop_labels', {
    inputs: { labels },
    outputs: { labels_out: out },
    params: { n: labels.size, null_label: o.nullLabel ?? -1, p: o.p, seed: splitU64(o.seed, 'seed'), step: splitU64(o.step, 'step') },
    workgroups: gpu().grid(Math.ceil(labels.size / 4), 256),
    label: 'drop_labels',
  });
  return out;
}

/**
 * A continuous condition c [N, W] as a conditional network reads it, [N, W + 1]: each row's values
 * and a 1 (present), or all zeros (∅, the null condition of classifier-free guidance) with
 * probability p, drawn on the GPU from (seed, step) by the same draws as `dropLabels` (p = 0: only
 * the flag is appended). One dispatch (kernels/flow.wgsl, flag_cond).
 */
export function flagConditions(c: Tensor, o: { p?: number; seed?: number; step?: number } = {}): Tensor {
  if (c.dtype !== 'f32' || c.rank !== 2) throw new FlowGpuError(`conditions must be f32 [N, W], got ${c.dtype}[${c.shape.join(', ')}]`);
  const p = o.p ?? 0;
  if (!(p >= 0 && p <= 1)) throw new FlowGpuError(`condition dropout: p must be in [0, 1], got ${p}`);
  const [rows, width] = c.shape;
  const out = empty([rows, width + 1]);
  if (out.size === 0) return out;
  run(kernel('flow'), 'flag_cond', {
    inputs: { cond_in: c },
    outputs: { cond_out: out },
    params: { rows, width, p, seed: splitU64(o.seed ?? 0, 'seed'), step: splitU64(o.step ?? 0, 'step') },
    workgroups: gpu().grid(out.size, 256),
    label: 'flag_cond',
  });
  return out;
}

/**
 * Sums step losses on the GPU and reads their mean every K steps: `add(loss)` records one tiny
 * dispatch into the next submit (no read-back) and disposes the loss; `read()` is the only sync.
 */
export class LossMeter {
  private readonly acc: Tensor;
  private count = 0;

  constructor() {
    this.acc = keep(empty([1]));
    fill(this.acc, 0);
  }

  /** Steps added since the last read. */
  get pending(): number {
    return this.count;
  }

  add(loss: Tensor): void {
    if (loss.size !== 1) throw new FlowGpuError(`LossMeter: a loss is one value, got [${loss.shape.join(', ')}]`);
    axpby(this.acc, loss, 1, 1);
    loss.dispose();
    this.count++;
  }

  /** The mean of the losses added since the last read (one read-back), then starts over. */
  async read(): Promise<number> {
    if (this.count === 0) throw new FlowGpuError('LossMeter: nothing to read (no loss added since the last read)');
    const s = await this.acc.item();
    const mean = s / this.count;
    fill(this.acc, 0);
    this.count = 0;
    return mean;
  }

  dispose(): void {
    this.acc.dispose();
  }
}
