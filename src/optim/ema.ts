/**
 * Exponential moving average of a module's flat parameters, for sampling:
 *
 *   ema ← d·ema + (1 − d)·θ        (one dispatch over all parameters)
 *
 * with a fixed decay d, or with `warmup` the decay of torch_ema / the diffusion codebases,
 * d_k = min(decay, (1 + k)/(10 + k)) at the k-th update (k = 1, 2, …), so that early averages are
 * not dominated by the random initialisation. The average starts as a copy of the parameters.
 *
 * Two ways to sample with it:
 * - `swap()` exchanges the module's weights and the average (GPU copies, no read-back); call it
 *   again to swap back. Updates are refused while swapped.
 * - `bind(m)` makes a second module of the same architecture (e.g. `VelocityMLP.fromConfig(cfg)`)
 *   compute with the average itself: its parameters become views into this EMA's buffer, so it
 *   always sees the current average and its `namedParameters()` give the EMA state dict.
 * AdamW can also update the EMA inside its own dispatch (`new AdamW(m, { ema })`).
 */
import { FlowGpuError } from '../gpu/errors.js';
import { Module, type FlatParameters } from '../nn/module.js';
import { axpby } from '../tensor/primitives.js';
import { empty, gpu, keep, type Tensor } from '../tensor/tensor.js';

/** Options of `EMA`: the decay (default 0.999) and whether to warm it up. */
export interface EMAOptions {
  /** d (default 0.999). */
  decay?: number;
  /** Use min(decay, (1 + k)/(10 + k)) at the k-th update (default false). */
  warmup?: boolean;
}

/**
 * An exponential moving average of a module's flat parameters, for sampling via `swap()` or
 * `bind(module)`.
 */
export class EMA {
  readonly flat: FlatParameters;
  /** The average, flat, in the parameters' layout. */
  readonly shadow: Tensor;
  decay: number;
  warmup: boolean;
  /** Updates applied so far. */
  updates = 0;
  private swapped = false;

  constructor(target: Module | FlatParameters, opts: EMAOptions = {}) {
    this.flat = target instanceof Module ? target.flatten() : target;
    this.decay = opts.decay ?? 0.999;
    this.warmup = opts.warmup ?? false;
    if (!(this.decay >= 0 && this.decay <= 1)) throw new FlowGpuError(`EMA: decay must be in [0, 1], got ${this.decay}`);
    this.shadow = keep(empty([this.flat.size]));
    gpu().copy(this.flat.params.pooled, this.flat.params.offset * 4, this.shadow.pooled, 0, this.flat.size * 4);
  }

  get size(): number {
    return this.flat.size;
  }

  get isSwapped(): boolean {
    return this.swapped;
  }

  /** The decay the k-th update uses (k ≥ 1). */
  decayAt(k: number): number {
    return this.warmup ? Math.min(this.decay, (1 + k) / (10 + k)) : this.decay;
  }

  /** @internal counts an update and returns its decay (AdamW's fused path uses this). */
  beginUpdate(): number {
    if (this.swapped) throw new FlowGpuError('EMA: cannot update while the average is swapped into the module; swap() back first');
    return this.decayAt(++this.updates);
  }

  /** ema ← d·ema + (1 − d)·θ, one dispatch. */
  update(): void {
    const d = this.beginUpdate();
    axpby(this.shadow, this.flat.params, 1 - d, d);
  }

  /** Exchanges the module's weights and the average (call again to restore). */
  swap(): void {
    const n = this.flat.size;
    const g = gpu();
    const tmp = empty([n]);
    const p = this.flat.params;
    g.copy(p.pooled, p.offset * 4, tmp.pooled, tmp.offset * 4, n * 4);
    g.copy(this.shadow.pooled, 0, p.pooled, p.offset * 4, n * 4);
    g.copy(tmp.pooled, tmp.offset * 4, this.shadow.pooled, 0, n * 4);
    tmp.dispose();
    this.swapped = !this.swapped;
  }

  /** Runs `fn` with the average swapped in, and swaps back afterwards (also on error). */
  async withAverage<T>(fn: () => T | Promise<T>): Promise<T> {
    this.swap();
    try {
      return await fn();
    } finally {
      this.swap();
    }
  }

  /** Makes `m` (same architecture, not yet flattened) compute with the average; returns m. */
  bind<M extends Module>(m: M): M {
    m.bindFlat(this.shadow);
    return m;
  }

  /** Copies host values into the average (checkpoint loading), flat layout. */
  load(values: ArrayLike<number>): void {
    if (values.length !== this.flat.size) throw new FlowGpuError(`EMA.load: expected ${this.flat.size} values, got ${values.length}`);
    gpu().upload(this.shadow.pooled, 0, Float32Array.from(values));
  }

  dispose(): void {
    this.shadow.dispose();
  }
}
