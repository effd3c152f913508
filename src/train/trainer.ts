/**
 * The training run: one trainer for every flow flowgpu trains (2-D toys, images, reflow students).
 *
 *   const trainer = new Trainer({ net, data, steps: 3000, lr: 1e-3, ema: 0.999 });
 *   if (saved) trainer.restore(saved);                 // resume: bit-identical losses
 *   const r = await trainer.run({ onProgress, onCheckpoint, signal });
 *   const bytes = await trainer.modelFile();           // EMA weights + config: loadModel reads it
 *   trainer.dispose();
 *
 * Each step is `flowMatchingStep` (one recorded submit, nothing read back): the batch of step s from
 * the data source, the path's interpolation and target, the model, the fused MSE, backward, AdamW
 * with clipping and the EMA fused in. The loss stays on the GPU (`LossMeter`) and is read once per
 * `logEvery` steps, paced so the read does not spin against the driver (see `pacedRead`). A
 * non-finite window stops the run with `TrainingDiverged` naming the steps and the last checkpoint.
 * `onCheckpoint` receives the full state as bytes every `checkpointEvery` steps and at the end;
 * the Node entry writes it atomically. An aborted `signal` ends the run after the current step with
 * a checkpoint, and `run()` resolves with `cancelled: true`.
 *
 * Everything random is a function of (seed, step): the data source's batch of step s, the source
 * noise and times (Philox on the GPU), label dropout. So a run restored from a checkpoint replays
 * the remaining steps exactly.
 */
import { exactOTCouple, type Coupling } from '../flow/coupling.js';
import { condOT, type Scheduler } from '../flow/schedulers.js';
import type { TimeSampler } from '../flow/time.js';
import { flowMatchingStep, LossMeter } from '../flow/train.js';
import { FlowGpuError } from '../gpu/errors.js';
import type { ProfileRow } from '../gpu/runtime.js';
import type { DecodedCheckpoint } from '../io/checkpoint.js';
import { netSpecOf, type VelocityNet } from '../nn/registry.js';
import { AdamW } from '../optim/adamw.js';
import { EMA } from '../optim/ema.js';
import { learningRate, type LrScheduleConfig } from '../optim/schedule.js';
import { gpu, type Tensor } from '../tensor/tensor.js';
import { encodeModelFile, encodeRunState, restoreRunState, type History } from './state.js';

/**
 * One training batch: data x1; optional i32 labels or continuous conditions; optional sources —
 * `x0` paired with x1 row by row (reflow, paired data: never re-coupled) or `source`, a batch of
 * another data set that the coupling pairs with x1 (a data-to-data flow).
 */
export interface TrainBatch {
  x1: Tensor;
  labels?: Tensor;
  /** Continuous conditions f32 [N, W] for a net with `condVector` W. */
  cond?: Tensor;
  x0?: Tensor;
  source?: Tensor;
}

/**
 * Where batches come from. `batch(step)` must depend on the step alone (not on how many batches
 * were drawn before), so that a resumed run sees the same data; the trainer disposes the tensors.
 */
export interface DataSource {
  batch(step: number): TrainBatch | Promise<TrainBatch>;
  dispose?(): void;
}

/**
 * A training objective other than flow matching (discrete flow matching: discrete's
 * `discreteObjective`): `step` records one whole step for batch `batch` (one submit, no read-back)
 * and returns its loss, a one-element tensor; `config` is stored in the run's config as `objective`.
 */
export interface TrainObjective {
  config: Record<string, unknown>;
  step(net: VelocityNet, batch: TrainBatch, o: { seed: number; step: number; labelDropout: number; update: () => void }): Tensor;
}

/** A `Trainer` coupling by name: 'independent', 'ot' (exact) or 'sinkhorn' (entropic). */
export type CouplingName = 'independent' | 'ot' | 'sinkhorn';

/**
 * Options of `Trainer`: network, data source, steps, seed, AdamW and schedule, clipping, EMA, path,
 * time sampler, coupling, label dropout, logging and checkpoint intervals.
 */
