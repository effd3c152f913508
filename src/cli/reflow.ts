/**
 * `flowgpu reflow CKPT`: rectified flow's reflow (Liu et al. 2022; seed 003, "distill with straight
 * pairs"). The trained model (the teacher) defines an ODE whose solution map x0 ↦ x1' = ODE(x0)
 * couples noise and data deterministically. Drawing x0 ~ N(0, I), solving the teacher's ODE
 * accurately to x1', and training a student on the fixed pairs (x0, x1') with the straight path
 * x_t = t·x1' + (1 − t)·x0, target x1' − x0, gives a flow whose paths are nearly straight, so a few
 * Euler steps (even one) land close to where the teacher's many steps do.
 *
 * As in the paper, the student starts from the teacher's weights (the sampling weights of
 * model.safetensors). The student is trained on CondOT (σ_min = 0) with uniform times whatever
 * path the teacher used: the ODE dx/dt = v is the same object for every path, and the straight
 * interpolation of the pairs is the point of reflow. Conditional MNIST teachers give pairs per
 * label (with --guidance W when asked: the teacher is then evaluated with the same guidance); the
 * student learns v(x, t, c) on them without label dropout, so sample it with guidance 1.
 *
 * Quality before (teacher) and after (student) at 1, 2 and 4 Euler steps, from the same x0:
 * 2-D toys: sliced W2 and RBF MMD² against fresh data (src/metrics/twod.ts); MNIST: the Fréchet
 * distance (and conditional accuracy) of `flowgpu eval mnist`'s classifier. The teacher's own
 * quality with its accurate solver is printed as the reference.
 *
 * --distill trains the student only at t ≈ 0 on the same pairs (the paper's one-step distillation,
 * §2.3: v(x0, 0) ≈ x1' − x0, so one Euler step lands on x1'); run it on a reflowed model, whose
 * straighter ODE gives pairs that are easier to fit.
 *
 * Writes into --out DIR: model.safetensors (the student, the teacher's config kind, so `flowgpu
 * sample` takes it), checkpoint.safetensors, before-1step.png, after-1step.png, loss.png,
 * reflow.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { sampleToy } from '../data/toy.js';
import { modelToPixels } from '../data/mnist.js';
import { condOT } from '../flow/schedulers.js';
import { uniformTime } from '../flow/time.js';
import { flowMatchingStep } from '../flow/train.js';
import { writePng } from '../io/node-files.js';
import { lossPlot, scatterPlot } from '../io/plot.js';
import type { RasterImage } from '../io/png.js';
import { sampleQualityAgainst } from '../metrics/twod.js';
import { HostRng } from '../nn/module.js';
import { gatherRowsRaw } from '../tensor/primitives.js';
import { keep, tensor, type Tensor } from '../tensor/tensor.js';
import { num, oneOf, parse } from './args.js';
import { classifyPixels, figures, loadOrTrainClassifier, type ClassifierConfig, type LoadedClassifier } from './classifier.js';
import { HelpRequest, UsageError } from './errors.js';
import { adapterName, checkCkptEvery, type LoopConfig, makeOptimizer, SOLVERS, trainLoop, withGpu, withSamplingWeights } from './loop.js';
import { type MnistConfig, sampleGrid, sampleLabels, solveFlow, type SolveOptions } from './mnist.js';
import { loadModel, type LoadedModel } from './model-file.js';
import { saveModel } from './runstate.js';

export const REFLOW_HELP = `flowgpu reflow CKPT [options]     (CKPT: a trained run directory or its model.safetensors)

  --pairs N              (x0, x1') pairs drawn from the teacher (default 10000)
  --teacher-solver NAME  solver of the teacher's ODE for the pairs (default rk4)
  --teacher-nfe N        its velocity evaluations per pair (default 80)
  --guidance W           conditional MNIST teachers: guidance of the pairs (default 1)
  --distill              one-step distillation instead of reflow: train the student only at t ≈ 0
                         (t < 2⁻²⁰), where one Euler step reads it; best run on a reflowed model
  --steps N              student training steps (default 2000 for 2-D toys, 5000 for MNIST)
  --batch N              batch size (default the teacher's)
  --lr X                 learning rate (default the teacher's)
  --warmup N             warm-up steps, then cosine decay to 1% (default 0 = constant lr)
  --ema D                EMA decay (default the teacher's)
  --seed N               seed of the pairs and the training (default the teacher's seed + 1)
  --eval-n N             samples per quality measurement (default 2000 for 2-D toys, 1000 for MNIST)
  --cache DIR            MNIST: where eval's classifier is cached
  --out DIR              output directory (default <teacher dir>-reflow)
  --resume               continue the run in --out (the pairs are drawn again, identically)
  --log-every K          read the loss back every K steps (default 50)
  --ckpt-every N         checkpoint every N steps (default 500)

The student starts from the teacher's weights and learns the straight paths between the pairs;
quality is reported at 1, 2 and 4 Euler steps before and after.
`;

const OPTIONS = {
  pairs: { type: 'string' },
  'teacher-solver': { type: 'string' },
  'teacher-nfe': { type: 'string' },
  guidance: { type: 'string' },
  steps: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  warmup: { type: 'string' },
  ema: { type: 'string' },
  seed: { type: 'string' },
  'eval-n': { type: 'string' },
  cache: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  distill: { type: 'boolean' },
  'log-every': { type: 'string' },
  'ckpt-every': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What a reflow run adds to the teacher's config (stored in the student's files). */
