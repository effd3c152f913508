/**
 * The training loop shared by `flowgpu train toy`, `train mnist` and `reflow`: optimiser and EMA
 * set-up, resume from checkpoint.safetensors, one recorded step per iteration with the loss summed
 * on the GPU (one read-back per --log-every steps), the progress bar, the divergence check, and a
 * checkpoint every --ckpt-every steps and at the end. What a step does (data, coupling,
 * conditioning) is the caller's `step(s)`; sampling and output files are the caller's too.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LossMeter } from '../flow/train.js';
import type { Module } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { EMA } from '../optim/ema.js';
import { learningRate, type LrScheduleConfig } from '../optim/schedule.js';
import type { SolverName } from '../flow/solvers.js';
import { destroyGpu, formatProfile, initGpu } from '../index.js';
import { writePng } from '../io/node-files.js';
import { lossPlot } from '../io/plot.js';
import { gpu, type Tensor } from '../tensor/tensor.js';
import { num, oneOf } from './args.js';
import { UsageError } from './errors.js';
import { Progress } from './progress.js';
import { loadRun, saveModel, saveRun, type History } from './runstate.js';

/** What the loop reads of a run's config (stored whole in the checkpoints). */
export interface LoopConfig {
  steps: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  gradClip: number | null;
  /** EMA decay (0 = no EMA). */
  ema: number;
  logEvery: number;
}