export interface TrainerOptions {
  /** The network (`buildNet(spec, seed)`, or `loadModel(...).net` to fine-tune). */
  net: VelocityNet;
  data: DataSource;
  /** Total steps (a resumed run continues to this). */
  steps: number;
  /** Seed of everything random in a step (default 0). */
  seed?: number;
  /** AdamW learning rate (default 1e-3); `warmup` > 0: linear warm-up, then cosine decay to 1%. */
  lr?: number;
  warmup?: number;
  weightDecay?: number;
  /** Clip gradients to this global norm (default: off). */
  gradClip?: number | null;
  /** EMA decay of the sampling weights (default 0.999; 0: no EMA). */
  ema?: number;
  /** The probability path (default CondOT) and the time sampler (default uniform). */
  scheduler?: Scheduler;
  time?: TimeSampler;
  /** Minibatch coupling of source and data (default independent); 'ot' is exact, 'sinkhorn' entropic. */
  coupling?: CouplingName | Coupling;
  /**
   * Path noise σ (default 0): x_t gains σ·ε. For data-to-data and paired flows, where it keeps the
   * path from being degenerate (x_t ~ N(t·x1 + (1 − t)·x0, σ²) with CondOT).
   */
  pathNoise?: number;
  /** Conditional nets: the probability of replacing a label (or condition) by ∅ (classifier-free guidance). */
  labelDropout?: number;
  /** Read the loss back every this many steps (default 50). */
  logEvery?: number;
  /** Emit a checkpoint every this many steps (default 500; a multiple of logEvery). */
  checkpointEvery?: number;
  /**
   * The run's description, stored in every checkpoint and model file. Default: the network's spec
   * and these options. `net` is added when it carries no spec, so `loadModel` can always rebuild.
   */
  config?: Record<string, unknown>;
  /** Config keys that may change on restore (default: ['steps']). */
  mayDiffer?: string[];
  /** The step's objective (default: flow matching with the options above). */
  objective?: TrainObjective;
}

/**
 * A progress report of `Trainer.run`: step, total steps, the mean loss of the last window, speed,
 * ETA and elapsed seconds.
 */
export interface TrainProgress {
  step: number;
  steps: number;
  /** Mean loss of the window that ended at `step`. */
  loss: number;
  stepsPerSecond: number;
  /** Estimated seconds to the end (NaN until known). */
  etaSeconds: number;
  elapsedSeconds: number;
}

/** Callbacks of `Trainer.run`: progress, checkpoint bytes, an abort signal and a kernel profile. */
export interface RunHooks {
  /** After every loss read (every logEvery steps). */
  onProgress?(p: TrainProgress): void;
  /** The full state as bytes, every checkpointEvery steps and at the end (awaited). */
  onCheckpoint?(c: { step: number; bytes: Uint8Array; final: boolean }): void | Promise<void>;
  /** Aborting ends the run after the current step (with a checkpoint). */
  signal?: AbortSignal;
  /**
   * Time every kernel of 10 steps on the GPU (after 10 of warm-up) and report them here: rows null
   * when the adapter has no timestamp queries.
   */
  onProfile?(report: { rows: ProfileRow[] | null; steps: number }): void;
}

/**
 * The outcome of `Trainer.run`: final step, loss history, wall time and steps of this invocation,
 * and whether it was cancelled.
 */
export interface TrainResult {
  step: number;
  history: History;
  /** This invocation's wall time (not earlier runs of a restored run) and steps. */
  trainSeconds: number;
  stepsRun: number;
  cancelled: boolean;
}

/** The loss became NaN or infinite: names the steps and the last checkpoint emitted. */
export class TrainingDiverged extends FlowGpuError {
  override name = 'TrainingDiverged';
  constructor(
    readonly fromStep: number,
    readonly toStep: number,
    readonly loss: number,
    readonly lastCheckpointStep: number | null,
  ) {
    super(
      `training diverged: the mean loss of steps ${fromStep}–${toStep} is ${loss}. Lower the learning rate, clip gradients ` +
        `(gradClip 1), or check the data. ` +
        (lastCheckpointStep === null ? 'No checkpoint was written.' : `The last checkpoint (step ${lastCheckpointStep}) is intact.`),
    );
  }
}