export interface ReflowInfo {
  teacher: string;
  pairs: number;
  teacherSolver: (typeof SOLVERS)[number];
  teacherNfe: number;
  guidance: number;
  /** One-step distillation: the student is trained at t ∈ [0, 2⁻²⁰) only. */
  distill: boolean;
}

/** Upper end of the distillation's time window (the 1-step sampler evaluates v at t = 0). */
const DISTILL_T = 2 ** -20;

type TeacherConfig = LoopConfig & { kind: string; seed: number; batch: number; [k: string]: unknown };

export interface ReflowOptions {
  teacher: string;
  out: string;
  resume: boolean;
  ckptEvery: number;
  evalN: number;
  cacheDir?: string;
  /** MNIST: the evaluation classifier's recipe and test images (defaults: eval mnist's). */
  classifier?: { config?: ClassifierConfig; testImages?: number };
  /** The student's config: the teacher's, with the loop settings of this run and `reflow`. */
  overrides: Partial<TeacherConfig> & { reflow: ReflowInfo };
}

export function reflowOptions(argv: string[]): ReflowOptions {
  const { values: v, positionals } = parse(argv, OPTIONS, true) as {
    values: Record<string, string | undefined> & { resume?: boolean; help?: boolean; distill?: boolean };
    positionals: string[];
  };
  if (v.help) throw new HelpRequest(REFLOW_HELP);
  if (positionals.length !== 1) throw new UsageError(`flowgpu reflow takes one checkpoint (the teacher)\n\n${REFLOW_HELP}`);
  const teacher = resolve(positionals[0]);
  const logEvery = num(v['log-every'] ?? 50, 'log-every', { int: true, min: 1 });
  const ckptEvery = num(v['ckpt-every'] ?? 500, 'ckpt-every', { int: true, min: 1 });
  checkCkptEvery(ckptEvery, logEvery);
  const opt = <T>(flag: string, f: (s: string) => T): T | undefined => (v[flag] === undefined ? undefined : f(v[flag]!));
  const overrides: ReflowOptions['overrides'] = {
    logEvery,
    reflow: {
      teacher,
      pairs: num(v.pairs ?? 10000, 'pairs', { int: true, min: 2 }),
      teacherSolver: oneOf(v['teacher-solver'] ?? 'rk4', 'teacher-solver', SOLVERS),
      teacherNfe: num(v['teacher-nfe'] ?? 80, 'teacher-nfe', { int: true, min: 1 }),
      guidance: num(v.guidance ?? 1, 'guidance'),
      distill: !!v.distill,
    },
  };
  const warmup = opt('warmup', (s) => num(s, 'warmup', { int: true, min: 0 }));
  if (warmup !== undefined) overrides.warmup = warmup;
  const steps = opt('steps', (s) => num(s, 'steps', { int: true, min: 1 }));
  const batch = opt('batch', (s) => num(s, 'batch', { int: true, min: 1 }));
  const lr = opt('lr', (s) => num(s, 'lr', { gt: 0 }));
  const ema = opt('ema', (s) => num(s, 'ema', { min: 0, max: 1 }));
  const seed = opt('seed', (s) => num(s, 'seed', { int: true, min: 0 }));
  if (steps !== undefined) overrides.steps = steps;
  if (batch !== undefined) overrides.batch = batch;
  if (lr !== undefined) overrides.lr = lr;
  if (ema !== undefined) overrides.ema = ema;
  if (seed !== undefined) overrides.seed = seed;
  const evalN = opt('eval-n', (s) => num(s, 'eval-n', { int: true, min: 10 }));
  const dir = teacher.endsWith('.safetensors') ? dirname(teacher) : teacher;
  return {
    teacher,
    out: v.out ?? `${dir.replace(/\/+$/, '')}-reflow`,
    resume: !!v.resume,
    ckptEvery,
    evalN: evalN ?? 0,
    cacheDir: v.cache,
    overrides,
  };
}

