/**
 * Rectified flow's reflow and one-step distillation (Liu et al. 2022; seed 003, "distill with
 * straight pairs"). A trained network (the teacher) defines an ODE whose solution map
 * x0 ↦ x1' = ODE(x0) couples noise and data deterministically. Drawing x0 ~ N(0, I), solving the
 * teacher's ODE accurately to x1', and training a student on the fixed pairs (x0, x1') with the
 * straight path x_t = t·x1' + (1 − t)·x0, target x1' − x0, gives a flow whose paths are nearly
 * straight, so a few Euler steps (even one) land close to where the teacher's many steps do.
 *
 *   const pairs = await reflowPairs(teacher, { pairs: 10000, seed: 1 });
 *   const trainer = reflowTrainer(student, pairs, { steps: 2000, batch: 256, seed: 1 });
 *   await trainer.run();
 *
 * As in the paper the student starts from the teacher's weights (load the teacher twice). It is
 * trained on CondOT (σ_min = 0) with uniform times whatever path the teacher used: the ODE
 * dx/dt = v is the same object for every path, and the straight interpolation of the pairs is the
 * point of reflow. Conditional teachers give pairs per label (with the guidance asked for); the
 * student learns v(x, t, c) on them without label dropout, so sample it with guidance 1.
 *
 * `distill: true` trains the student only at t ∈ [0, 2⁻²⁰) on the same pairs (the paper's one-step
 * distillation, §2.3: v(x0, 0) ≈ x1' − x0, so one Euler step lands on x1'); run it on a reflowed
 * model, whose straighter ODE gives pairs that are easier to fit.
 */
import { generate, classLabels, hostNormals } from '../flow/generate.js';
import { condOT } from '../flow/schedulers.js';
import type { SolverName } from '../flow/solvers.js';
import { uniformTime } from '../flow/time.js';
import { FlowGpuError } from '../gpu/errors.js';
import { HostRng } from '../nn/module.js';
import type { VelocityNet } from '../nn/registry.js';
import { gatherRowsRaw } from '../tensor/primitives.js';
import { keep, tensor, type Tensor } from '../tensor/tensor.js';
import { Trainer, type DataSource, type TrainerOptions } from './trainer.js';

/** Upper end of the distillation's time window (the 1-step sampler evaluates v at t = 0). */
export const DISTILL_T = 2 ** -20;

/** The stream that separates reflow's source noise from other host draws of the same seed. */
export const REFLOW_NOISE_STREAM = 0x1f83d9ab;

/**
 * Reflow training pairs on the host: sources x0, the teacher's end points x1', labels (conditional
 * teachers), count, sample shape and NFE.
 */
export interface ReflowPairs {
  /** Sources x0 and the teacher's end points x1' [count·(sample size)], and labels (conditional teachers). */
  x0: Float32Array;
  x1: Float32Array;
  labels: Int32Array | null;
  count: number;
  sampleShape: number[];
  /** Evaluations per pair. */
  nfe: number;
}

/**
 * Options of `reflowPairs`: how many pairs, the teacher's solver and NFE (default rk4, 80),
 * guidance and seed.
 */
export interface ReflowPairOptions {
  pairs: number;
  /** The teacher's solver for the pairs (default rk4, 80 evaluations). */
  solver?: SolverName;
  nfe?: number;
  /** Conditional teachers: guidance of the pairs (default 1); the labels are drawn uniformly. */
  guidance?: number;
  seed?: number;
}

/** Draws x0 ~ N(0, I) (host, seeded) and solves the teacher's ODE from each: the (x0, x1') pairs. */
export async function reflowPairs(teacher: Pick<VelocityNet, 'forward' | 'sampleShape' | 'numClasses' | 'sampleChunk'>, o: ReflowPairOptions): Promise<ReflowPairs> {
  if (!(Number.isInteger(o.pairs) && o.pairs >= 1)) throw new FlowGpuError(`reflow: pairs must be a positive integer, got ${o.pairs}`);
  const seed = o.seed ?? 0;
  const width = teacher.sampleShape.reduce((a, b) => a * b, 1);
  const x0 = hostNormals(o.pairs * width, seed, REFLOW_NOISE_STREAM);
  const labels = teacher.numClasses > 0 ? classLabels(o.pairs, 'random', { classes: teacher.numClasses, seed }) : null;
  const r = await generate(teacher, { n: o.pairs, source: x0, labels, guidance: o.guidance ?? 1, solver: o.solver ?? 'rk4', nfe: o.nfe ?? 80 });
  return { x0, x1: r.x, labels, count: o.pairs, sampleShape: teacher.sampleShape, nfe: r.nfe };
}

/**
 * A DataSource over fixed pairs, resident on the GPU: batch s is a seeded draw of `batch` pair
 * indices (with replacement across batches), replayable from s.
 */