/** Constant lr, or linear warm-up then cosine decay to 1% when `warmup` > 0. */
export function lrSchedule(o: { lr: number; warmup: number; steps: number }): LrScheduleConfig {
  return o.warmup > 0
    ? { kind: 'cosine', lr: o.lr, warmupSteps: o.warmup, totalSteps: o.steps, minLr: o.lr * 0.01 }
    : { kind: 'constant', lr: o.lr, warmupSteps: 0 };
}

const isInt = (v: number, min: number) => Number.isInteger(v) && v >= min;

/**
 * Trains a velocity network by flow matching with AdamW and an EMA, reproducibly from (seed, step),
 * with checkpoints, resume and model files.
 */
export class Trainer {
  readonly net: VelocityNet;
  readonly opt: AdamW;
  readonly ema: EMA | null;
  readonly config: Record<string, unknown>;
  readonly steps: number;
  /** Steps done so far (restored runs start past 0). */
  step = 0;
  history: History = { loss: [], lossStep: [] };
  private readonly o: Required<Pick<TrainerOptions, 'seed' | 'lr' | 'warmup' | 'logEvery' | 'checkpointEvery' | 'labelDropout'>> & TrainerOptions;
  private readonly lrAt: (step: number) => number;
  private lastCheckpoint: number | null = null;

  constructor(opts: TrainerOptions) {
    const o = (this.o = { seed: 0, lr: 1e-3, warmup: 0, logEvery: 50, checkpointEvery: 500, labelDropout: 0, ...opts });
    this.net = o.net;
    this.steps = o.steps;
    if (!isInt(o.steps, 1)) throw new FlowGpuError(`train: steps must be a positive integer, got ${o.steps}`);
    if (!isInt(o.logEvery, 1) || !isInt(o.checkpointEvery, 1)) throw new FlowGpuError(`train: logEvery and checkpointEvery must be positive integers`);
    if (o.checkpointEvery % o.logEvery !== 0) {
      throw new FlowGpuError(`train: checkpointEvery (${o.checkpointEvery}) must be a multiple of logEvery (${o.logEvery}) so a resumed run logs the same windows`);
    }
    if (!(o.lr > 0)) throw new FlowGpuError(`train: lr must be > 0, got ${o.lr}`);
    if (!(o.labelDropout >= 0 && o.labelDropout <= 1)) throw new FlowGpuError(`train: labelDropout must be in [0, 1], got ${o.labelDropout}`);
    if (!((o.pathNoise ?? 0) >= 0 && Number.isFinite(o.pathNoise ?? 0))) throw new FlowGpuError(`train: pathNoise must be finite and ≥ 0, got ${o.pathNoise}`);
    const emaDecay = o.ema ?? 0.999;
    const cfg = o.config ?? {
      net: o.net.spec, steps: o.steps, seed: o.seed, lr: o.lr, warmup: o.warmup, weightDecay: o.weightDecay ?? 0,
      gradClip: o.gradClip ?? null, ema: emaDecay, labelDropout: o.labelDropout, logEvery: o.logEvery,
      ...(o.pathNoise ? { pathNoise: o.pathNoise } : {}),
    };
    const withObjective = o.objective && cfg.objective === undefined ? { ...cfg, objective: o.objective.config } : cfg;
    this.config = netSpecOf(withObjective) ? withObjective : { ...withObjective, net: o.net.spec };
    const model = o.net.module;
    model.flatten();
    this.ema = emaDecay > 0 ? new EMA(model, { decay: emaDecay, warmup: true }) : null;
    this.opt = new AdamW(model, { lr: o.lr, weightDecay: o.weightDecay ?? 0, maxGradNorm: o.gradClip ?? null, ema: this.ema });
    const sched = lrSchedule({ lr: o.lr, warmup: o.warmup, steps: o.steps });
    this.lrAt = (s) => learningRate(sched, s);
  }

  /** The step of the last checkpoint emitted or restored (null: none yet). */
  get lastCheckpointStep(): number | null {
    return this.lastCheckpoint;
  }