/** What reflow needs to know of a model kind: its rows, its noise, its quality figures and pictures. */
interface Subject {
  /** Shape of one sample ([2] for the toys, [1, S, S] for MNIST). */
  rowShape: number[];
  cond: boolean;
  defaultSteps: number;
  defaultEvalN: number;
  chunk: number;
  /** Quality figures of samples (host, model space) with their labels; lower is better for the first. */
  quality(x: Float32Array, labels: Int32Array | null): Promise<Record<string, number>>;
  picture(x: Float32Array, labels: Int32Array | null, title: string): RasterImage;
  describe(q: Record<string, number>): string;
  dispose(): void;
}

async function subjectOf(m: LoadedModel, o: ReflowOptions, evalN: () => number): Promise<Subject> {
  const cfg = m.config;
  if (cfg.kind === 'toy') {
    const dataset = cfg.dataset as string;
    const draw = (n: number, seed: number) => sampleToy(dataset, n, seed);
    return {
      rowShape: [(cfg.model as { dim: number }).dim],
      cond: false,
      defaultSteps: 2000,
      defaultEvalN: 2000,
      chunk: 1 << 16,
      quality: async (x) => {
        const q = sampleQualityAgainst(x, draw, 2, { n: evalN() });
        return { sw2: q.sw2, mmd2: q.mmd2, sw2Floor: q.sw2Floor, mmd2Floor: q.mmd2Floor };
      },
      picture: (x, _l, title) => scatterPlot(draw(x.length / 2, 12345), x, { titles: [`${dataset} data`, title] }),
      describe: (q) => `sliced W2 ${q.sw2.toFixed(4)}  MMD² ${q.mmd2.toExponential(2)}`,
      dispose: () => {},
    };
  }
  if (cfg.kind === 'mnist') {
    const c = cfg as unknown as MnistConfig;
    let clf: LoadedClassifier | null = null;
    return {
      rowShape: [1, c.size, c.size],
      cond: c.cond,
      defaultSteps: 5000,
      defaultEvalN: 1000,
      chunk: c.arch === 'unet' ? 100 : 1000,
      quality: async (x, labels) => {
        clf ??= await loadOrTrainClassifier(c.size, { cacheDir: o.cacheDir, ...o.classifier });
        const px = modelToPixels(x);
        const row = figures(clf, 'samples', await classifyPixels(clf.classifier, px), labels);
        const q: Record<string, number> = { fd: row.fd };
        if (row.accuracy !== null) q.accuracy = row.accuracy;
        return q;
      },
      picture: (x, labels) => sampleGrid(modelToPixels(x), labels, c.size),
      describe: (q) => `FD ${q.fd.toFixed(3)}${q.accuracy !== undefined ? `  accuracy ${(100 * q.accuracy).toFixed(1)}%` : ''}`,
      dispose: () => clf?.classifier.dispose(),
    };
  }
  throw new UsageError(`flowgpu reflow: unknown model kind '${cfg.kind}'`);
}

/** n·D standard normal values from a seeded host generator (the same seed, the same x0). */
function normalRows(n: number, width: number, seed: number): Float32Array {
  const rng = new HostRng((seed ^ 0x1f83d9ab) >>> 0);
  const v = new Float32Array(n * width);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  return v;
}

export interface ReflowResult {
  /** Quality figures at 1, 2 and 4 Euler steps, teacher and student, from the same x0. */
  before: Record<number, Record<string, number>>;
  after: Record<number, Record<string, number>>;
  /** The teacher with its accurate solver (the pairs' generator). */
  teacherReference: Record<string, number>;
  loss: number[];
}

export const EULER_STEPS = [1, 2, 4] as const;