export function pairSource(pairs: ReflowPairs, o: { batch: number; seed?: number }): DataSource {
  const { count, sampleShape } = pairs;
  const width = sampleShape.reduce((a, b) => a * b, 1);
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new FlowGpuError(`reflow: batch must be a positive integer, got ${o.batch}`);
  if (o.batch > count) throw new FlowGpuError(`reflow: the batch (${o.batch}) exceeds the ${count} pairs`);
  const X0 = keep(tensor(pairs.x0, [count, width]));
  const X1 = keep(tensor(pairs.x1, [count, width]));
  const seed = o.seed ?? 0;
  const rows = [o.batch, ...sampleShape];
  const gather = (X: Tensor, idx: Tensor) => {
    const g = gatherRowsRaw(X, idx);
    const v = g.view(rows);
    g.dispose();
    return v;
  };
  return {
    batch: (s) => {
      const r = new HostRng((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(s + 1, 0x85ebca6b)) >>> 0);
      const pick = Int32Array.from({ length: o.batch }, () => r.int(count));
      const idx = tensor(pick, [o.batch], 'i32');
      try {
        const labels = pairs.labels ? tensor(Int32Array.from(pick, (i) => pairs.labels![i]), [o.batch], 'i32') : undefined;
        return { x0: gather(X0, idx), x1: gather(X1, idx), labels };
      } finally {
        idx.dispose();
      }
    },
    dispose: () => {
      X0.dispose();
      X1.dispose();
    },
  };
}

/**
 * Options of `reflowTrainer`: the `Trainer`'s options without net, data and path, plus the batch
 * size and one-step distillation.
 */
export interface ReflowTrainOptions extends Omit<TrainerOptions, 'net' | 'data' | 'scheduler' | 'time' | 'coupling' | 'labelDropout'> {
  batch: number;
  /** One-step distillation: train at t ∈ [0, 2⁻²⁰) only. */
  distill?: boolean;
}

/** The student's Trainer on the pairs: straight path, uniform times (or the distillation window), no label dropout. */
export function reflowTrainer(student: VelocityNet, pairs: ReflowPairs, o: ReflowTrainOptions): Trainer {
  const { batch, distill, ...train } = o;
  return new Trainer({
    ...train,
    net: student,
    data: pairSource(pairs, { batch, seed: o.seed }),
    scheduler: condOT(),
    time: distill ? uniformTime({ tMin: 0, tMax: DISTILL_T }) : undefined,
  });
}

/** Options of `compareFewStep`: sample count and seed, step counts, guidance, the reference solver and the quality figure. */
export interface FewStepOptions<Q> {
  /** Samples per measurement, from x0 drawn (host, seeded) once for all of them. */
  n: number;
  seed: number;
  /** Euler step counts to compare (default 1, 2, 4). */
  steps?: readonly number[];
  /** The teacher's guidance (conditional models; the student is sampled with 1, as it was trained). */
  guidance?: number;
  /** The teacher's accurate solver: the reference the pairs came from. */
  reference: { solver: SolverName; nfe: number };
  /** Runs `fn` with the student's sampling weights in place (`Trainer.withSamplingWeights`). */
  studentWeights?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** A quality figure of samples (host, the networks' space) with their labels (per-class for conditional models). */
  quality(x: Float32Array, labels: Int32Array | null): Promise<Q>;
}

/** What `compareFewStep` returns: the quality at each step count before and after, the reference, the one-step samples. */
export interface FewStepReport<Q> {
  /** Quality at each Euler step count, teacher (before) and student (after), from the same x0. */
  before: Record<number, Q>;
  after: Record<number, Q>;
  /** The teacher with its accurate solver. */
  reference: Q;
  /** The one-step samples of both, and the labels of every sample set. */
  oneStep: { before: Float32Array; after: Float32Array };
  labels: Int32Array | null;
}

/** What reflow is judged by: few-step Euler samples of teacher and student from the same x0, scored by `quality`. */
export async function compareFewStep<Q>(teacher: VelocityNet, student: VelocityNet, o: FewStepOptions<Q>): Promise<FewStepReport<Q>> {
  const width = teacher.sampleShape.reduce((a, b) => a * b, 1);
  const source = hostNormals(o.n * width, o.seed, REFLOW_NOISE_STREAM);
  const labels = teacher.numClasses ? classLabels(o.n, 'per-class', { classes: teacher.numClasses }) : null;
  const run = (net: VelocityNet, s: { solver: SolverName; steps?: number; nfe?: number; guidance?: number }) =>
    generate(net, { n: o.n, source, labels, ...s }).then((r) => r.x);
  const steps = o.steps ?? [1, 2, 4];
  const before: Record<number, Q> = {};
  const after: Record<number, Q> = {};
  const oneStep: FewStepReport<Q>['oneStep'] = { before: new Float32Array(0), after: new Float32Array(0) };
  for (const k of steps) {
    const x = await run(teacher, { solver: 'euler', steps: k, guidance: o.guidance });
    before[k] = await o.quality(x, labels);
    if (k === 1) oneStep.before = x;
  }
  const studentRuns = async () => {
    for (const k of steps) {
      const x = await run(student, { solver: 'euler', steps: k });
      after[k] = await o.quality(x, labels);
      if (k === 1) oneStep.after = x;
    }
  };
  await (o.studentWeights ? o.studentWeights(studentRuns) : studentRuns());
  const reference = await o.quality(await run(teacher, { ...o.reference, guidance: o.guidance }), labels);
  return { before, after, reference, oneStep, labels };
}
