/**
 * Learning-rate schedules: pure functions of the step index (0 for the first update), so a resumed
 * run gets the same rates, and a JSON-able config for checkpoints.
 *
 * warm-up (linear), for k < W:   lr_k = lr·(k + 1)/W          (the W-th update, k = W − 1, uses lr)
 * cosine decay, for k ≥ W:       p = min(1, (k − W)/(T − W))
 *                                 lr_k = minLr + (lr − minLr)·½·(1 + cos(π·p))
 * so lr_W = lr, the midpoint k = W + (T − W)/2 gives (lr + minLr)/2, and k ≥ T gives minLr.
 * 'constant' keeps lr after the warm-up.
 */
import { FlowGpuError } from '../gpu/errors.js';

/**
 * A learning-rate schedule as plain JSON: linear warm-up, then constant or cosine decay to `minLr`
 * at `totalSteps`.
 */
export type LrScheduleConfig =
  | { kind: 'constant'; lr: number; warmupSteps: number }
  | { kind: 'cosine'; lr: number; warmupSteps: number; totalSteps: number; minLr: number };

/**
 * Validates a schedule config (finite lr, integer steps, minLr in [0, lr]) and returns it; throws
 * otherwise.
 */
export function checkSchedule(c: LrScheduleConfig): LrScheduleConfig {
  const nonNegInt = (v: number) => Number.isInteger(v) && v >= 0;
  if (!(Number.isFinite(c.lr) && c.lr >= 0)) throw new FlowGpuError(`lr schedule: lr must be finite and ≥ 0, got ${c.lr}`);
  if (!nonNegInt(c.warmupSteps)) throw new FlowGpuError(`lr schedule: warmupSteps must be an integer ≥ 0, got ${c.warmupSteps}`);
  if (c.kind === 'cosine') {
    if (!nonNegInt(c.totalSteps) || c.totalSteps < c.warmupSteps) {
      throw new FlowGpuError(`lr schedule: totalSteps (${c.totalSteps}) must be an integer ≥ warmupSteps (${c.warmupSteps})`);
    }
    if (!(c.minLr >= 0 && c.minLr <= c.lr)) throw new FlowGpuError(`lr schedule: minLr must be in [0, lr], got ${c.minLr}`);
  } else if (c.kind !== 'constant') {
    throw new FlowGpuError(`lr schedule: unknown kind '${(c as { kind: string }).kind}'`);
  }
  return c;
}

/** The learning rate of the update with 0-based index `step`. */
export function learningRate(c: LrScheduleConfig, step: number): number {
  if (step < c.warmupSteps) return (c.lr * (step + 1)) / c.warmupSteps;
  if (c.kind === 'constant') return c.lr;
  const span = c.totalSteps - c.warmupSteps;
  const p = span > 0 ? Math.min(1, (step - c.warmupSteps) / span) : 1;
  return c.minLr + (c.lr - c.minLr) * 0.5 * (1 + Math.cos(Math.PI * p));
}

/** Linear warm-up over `warmupSteps`, then cosine decay to `minLr` at `totalSteps`. */
export function warmupCosine(o: { lr: number; warmupSteps?: number; totalSteps: number; minLr?: number }): (step: number) => number {
  const c = checkSchedule({ kind: 'cosine', lr: o.lr, warmupSteps: o.warmupSteps ?? 0, totalSteps: o.totalSteps, minLr: o.minLr ?? 0 });
  return (step) => learningRate(c, step);
}