export function reflowCmd(argv: string[]): Promise<number> {
  const o = reflowOptions(argv);
  return withGpu(() => runReflow(o));
}

/** Runs reflow (the GPU runtime must be initialised). */
export async function runReflow(o: ReflowOptions): Promise<ReflowResult> {
  const teacher = loadModel(o.teacher);
  let student: LoadedModel | null = null;
  let subject: Subject | null = null;
  const ev = { n: o.evalN };
  try {
    student = loadModel(o.teacher);
    subject = await subjectOf(teacher, o, () => ev.n);
    ev.n ||= subject.defaultEvalN;
    return await reflowWith(o, teacher, student, subject, ev.n);
  } finally {
    subject?.dispose();
    student?.module.dispose();
    teacher.module.dispose();
  }
}

async function reflowWith(o: ReflowOptions, teacher: LoadedModel, student: LoadedModel, subject: Subject, evalN: number): Promise<ReflowResult> {
  const tcfg = teacher.config as unknown as TeacherConfig;
  const info = o.overrides.reflow;
  const cfg: TeacherConfig & { reflow: ReflowInfo } = {
    ...tcfg,
    steps: subject.defaultSteps,
    seed: tcfg.seed + 1,
    ...o.overrides,
    // the student learns the straight interpolation of the pairs (see the file comment)
    ...(tcfg.kind === 'toy' ? { path: 'condot', sigmaMin: 0, timeSampler: 'uniform', coupling: 'independent' } : {}),
    ...(tcfg.kind === 'mnist' ? { labelDropout: 0 } : {}),
    warmup: o.overrides.warmup ?? 0,
  };
  if (cfg.warmup >= cfg.steps) throw new UsageError(`--warmup (${cfg.warmup}) must be below the student's steps (${cfg.steps})`);
  if (cfg.batch > info.pairs) throw new UsageError(`--batch (${cfg.batch}) exceeds --pairs (${info.pairs})`);
  if (subject.cond && evalN % 10 !== 0) throw new UsageError(`--eval-n must be a multiple of 10 for a conditional model (the same number of each digit), got ${evalN}`);
  const width = subject.rowShape.reduce((a, b) => a * b, 1);
  const rows = (n: number) => [n, ...subject.rowShape];
  const fromHost = (x: Float32Array) => (at: number, m: number) => tensor(x.subarray(at * width, (at + m) * width), rows(m));
  const solve = (model: LoadedModel, x0: Float32Array, labels: Int32Array | null, s: Omit<SolveOptions, 'labels' | 'chunk' | 'guidance'> & { guidance?: number }) =>
    solveFlow(model.forward, x0.length / width, fromHost(x0), { guidance: 1, ...s, labels, chunk: subject.chunk });
  mkdirSync(o.out, { recursive: true });

  // 1. the pairs: x0 ~ N(0, I), x1' = the teacher's ODE solution from x0
  const t0 = Date.now();
  const x0 = normalRows(info.pairs, width, cfg.seed);
  const pairLabels = subject.cond ? sampleLabels(info.pairs, { kind: 'random' }, cfg.seed) : null;
  process.stderr.write(`flowgpu reflow: solving the teacher's ODE for ${info.pairs} pairs (${info.teacherSolver}, ${info.teacherNfe} NFE)…\n`);
  const x1 = (await solve(teacher, x0, pairLabels, { solver: info.teacherSolver, nfe: info.teacherNfe, guidance: info.guidance })).x;
  const pairSeconds = (Date.now() - t0) / 1000;
  const X0 = keep(tensor(x0, [info.pairs, width]));
  const X1 = keep(tensor(x1, [info.pairs, width]));

  // 2. the student: the teacher's weights, trained on the fixed pairs
  const { opt, ema, lrAt } = makeOptimizer(student.module, cfg);
  const stepModel = { forward: student.forward, parameters: () => student.module.parameters(), zeroGrad: () => student.module.zeroGrad() };
  const pickPairs = (s: number) => {
    // batch s: a seeded draw of `batch` pair indices (with replacement across batches), replayable from s
    const r = new HostRng((Math.imul(cfg.seed + 1, 0x9e3779b1) ^ Math.imul(s + 1, 0x85ebca6b)) >>> 0);
    return Int32Array.from({ length: cfg.batch }, () => r.int(info.pairs));
  };
  const scheduler = condOT();
  const time = info.distill ? uniformTime({ tMin: 0, tMax: DISTILL_T }) : undefined;
  try {
    const { history, trainSeconds } = await trainLoop({
      config: cfg,
      out: o.out,
      resume: o.resume,
      ckptEvery: o.ckptEvery,
      model: student.module,
      opt,
      ema,
      header: `flowgpu reflow${info.distill ? ' --distill (one-step distillation)' : ''}: ${tcfg.kind} student, ${student.module.parameterCount()} parameters, ${info.pairs} pairs, batch ${cfg.batch}, ${cfg.steps} steps on ${adapterName()}`,
      step: (s) => {
        const pick = pickPairs(s);
        const idx = tensor(pick, [cfg.batch], 'i32');
        const b0 = gatherRowsRaw(X0, idx);
        const b1 = gatherRowsRaw(X1, idx);
        const x0b = b0.view(rows(cfg.batch));
        const x1b = b1.view(rows(cfg.batch));
        const lab = pairLabels ? tensor(Int32Array.from(pick, (i) => pairLabels[i]), [cfg.batch], 'i32') : undefined;
        try {
          return flowMatchingStep(stepModel, x1b, { scheduler, time, seed: cfg.seed, step: s, x0: x0b, cond: lab, update: () => opt.step(lrAt(s)) });
        } finally {
          for (const t of [idx, b0, b1, x0b, x1b, lab]) t?.dispose();
        }
      },
    });

    // 3. quality at 1, 2, 4 Euler steps from the same x0, before and after
    const ex0 = normalRows(evalN, width, cfg.seed + 7919);
    const evalLabels = subject.cond ? sampleLabels(evalN, { kind: 'per-class' }, 0) : null;
    const before: ReflowResult['before'] = {};
    const after: ReflowResult['after'] = {};
    const oneStep: Float32Array[] = [];
    for (const k of EULER_STEPS) {
      const xb = (await solve(teacher, ex0, evalLabels, { solver: 'euler', steps: k, guidance: info.guidance })).x;
      before[k] = await subject.quality(xb, evalLabels);
      if (k === 1) oneStep.push(xb);
    }
    await withSamplingWeights(ema, async () => {
      for (const k of EULER_STEPS) {
        const xa = (await solve(student, ex0, evalLabels, { solver: 'euler', steps: k })).x;
        after[k] = await subject.quality(xa, evalLabels);
        if (k === 1) oneStep.push(xa);
      }
    });
    const ref = (await solve(teacher, ex0, evalLabels, { solver: info.teacherSolver, nfe: info.teacherNfe, guidance: info.guidance })).x;
    const teacherReference = await subject.quality(ref, evalLabels);

    writePng(join(o.out, 'before-1step.png'), subject.picture(oneStep[0], evalLabels, 'teacher, 1 Euler step'));
    const what = info.distill ? 'distillation' : 'reflow';
    writePng(join(o.out, 'after-1step.png'), subject.picture(oneStep[1], evalLabels, `after ${what}, 1 Euler step`));
    writePng(join(o.out, 'loss.png'), lossPlot(history.loss, { steps: history.lossStep, title: 'reflow loss (straight pairs)' }));
    await saveModel(o.out, cfg, student.module, ema, { step: cfg.steps });
    const result: ReflowResult = { before, after, teacherReference, loss: history.loss };
    writeFileSync(
      join(o.out, 'reflow.json'),
      JSON.stringify({ teacher: info.teacher, pairs: info.pairs, pairSeconds, trainSeconds, evalSamples: evalN, eulerSteps: EULER_STEPS, ...result }, null, 2) + '\n',
    );
    const lines = [
      `teacher with ${info.teacherSolver} (${info.teacherNfe} NFE): ${subject.describe(teacherReference)}`,
      `${'Euler steps'.padEnd(12)}${`before ${what} (teacher)`.padEnd(40)}after ${what}`,
      ...EULER_STEPS.map((k) => `${String(k).padEnd(12)}${subject.describe(before[k]).padEnd(40)}${subject.describe(after[k])}`),
      `wrote ${o.out}/{model.safetensors, checkpoint.safetensors, before-1step.png, after-1step.png, loss.png, reflow.json}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return result;
  } finally {
    X0.dispose();
    X1.dispose();
    opt.dispose();
    ema?.dispose();
  }
}
