/**
 * AdamW over a module's flat parameter buffer (src/nn/module.ts `flatten()`), exactly as
 * torch.optim.AdamW, with optional gradient clipping by global norm as
 * torch.nn.utils.clip_grad_norm_ — in one dispatch per step; clipping adds two small ones for the norm (kernels/optim.wgsl).
 *
 * The moments live in flat buffers of the parameters' layout. The step count, and every scalar
 * derived from it and from lr, weight decay and the betas, is kept on the host and passed as
 * uniforms, so a step never reads anything back. With clipping (or `trackGradNorm`), ‖g‖ is left
 * in the one-element tensor `gradNorm`, for the trainer to read when it reads the loss.
 *
 * Non-finite gradients: when the norm is computed (clipping or trackGradNorm) and is NaN or ±inf,
 * the update is skipped on the GPU by default (`skipNonFinite`): parameters, moments and the fused
 * EMA stay as they were, `gradNorm` shows the bad value, and the host's step count still advances
 * (so the next bias correction uses t + 1; the effect is that of one step with zero learning rate).
 * Without the norm nothing is checked and NaNs propagate into the weights, as in PyTorch.
 */
import optimSrc from '../../kernels/optim.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import type { FlatParameters } from '../nn/module.js';
import { Module } from '../nn/module.js';
import { fill, kernel, registerKernel } from '../tensor/primitives.js';
import { empty, gpu, keep, run, type Tensor } from '../tensor/tensor.js';
import type { EMA } from './ema.js';

registerKernel('optim', optimSrc);

const WG = 256;
/** Workgroups of the norm's first pass; the update reduces their partials in workgroup memory. */
const NORM_PARTIALS = 256;

/**
 * Options of `AdamW`: learning rate, betas, eps, weight decay, gradient clipping, non-finite
 * skipping and a fused EMA.
 */
export interface AdamWOptions {
  /** Learning rate (torch default 1e-3); `step(lr)` overrides it per step (schedules). */
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** Decoupled weight decay (torch's AdamW default 0.01). */
  weightDecay?: number;
  /** Clip gradients to this global L2 norm before the update (none by default). */
  maxGradNorm?: number | null;
  /** Compute ‖g‖ into `gradNorm` even without clipping (one extra small dispatch). */
  trackGradNorm?: boolean;
  /** Skip the update when ‖g‖ is not finite (default true; needs the norm). */
  skipNonFinite?: boolean;
  /** Update this EMA of the parameters inside the same dispatch as the step. */
  ema?: EMA | null;
}

/** Scalars of one torch AdamW step, in float64 (exported for tests and the CPU reference). */
export function adamwScalars(lr: number, weightDecay: number, beta1: number, beta2: number, step: number) {
  return {
    decay: 1 - lr * weightDecay,
    stepSize: lr / (1 - beta1 ** step),
    bc2Sqrt: Math.sqrt(1 - beta2 ** step),
  };
}

/**
 * torch.optim.AdamW over a module's flat parameters in one GPU dispatch per step, with optional
 * global-norm clipping and a fused EMA update.
 */
export class AdamW {
  readonly flat: FlatParameters;
  /** First and second moments, flat, same layout as the parameters. */
  readonly m: Tensor;
  readonly v: Tensor;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number | null;
  trackGradNorm: boolean;
  skipNonFinite: boolean;
  ema: EMA | null;
  /** Steps taken (torch's `state['step']`); the next step uses stepCount + 1. */
  stepCount = 0;
  private readonly partial: Tensor;
  private readonly norm: Tensor;

  constructor(target: Module | FlatParameters, opts: AdamWOptions = {}) {
    this.flat = target instanceof Module ? target.flatten() : target;
    this.lr = opts.lr ?? 1e-3;
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.maxGradNorm = opts.maxGradNorm ?? null;
    this.trackGradNorm = opts.trackGradNorm ?? false;
    this.skipNonFinite = opts.skipNonFinite ?? true;
    this.ema = opts.ema ?? null;
    this.check();
    const n = this.flat.size;
    this.m = keep(empty([n]));
    this.v = keep(empty([n]));
    fill(this.m, 0);
    fill(this.v, 0);
    this.partial = keep(empty([NORM_PARTIALS]));
    this.norm = keep(empty([1]));
    fill(this.norm, 0);
  }

