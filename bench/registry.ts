/**
 * The bench registry: every benchmark is a plain entry (name, group, config, setup). Kernel benches,
 * fused-vs-unfused pairs, end-to-end steps and peers are all added the same way, with `register`.
 *
 * Two kinds of case:
 * - `kernel`: `record()` records one repetition through the runtime (no waiting); the runner times
 *   `reps` repetitions in one submit with GPU timestamps (or wall clock), so per-dispatch overhead is
 *   part of the measurement only as much as it is on the GPU.
 * - `step`: `step(i)` runs one whole repetition the way a program would (a training step submits
 *   itself); the runner times consecutive steps by wall clock and waits once per sample. Steps count
 *   queue submits, read-backs and dispatches per repetition.
 */
import type { Gpu } from '../src/internal.js';
import type { Timer } from './timing.js';

export type Group = 'matmul' | 'memory' | 'fused' | 'e2e';

export interface BenchContext {
  g: Gpu;
  quick: boolean;
  timer: Timer;
  /** --verify: peers check that they compute what flowgpu computes before timing. */
  verify: boolean;
  log(msg: string): void;
}

interface CaseBase {
  /** Floating-point operations per repetition (for GFLOP/s). */
  flops?: number;
  /** Bytes a repetition must move at least (for GB/s). */
  bytes?: number;
  /** Extra facts for the report (e.g. which matmul kernel ran). */
  notes?: Record<string, unknown>;
  dispose(): void | Promise<void>;
}

export interface KernelCase extends CaseBase {
  kind: 'kernel';
  record(): void;
}

export interface StepCase extends CaseBase {
  kind: 'step';
  /** Runs repetition i (may submit, may be async for peers that need it). */
  step(i: number): void | Promise<void>;
  /** Waits until all submitted work is done. */
  settle(): Promise<void>;
  /** Whether to count flowgpu's submits / read-backs / dispatches per step. */
  count?: boolean;
  /** Cap on repetitions per sample (slow peers on a software driver). */
  maxReps?: number;
}

export type BenchCase = KernelCase | StepCase;

export interface BenchEntry {
  /** Unique, '/'-separated: `matmul/1024x1024x1024`, `e2e/train-A`, `e2e/train-A@tfjs-webgpu`. */
  name: string;
  group: Group;
  config: Record<string, unknown>;
  /** Part of --quick. */
  quick: boolean;
  /** Set on a peer: its engine, and the flowgpu entry it mirrors (the ratio is peer / flowgpu). */
  peer?: { engine: string; of: string };
  /** Set on an unfused composition: the fused entry it is the baseline of (ratio unfused / fused). */
  baselineOf?: string;
  /** A reason this entry cannot run here, or null. */
  unavailable?(ctx: BenchContext): string | null | Promise<string | null>;
  setup(ctx: BenchContext): Promise<BenchCase>;
}

const entries: BenchEntry[] = [];

export function register(...es: BenchEntry[]): void {
  for (const e of es) {
    if (entries.some((x) => x.name === e.name)) throw new Error(`bench: duplicate entry ${e.name}`);
    entries.push(e);
  }
}

export function allEntries(): readonly BenchEntry[] {
  return entries;
}