  /** Restores a checkpoint written by this trainer's `onCheckpoint` (same config, except `mayDiffer`). */
  restore(checkpoint: Uint8Array | DecodedCheckpoint, where?: string): void {
    const st = restoreRunState(checkpoint, { config: this.config, model: this.net.module, opt: this.opt, ema: this.ema, mayDiffer: this.o.mayDiffer ?? ['steps'], where });
    if (st.step > this.steps) {
      throw new FlowGpuError(`${where ?? 'the checkpoint'} is at step ${st.step}, past the ${this.steps} steps asked for: ask for more steps to continue it`);
    }
    this.step = st.step;
    this.history = st.history;
    this.lastCheckpoint = st.step;
  }

  /** The full training state as bytes (a checkpoint). */
  checkpoint(): Promise<Uint8Array> {
    return encodeRunState({ config: this.config, model: this.net.module, opt: this.opt, ema: this.ema }, { step: this.step, history: this.history });
  }

  /** The sampling weights (EMA average when there is one) with the config: a model file's bytes. */
  modelFile(extra: Record<string, unknown> = {}): Promise<Uint8Array> {
    return encodeModelFile({ config: this.config, model: this.net.module, ema: this.ema }, { step: this.step, ...extra });
  }

  /** Runs `fn` with the sampling weights (the EMA average) in the network, then swaps back. */
  withSamplingWeights<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.ema ? this.ema.withAverage(fn) : Promise.resolve().then(fn);
  }

  /** Records training step s and returns its loss (a one-element tensor; nothing is read back). */
  async trainStep(s: number): Promise<Tensor> {
    const o = this.o;
    const b = await o.data.batch(s);
    if (o.objective) {
      try {
        return o.objective.step(this.net, b, { seed: o.seed, step: s, labelDropout: o.labelDropout, update: () => this.opt.step(this.lrAt(s)) });
      } finally {
        for (const t of [b.x1, b.labels, b.cond, b.x0, b.source]) t?.dispose();
      }
    }
    const c = o.coupling;
    let x0 = b.x0;
    try {
      const recouple = c !== undefined && c !== 'independent' && !(typeof c === 'object' && c.kind === 'independent');
      if (x0 && recouple) throw new FlowGpuError('train: the data source gives x0 pairs; they cannot be re-coupled (use the independent coupling)');
      let source = b.source;
      if (c === 'ot' || (typeof c === 'object' && c.kind === 'ot-exact')) {
        x0 = await exactOTCouple(b.x1, { seed: o.seed, step: s, source });
        source = undefined;
      }
      const coupling: Coupling | undefined = c === 'sinkhorn' ? { kind: 'ot-sinkhorn' } : typeof c === 'object' ? c : undefined;
      const net = this.net;
      const model = { forward: net.forward, parameters: () => net.module.parameters(), zeroGrad: () => net.module.zeroGrad() };
      const labels = net.numClasses > 0 ? b.labels : net.condVector ? b.cond : undefined;
      if (net.condVector && !labels) throw new FlowGpuError('train: the network takes a continuous condition but the data source gives none (cond)');
      return flowMatchingStep(model, b.x1, {
        scheduler: o.scheduler ?? condOT(),
        time: o.time,
        seed: o.seed,
        step: s,
        x0,
        source,
        noise: o.pathNoise,
        coupling,
        cond: labels,
        labelDropout: labels && o.labelDropout > 0 ? { p: o.labelDropout, nullLabel: -1 } : null,
        update: () => this.opt.step(this.lrAt(s)),
      });
    } finally {
      if (x0 !== b.x0) x0?.dispose();
      for (const t of [b.x1, b.labels, b.cond, b.x0, b.source]) t?.dispose();
    }
  }

  /** Trains from the current step to `steps`. */
  async run(hooks: RunHooks = {}): Promise<TrainResult> {
    const { logEvery, checkpointEvery } = this.o;
    const first = this.step;
    const meter = new LossMeter();
    const pace: Pace = { windowStart: performance.now(), msPerStep: 0, windows: 0 };
    const t0 = performance.now();
    const prof = hooks.onProfile ? profileWindow(first, this.steps, hooks.onProfile) : null;
    let cancelled = false;
    const emit = async (final: boolean) => {
      if (!hooks.onCheckpoint) return;
      await hooks.onCheckpoint({ step: this.step, bytes: await this.checkpoint(), final });
      this.lastCheckpoint = this.step;
      pace.windowStart = performance.now(); // the read-back synced: the next window starts now
    };
    const readWindow = async () => {
      const window = meter.pending;
      const mean = await pacedRead(meter, pace);
      if (!Number.isFinite(mean)) throw new TrainingDiverged(this.step - window + 1, this.step, mean, this.lastCheckpoint);
      this.history.loss.push(mean);
      this.history.lossStep.push(this.step);
      const elapsed = (performance.now() - t0) / 1000;
      const rate = (this.step - first) / elapsed;
      hooks.onProgress?.({ step: this.step, steps: this.steps, loss: mean, stepsPerSecond: rate, etaSeconds: rate > 0 ? (this.steps - this.step) / rate : NaN, elapsedSeconds: elapsed });
    };
    try {
      while (this.step < this.steps) {
        if (hooks.signal?.aborted) {
          cancelled = true;
          if (meter.pending) await readWindow();
          break;
        }
        if (prof && this.step === prof.from) gpu().startProfile();
        meter.add(await this.trainStep(this.step));
        this.step++;
        if (prof && this.step === prof.to) hooks.onProfile!({ rows: await gpu().stopProfile(), steps: prof.to - prof.from });
        if (this.step % logEvery === 0 || this.step === this.steps) await readWindow();
        if (this.step % checkpointEvery === 0 && this.step < this.steps && !hooks.signal?.aborted) await emit(false);
      }
    } finally {
      meter.dispose();
    }
    await emit(true);
    return { step: this.step, history: this.history, trainSeconds: (performance.now() - t0) / 1000, stepsRun: this.step - first, cancelled };
  }

  /** Releases the optimiser, the EMA and the data source (the network stays: it is the caller's). */
  dispose(): void {
    this.opt.dispose();
    this.ema?.dispose();
    this.o.data.dispose?.();
  }
}