  private check(): void {
    const ok = (x: number) => Number.isFinite(x) && x >= 0;
    if (!ok(this.eps) || !ok(this.weightDecay) || !(this.beta1 >= 0 && this.beta1 < 1) || !(this.beta2 >= 0 && this.beta2 < 1)) {
      throw new FlowGpuError(
        `AdamW: betas must be in [0, 1), eps and weight decay finite and ≥ 0 (got betas ${this.beta1}, ${this.beta2}, eps ${this.eps}, weight decay ${this.weightDecay})`,
      );
    }
    if (this.maxGradNorm !== null && !(this.maxGradNorm > 0)) throw new FlowGpuError(`AdamW: maxGradNorm must be positive, got ${this.maxGradNorm}`);
  }

  /** Whether a step computes ‖g‖ (clipping or tracking). */
  get computesGradNorm(): boolean {
    return this.maxGradNorm !== null || this.trackGradNorm;
  }

  /**
   * ‖g‖ of the last step, [1] on the GPU (read it with `await opt.gradNorm.item()`; it holds the
   * value of the latest step recorded before the read). Null when the norm is not computed.
   */
  get gradNorm(): Tensor | null {
    return this.computesGradNorm ? this.norm : null;
  }

  /**
   * One AdamW step on the current gradients (call after backward). `lr` sets this.lr first (for
   * schedules). Records one dispatch (three with the norm); reads nothing back.
   */
  step(lr?: number): void {
    if (lr !== undefined) this.lr = lr;
    if (!(Number.isFinite(this.lr) && this.lr >= 0)) throw new FlowGpuError(`AdamW: learning rate must be finite and ≥ 0, got ${this.lr}`);
    this.check();
    const ema = this.ema;
    if (ema && ema.size !== this.flat.size) throw new FlowGpuError('AdamW: the EMA does not have the parameters\' layout');
    const emaDecay = ema ? ema.beginUpdate() : 0;
    const t = ++this.stepCount;
    const s = adamwScalars(this.lr, this.weightDecay, this.beta1, this.beta2, t);
    const n = this.flat.size;
    if (n === 0) return;
    const clip = this.computesGradNorm;
    const partials = Math.min(NORM_PARTIALS, Math.ceil(n / WG));
    const g = gpu();
    const params = {
      n,
      partials,
      one_minus_beta1: 1 - this.beta1,
      beta2: this.beta2,
      one_minus_beta2: 1 - this.beta2,
      eps: this.eps,
      decay: s.decay,
      step_size: s.stepSize,
      bc2_sqrt: s.bc2Sqrt,
      // tracking without clipping: a bound no norm reaches (f32 max), so the multiplier is 1
      max_norm: this.maxGradNorm ?? 3.4e38,
      ema_decay: emaDecay,
      one_minus_ema_decay: 1 - emaDecay,
    };
    if (clip) {
      run(kernel('optim'), 'grad_sumsq', {
        inputs: { grad: this.flat.grads },
        outputs: { partial: this.partial },
        params,
        workgroups: [partials],
        label: 'grad_norm',
      });
      run(kernel('optim'), 'grad_norm_finish', {
        inputs: {},
        outputs: { partial: this.partial, gnorm: this.norm },
        params,
        workgroups: [1],
        label: 'grad_norm.finish',
      });
    }
    run(kernel('optim'), ema ? 'adamw_ema' : 'adamw', {
      inputs: { grad: this.flat.grads },
      outputs: { param: this.flat.params, m: this.m, v: this.v, gnorm: this.norm, ...(ema ? { ema: ema.shadow } : {}) },
      params,
      overrides: { CLIP: clip ? 1 : 0, SKIP_NONFINITE: this.skipNonFinite ? 1 : 0 },
      workgroups: g.grid(n, WG),
      label: ema ? 'adamw+ema' : 'adamw',
    });
  }

  /** Host copies of the optimiser state, for checkpoints (torch's exp_avg / exp_avg_sq, flat). */
  async state(): Promise<{ step: number; m: Float32Array; v: Float32Array }> {
    return { step: this.stepCount, m: await this.m.f32(), v: await this.v.f32() };
  }

  loadState(s: { step: number; m: ArrayLike<number>; v: ArrayLike<number> }): void {
    const n = this.flat.size;
    if (s.m.length !== n || s.v.length !== n) throw new FlowGpuError(`AdamW.loadState: moments must have ${n} elements, got ${s.m.length} and ${s.v.length}`);
    if (!(Number.isInteger(s.step) && s.step >= 0)) throw new FlowGpuError(`AdamW.loadState: bad step count ${s.step}`);
    const g = gpu();
    g.upload(this.m.pooled, this.m.offset * 4, Float32Array.from(s.m));
    g.upload(this.v.pooled, this.v.offset * 4, Float32Array.from(s.v));
    this.stepCount = s.step;
  }

  dispose(): void {
    for (const t of [this.m, this.v, this.partial, this.norm]) t.dispose();
  }
}