/** The flags every `flowgpu train` takes (parseArgs specs; spread into a command's own table). */
export const LOOP_OPTIONS = {
  steps: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  hidden: { type: 'string' },
  layers: { type: 'string' },
  warmup: { type: 'string' },
  'weight-decay': { type: 'string' },
  'grad-clip': { type: 'string' },
  ema: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  'log-every': { type: 'string' },
  'ckpt-every': { type: 'string' },
  samples: { type: 'string' },
  solver: { type: 'string' },
  nfe: { type: 'string' },
  profile: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const SOLVERS = ['euler', 'midpoint', 'heun', 'rk4', 'dopri5'] as const;

/** The loop's settings and the run's batch size and seed, as parsed from LOOP_OPTIONS. */
export interface LoopSettings extends LoopConfig {
  batch: number;
  seed: number;
}

/**
 * Reads LOOP_OPTIONS' values with a command's defaults: the training settings, the checkpoint
 * period, and the final sampling (samples, solver, nfe). --grad-clip 0 turns clipping off.
 */
export function loopSettings(
  v: Record<string, string | boolean | undefined>,
  d: { steps: number; batch: number; lr: number; gradClip: number | null; samples: number; minBatch?: number },
): { loop: LoopSettings; ckptEvery: number; resume: boolean; profile: boolean; samples: number; solver: SolverName; nfe: number } {
  const s = v as Record<string, string | undefined>;
  const logEvery = num(s['log-every'] ?? 50, 'log-every', { int: true, min: 1 });
  const ckptEvery = num(s['ckpt-every'] ?? 500, 'ckpt-every', { int: true, min: 1 });
  checkCkptEvery(ckptEvery, logEvery);
  const clip = s['grad-clip'];
  const loop: LoopSettings = {
    steps: num(s.steps ?? d.steps, 'steps', { int: true, min: 1 }),
    batch: num(s.batch ?? d.batch, 'batch', { int: true, min: d.minBatch ?? 1 }),
    lr: num(s.lr ?? d.lr, 'lr', { gt: 0 }),
    warmup: num(s.warmup ?? 0, 'warmup', { int: true, min: 0 }),
    weightDecay: num(s['weight-decay'] ?? 0, 'weight-decay', { min: 0 }),
    gradClip: clip === undefined ? d.gradClip : clip === '0' ? null : num(clip, 'grad-clip', { gt: 0 }),
    ema: num(s.ema ?? 0.999, 'ema', { min: 0, max: 1 }),
    seed: num(s.seed ?? 0, 'seed', { int: true, min: 0 }),
    logEvery,
  };
  return {
    loop,
    ckptEvery,
    resume: !!v.resume,
    profile: !!v.profile,
    samples: num(s.samples ?? d.samples, 'samples', { int: true, min: 1 }),
    solver: oneOf(s.solver ?? 'midpoint', 'solver', SOLVERS),
    nfe: num(s.nfe ?? 40, 'nfe', { int: true, min: 1 }),
  };
}

/** Constant lr, or linear warm-up then cosine decay to 1% when `warmup` > 0. */
export function lrScheduleOf(cfg: LoopConfig): LrScheduleConfig {
  return cfg.warmup > 0
    ? { kind: 'cosine', lr: cfg.lr, warmupSteps: cfg.warmup, totalSteps: cfg.steps, minLr: cfg.lr * 0.01 }
    : { kind: 'constant', lr: cfg.lr, warmupSteps: 0 };
}

/** Flattens the model and builds AdamW (with the EMA fused into its dispatch) as the config says. */
export function makeOptimizer(model: Module, cfg: LoopConfig): { opt: AdamW; ema: EMA | null; lrAt: (step: number) => number } {
  model.flatten();
  const ema = cfg.ema > 0 ? new EMA(model, { decay: cfg.ema, warmup: true }) : null;
  const opt = new AdamW(model, { lr: cfg.lr, weightDecay: cfg.weightDecay, maxGradNorm: cfg.gradClip, ema });
  const sched = lrScheduleOf(cfg);
  return { opt, ema, lrAt: (s) => learningRate(sched, s) };
}

export interface TrainLoopOptions {
  /** The run's config: the loop reads LoopConfig's fields; the checkpoint stores all of it. */
  config: LoopConfig & object;
  out: string;
  resume: boolean;
  ckptEvery: number;
  /** --profile: time every kernel of up to 10 steps on the GPU and print where a step's time goes. */
  profile?: boolean;
  model: Module;
  opt: AdamW;
  ema: EMA | null;
  /** Config keys that may change on --resume (default: the total number of steps). */
  mayDiffer?: string[];
  /** The line printed before training (after a resume message, when resuming). */
  header: string;
  /** Called once with the step training starts from (0, or the resumed step): seek data samplers. */
  start?: (step: number) => void;
  /**
   * Records training step s (zero-based) and returns its loss, a one-element tensor the loop then
   * owns. Nothing should be read back here.
   */
  step: (s: number) => Tensor | Promise<Tensor>;
}

export interface TrainLoopResult {
  step: number;
  history: History;
  /** Wall time of this invocation's training (not including earlier runs of a resumed run). */
  trainSeconds: number;
  /** Steps run by this invocation. */
  stepsRun: number;
}

export async function trainLoop(o: TrainLoopOptions): Promise<TrainLoopResult> {
  const { config: cfg, out, model, opt, ema } = o;
  let step = 0;
  let history: History = { loss: [], lossStep: [] };
  if (o.resume) {
    const st = loadRun(out, cfg as unknown as Record<string, unknown>, model, opt, ema, o.mayDiffer ?? ['steps']);
    step = st.step;
    history = st.history;
    process.stderr.write(`resumed ${out} at step ${step}\n`);
  }
  const first = step;
  o.start?.(step);
  process.stderr.write(o.header + '\n');
  const meter = new LossMeter();
  const pace: Pace = { windowStart: performance.now(), msPerStep: 0, windows: 0 };
  const progress = new Progress(cfg.steps, 'train', step);
  const t0 = Date.now();
  try {
    const prof = o.profile ? profileWindow(first, cfg.steps) : null;
    while (step < cfg.steps) {
      if (prof && step === prof.from) gpu().startProfile();
      meter.add(await o.step(step));
      step++;
      if (prof && step === prof.to) await printProfile(prof.to - prof.from);
      if (step % cfg.logEvery === 0 || step === cfg.steps) {
        const window = meter.pending;
        const mean = await pacedRead(meter, pace);
        if (!Number.isFinite(mean)) {
          throw new UsageError(
            `training diverged: the mean loss of steps ${step - window + 1}–${step} is ${mean}. ` +
              'Lower --lr, add --grad-clip 1, or check the data. The last checkpoint is in ' + out,
          );
        }
        history.loss.push(mean);
        history.lossStep.push(step);
        progress.update(step, { loss: mean });
      }
      if (step % o.ckptEvery === 0 && step < cfg.steps) {
        await saveRun(out, cfg, model, opt, ema, { step, history });
        pace.windowStart = performance.now(); // the save synced: the next window starts now
      }
    }
  } finally {
    meter.dispose();
  }
  progress.finish(step, { loss: history.loss[history.loss.length - 1] ?? NaN });
  await saveRun(out, cfg, model, opt, ema, { step, history });
  return { step, history, trainSeconds: (Date.now() - t0) / 1000, stepsRun: step - first };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The steps --profile times: 10 after 10 of warm-up (pipelines compile in the first), or fewer in a
 * short run; null (with a note) where the adapter has no timestamp queries.
 */
function profileWindow(first: number, steps: number): { from: number; to: number } | null {
  if (!gpu().hasFeature('timestamp-query')) {
    process.stderr.write(`--profile: adapter '${adapterName()}' has no timestamp queries; not profiling\n`);
    return null;
  }
  const left = steps - first;
  if (left < 2) return null;
  const from = first + Math.min(10, Math.floor(left / 2));
  return { from, to: Math.min(steps, from + 10) };
}

/** Stops the profile and prints its kernels, per step, the most expensive first. */
async function printProfile(steps: number): Promise<void> {
  const rows = await gpu().stopProfile();
  const total = rows.reduce((a, r) => a + r.ms, 0);
  const dispatches = rows.reduce((a, r) => a + r.count, 0);
  const head = `--profile: GPU time of ${steps} steps, per step: ${(total / steps).toFixed(2)} ms in ${(dispatches / steps).toFixed(1)} dispatches`;
  process.stderr.write([head, ...formatProfile(rows, steps)].join('\n') + '\n');
}

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

/**
 * The files every trainer ends with: loss.png, model.safetensors (the sampling weights) and
 * metrics.json = { ...head, steps, parameters, finalLoss, trainSeconds, stepsPerSecond, adapter, ...tail }.
 */
export async function finishRun(o: {
  out: string;
  config: object;
  model: Module;
  ema: EMA | null;
  result: TrainLoopResult;
  resume: boolean;
  lossTitle: string;
  head: Record<string, unknown>;
  tail: Record<string, unknown>;
}): Promise<void> {
  const { history, step, trainSeconds, stepsRun } = o.result;
  writePng(join(o.out, 'loss.png'), lossPlot(history.loss, { steps: history.lossStep, title: o.lossTitle }));
  await saveModel(o.out, o.config, o.model, o.ema, { step });
  const metrics = {
    ...o.head,
    steps: step,
    parameters: o.model.parameterCount(),
    finalLoss: history.loss[history.loss.length - 1],
    trainSeconds,
    stepsPerSecond: o.resume ? undefined : stepsRun / trainSeconds,
    adapter: adapterName(),
    ...o.tail,
  };
  writeFileSync(join(o.out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
}

/** Runs `fn` with the EMA average swapped into the model (when there is one), then swaps back. */
export async function withSamplingWeights<T>(ema: EMA | null, fn: () => T | Promise<T>): Promise<T> {
  return ema ? ema.withAverage(fn) : fn();
}

/** `--ckpt-every` must be a multiple of `--log-every` so a resumed run logs the same windows. */
export function checkCkptEvery(ckptEvery: number, logEvery: number): void {
  if (ckptEvery % logEvery !== 0) {
    throw new UsageError(`--ckpt-every (${ckptEvery}) must be a multiple of --log-every (${logEvery}) so a resumed run logs the same windows`);
  }
}

/** "vendor device" of the adapter, for headers and metrics. */
export function adapterName(): string {
  const i = gpu().info;
  return `${i.vendor} ${i.device || i.architecture}`.trim();
}

/** Runs a command's body with the GPU runtime up, and tears it down afterwards (also on error). */
export async function withGpu<T>(fn: () => Promise<T>): Promise<number> {
  await initGpu({ dawnFlags: ['disable-dawn-features=timestamp_quantization'] }); // exact timestamps for --profile
  try {
    await fn();
    return 0;
  } finally {
    destroyGpu();
  }
}