/**
 * The steps profiled: 10 after 10 of warm-up (pipelines compile in the first), or fewer in a short
 * run; none (reported with rows null) where the adapter has no timestamp queries.
 */
function profileWindow(first: number, steps: number, report: NonNullable<RunHooks['onProfile']>): { from: number; to: number } | null {
  if (!gpu().hasFeature('timestamp-query')) {
    report({ rows: null, steps: 0 });
    return null;
  }
  const left = steps - first;
  if (left < 2) return null;
  const from = first + Math.min(10, Math.floor(left / 2));
  return { from, to: Math.min(steps, from + 10) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Reads the loss window back after sleeping through most of the time its steps should take on the
 * GPU (learned from earlier windows). Dawn's node bindings poll on the JavaScript thread while a
 * GPU promise is pending; on a CPU driver (lavapipe, 2 cores) that polling competes with the
 * driver's threads. The first window (pipeline compiles) teaches nothing; a read that returns at
 * once after a sleep means the estimate ran long, so it shrinks; if the program rather than the GPU
 * is the bottleneck, the due time has passed and nothing sleeps.
 */
interface Pace {
  windowStart: number;
  msPerStep: number;
  windows: number;
}

async function pacedRead(meter: LossMeter, pace: Pace): Promise<number> {
  const steps = meter.pending;
  let slept = false;
  if (pace.msPerStep > 0) {
    const left = pace.windowStart + 0.9 * steps * pace.msPerStep - performance.now();
    if (left > 2) {
      await sleep(left);
      slept = true;
    }
  }
  const t = performance.now();
  const mean = await meter.read();
  const now = performance.now();
  const per = (now - pace.windowStart) / steps;
  if (pace.windows++ > 0) pace.msPerStep = slept && now - t < 1 ? 0.8 * per : per;
  pace.windowStart = now;
  return mean;
}
