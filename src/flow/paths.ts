/**
 * Affine conditional paths on the GPU: the fused interpolation-plus-target kernel.
 *
 * For data x1 [N, …] (rows of D = size/N values), a scheduler (α_t, σ_t; src/flow/schedulers.ts)
 * and a time sampler (src/flow/time.ts), one dispatch draws x0 ~ N(0, I) and one t per row from
 * the counter-based generator (seed, step) and writes
 *
 *   x_t = α_t·x1 + σ_t·x0 (+ σ·ε)     u_t = α̇_t·x1 + σ̇_t·x0        t
 *
 * — the model input, the regression target and the time — with nothing uploaded from the host
 * (σ·ε: the optional path noise of data-to-data flows, `noise`).
 * Variants take x0 (couplings, reflow pairs) and/or t (loss at fixed times) as given. The draws for
 * (seed, step) are the same in every variant: `drawSourceAndTime` returns exactly the x0 and t
 * that `interpolateWithTarget` uses for that seed and step.
 */
import flowSrc from '../../kernels/flow.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { kernel, registerKernel } from '../tensor/primitives.js';
import { empty, gpu, run, type Shape, type Tensor } from '../tensor/tensor.js';
import { randomLibrary, splitU64 } from './random.js';
import type { Scheduler } from './schedulers.js';
import { uniformTime, type TimeSampler } from './time.js';

registerKernel('flow', randomLibrary() + flowSrc);

const WG = 256;

/**
 * The output of `interpolateWithTarget`: the model input x_t, the times t [N] and the regression
 * target u_t.
 */
export interface PathSample {
  /** x_t, the model input, same shape as x1. */
  xt: Tensor;
  /** t per row, [N]. */
  t: Tensor;
  /** u_t, the conditional velocity (regression target), same shape as x1. */
  ut: Tensor;
}

export interface DrawOptions {
  /** The run's seed (Philox key). */
  seed: number;
  /** The training step (counter word): a new step gives new draws. */
  step: number;
  /** Time sampler (default uniform). */
  time?: TimeSampler;
}

/**
 * Options of `interpolateWithTarget`: seed, step, time sampler, the scheduler, and optionally given
 * x0 and t.
 */
export interface InterpolateOptions extends DrawOptions {
  scheduler: Scheduler;
  /** Source samples paired with x1 (same shape); drawn in the kernel when absent. */
  x0?: Tensor;
  /** Times per row [N]; drawn in the kernel when absent. */
  t?: Tensor;
  /**
   * Path noise σ ≥ 0 (default 0): x_t gains σ·ε, ε ~ N(0, I) drawn for (seed, step); u_t is
   * unchanged. For data-to-data flows (x0 from data), where it widens the path x_t ~ N(t·x1 +
   * (1 − t)·x0, σ²) so the flow is not degenerate (Tong et al. 2023, I-CFM).
   */
  noise?: number;
}

const fmt = (s: Shape) => `[${s.join(', ')}]`;

function rowsOf(x: Tensor, what: string): [number, number] {
  if (x.rank < 1 || x.dtype !== 'f32') throw new FlowGpuError(`${what}: x1 must be an f32 tensor [N, …], got ${x.dtype}${fmt(x.shape)}`);
  const n = x.shape[0];
  if (n === 0) return [0, 0];
  return [n, x.size / n];
}

function flowParams(rows: number, d: number, o: DrawOptions & { noise?: number }, s?: Scheduler) {
  const time = o.time ?? uniformTime();
  const noise = o.noise ?? 0;
  if (!(noise >= 0 && Number.isFinite(noise))) throw new FlowGpuError(`interpolate: the path noise σ must be finite and ≥ 0, got ${noise}`);
  return {
    n: rows * d,
    d: Math.max(d, 1),
    kind: s?.kind ?? 0,
    time_kind: time.kind,
    seed: splitU64(o.seed, 'seed'),
    step: splitU64(o.step, 'step'),
    sp: [...(s?.params ?? [0, 0])],
    tp: [...time.params],
    t_range: [...time.range],
    rows,
    noise,
  };
}

/** x_t, t and u_t for a batch of data x1 in one dispatch (see the file comment). */
export function interpolateWithTarget(x1: Tensor, o: InterpolateOptions): PathSample {
  const [rows, d] = rowsOf(x1, 'interpolate');
  if (o.x0 && (o.x0.dtype !== 'f32' || o.x0.shape.join() !== x1.shape.join())) {
    throw new FlowGpuError(`interpolate: x0 ${o.x0.dtype}${fmt(o.x0.shape)} must be f32 with the shape of x1 ${fmt(x1.shape)}`);
  }
  if (o.t && (o.t.dtype !== 'f32' || o.t.size !== rows || (o.t.rank !== 1 && !(o.t.rank === 2 && o.t.shape[1] === 1)))) {
    throw new FlowGpuError(`interpolate: t must be f32 [${rows}] (one time per row of x1), got ${o.t.dtype}${fmt(o.t.shape)}`);
  }
  const xt = empty(x1.shape);
  const ut = empty(x1.shape);
  const t = o.t ? o.t.view([rows]) : empty([rows]);
  if (x1.size === 0) return { xt, t, ut };
  const entry = o.x0 ? (o.t ? 'interpolate_given' : 'interpolate_given_x0') : o.t ? 'interpolate_given_t' : 'interpolate_sample';
  const inputs: Record<string, Tensor> = { x1 };
  const outputs: Record<string, Tensor> = { xt, ut };
  if (o.x0) inputs.x0 = o.x0;
  if (o.t) inputs.t_in = o.t;
  else outputs.t_out = t;
  run(kernel('flow'), entry, {
    inputs,
    outputs,
    params: flowParams(rows, d, o, o.scheduler),
    workgroups: gpu().grid(Math.ceil((rows * d) / 4), WG),
    label: `${entry}(${o.scheduler.name})`,
  });
  return { xt, t, ut };
}

/** The x0 (shape of `shape`, rows first) and t [N] that interpolateWithTarget draws for (seed, step). */
export function drawSourceAndTime(shape: Shape, o: DrawOptions): { x0: Tensor; t: Tensor } {
  const rows = shape[0] ?? 0;
  const x0 = empty(shape);
  const t = empty([rows]);
  if (x0.size === 0) return { x0, t };
  const d = x0.size / rows;
  run(kernel('flow'), 'draw_source_time', {
    inputs: {},
    outputs: { x0_out: x0, t_out: t },
    params: flowParams(rows, d, o),
    workgroups: gpu().grid(Math.ceil(x0.size / 4), WG),
    label: 'draw_source_time',
  });
  return { x0, t };
}

/** The t [rows] that interpolateWithTarget draws for (seed, step). */
export function sampleTimes(rows: number, o: DrawOptions): Tensor {
  const t = empty([rows]);
  if (rows === 0) return t;
  run(kernel('flow'), 'draw_time', {
    inputs: {},
    outputs: { t_out: t },
    params: flowParams(rows, 1, o),
    workgroups: gpu().grid(rows, WG),
    label: 'draw_time',
  });
  return t;
}
