/**
 * `flowgpu reflow CKPT`: rectified flow's reflow or one-step distillation of a trained model (the
 * library's train.reflowPairs / reflowTrainer; the method is described there). Reports sample
 * quality at 1, 2 and 4 Euler steps before (teacher) and after (student) from the same x0.
 *
 * Writes into --out DIR: model.safetensors (the student, with the teacher's config kind, so `flowgpu
 * sample` takes it), checkpoint.safetensors, before-1step.png, after-1step.png, loss.png, reflow.json.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { data, io, metrics, node, train, type nn } from '../node.js';
import { num, oneOf, optNum, parse, SOLVERS, UsageError } from './args.js';
import { loadForSampling, loadJudge } from './sample.js';
import { adapterName, openRunDir, runTraining, trainerOptions, withGpu } from './run.js';

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
  --force                replace the run in --out (without it, a directory that holds a run is refused)
  --log-every K          read the loss back every K steps (default 50)
  --ckpt-every N         checkpoint every N steps (default 500)

The student starts from the teacher's weights and learns the straight paths between the pairs;
quality is reported at 1, 2 and 4 Euler steps before and after.
`;

const REFLOW_OPTIONS = {
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
  force: { type: 'boolean' },
  distill: { type: 'boolean' },
  'log-every': { type: 'string' },
  'ckpt-every': { type: 'string' },
} as const;

export const EULER_STEPS = [1, 2, 4] as const;

export interface ReflowOptions {
  teacher: string;
  out: string;
  resume: boolean;
  force: boolean;
  ckptEvery: number;
  evalN?: number;
  cacheDir?: string;
  /** MNIST: the evaluation classifier's recipe and test images (defaults: eval mnist's). */
  classifier?: { config?: metrics.ClassifierConfig; testImages?: number };
  pairs: number;
  teacherSolver: (typeof SOLVERS)[number];
  teacherNfe: number;
  guidance: number;
  distill: boolean;
  /** Flags given for the student's loop (the rest comes from the teacher's config). */
  loop: { steps?: number; batch?: number; lr?: number; warmup?: number; ema?: number; seed?: number; logEvery: number };
}

export function reflowOptions(argv: string[]): ReflowOptions {
  const { v, flag, pos } = parse(argv, REFLOW_OPTIONS, REFLOW_HELP, 1);
  if (pos.length !== 1) throw new UsageError(`flowgpu reflow takes one checkpoint (the teacher)\n\n${REFLOW_HELP}`);
  const teacher = resolve(pos[0]);
  const logEvery = num(v['log-every'] ?? 50, 'log-every', { int: true, min: 1 });
  const ckptEvery = num(v['ckpt-every'] ?? 500, 'ckpt-every', { int: true, min: 1 });
  if (ckptEvery % logEvery !== 0) throw new UsageError(`--ckpt-every (${ckptEvery}) must be a multiple of --log-every (${logEvery}) so a resumed run logs the same windows`);
  const dir = teacher.endsWith('.safetensors') ? dirname(teacher) : teacher;
  return {
    teacher,
    out: v.out ?? `${dir.replace(/\/+$/, '')}-reflow`,
    resume: flag('resume'),
    force: flag('force'),
    ckptEvery,
    evalN: optNum(v['eval-n'], 'eval-n', { int: true, min: 10 }),
    cacheDir: v.cache,
    pairs: num(v.pairs ?? 10000, 'pairs', { int: true, min: 2 }),
    teacherSolver: oneOf(v['teacher-solver'] ?? 'rk4', 'teacher-solver', SOLVERS),
    teacherNfe: num(v['teacher-nfe'] ?? 80, 'teacher-nfe', { int: true, min: 1 }),
    guidance: num(v.guidance ?? 1, 'guidance'),
    distill: flag('distill'),
    loop: {
      logEvery,
      steps: optNum(v.steps, 'steps', { int: true, min: 1 }),
      batch: optNum(v.batch, 'batch', { int: true, min: 1 }),
      lr: optNum(v.lr, 'lr', { gt: 0 }),
      warmup: optNum(v.warmup, 'warmup', { int: true, min: 0 }),
      ema: optNum(v.ema, 'ema', { min: 0, max: 1 }),
      seed: optNum(v.seed, 'seed', { int: true, min: 0 }),
    },
  };
}

export interface ReflowResult {
  /** Quality figures at 1, 2 and 4 Euler steps, teacher and student, from the same x0. */
  before: Record<number, Record<string, number>>;
  after: Record<number, Record<string, number>>;
  /** The teacher with its accurate solver (the pairs' generator). */
  teacherReference: Record<string, number>;
  loss: number[];
}

/** How samples of a model are judged and drawn: 2-D toys by SW2/MMD² against fresh data, images by the MNIST judge. */
interface Judge {
  quality(x: Float32Array, labels: Int32Array | null): Promise<Record<string, number>>;
  picture(x: Float32Array, labels: Int32Array | null, title: string): io.RasterImage;
  describe(q: Record<string, number>): string;
  dispose(): void;
}

function judgeOf(net: nn.VelocityNet, cfg: Record<string, unknown>, o: ReflowOptions, evalN: number): Judge {
  if (net.sampleShape.length === 1) {
    const dataset = String(cfg.dataset);
    const draw = (n: number, seed: number) => data.sampleToy(dataset, n, seed);
    return {
      quality: async (x) => {
        const q = metrics.sampleQualityAgainst(x, draw, 2, { n: evalN });
        return { sw2: q.sw2, mmd2: q.mmd2, sw2Floor: q.sw2Floor, mmd2Floor: q.mmd2Floor };
      },
      picture: (x, _l, title) => io.scatterPlot(draw(x.length / 2, 12345), x, { titles: [`${dataset} data`, title] }),
      describe: (q) => `sliced W2 ${q.sw2.toFixed(4)}  MMD² ${q.mmd2.toExponential(2)}`,
      dispose: () => {},
    };
  }
  const size = net.sampleShape[2];
  let judge: metrics.MnistJudge | null = null;
  return {
    quality: async (x, labels) => {
      judge ??= await loadJudge(size, o.cacheDir, o.classifier ?? {});
      const row = metrics.sampleFigures(judge, 'samples', await metrics.classifyPixels(judge.classifier, data.modelToPixels(x)), labels);
      const q: Record<string, number> = { fd: row.fd };
      if (row.accuracy !== null) q.accuracy = row.accuracy;
      return q;
    },
    picture: (x, labels) => io.sampleGrid(data.modelToPixels(x), labels, size),
    describe: (q) => `FD ${q.fd.toFixed(3)}${q.accuracy !== undefined ? `  accuracy ${(100 * q.accuracy).toFixed(1)}%` : ''}`,
    dispose: () => judge?.classifier.dispose(),
  };
}

/** Runs reflow (the GPU must be up). */
export async function runReflow(o: ReflowOptions): Promise<ReflowResult> {
  const teacher = loadForSampling(o.teacher);
  const student = node.loadModelFile(o.teacher); // the student starts from the teacher's weights
  const tcfg = teacher.config as Record<string, unknown> & { seed: number; batch: number; lr: number; ema: number; weightDecay: number; gradClip: number | null };
  const image = teacher.net.sampleShape.length === 3;
  const L = o.loop;
  const cfg = {
    ...tcfg,
    steps: L.steps ?? (image ? 5000 : 2000),
    batch: L.batch ?? tcfg.batch,
    lr: L.lr ?? tcfg.lr,
    warmup: L.warmup ?? 0,
    ema: L.ema ?? tcfg.ema,
    seed: L.seed ?? tcfg.seed + 1,
    logEvery: L.logEvery,
    reflow: { teacher: o.teacher, pairs: o.pairs, teacherSolver: o.teacherSolver, teacherNfe: o.teacherNfe, guidance: o.guidance, distill: o.distill },
    // the student learns the straight interpolation of the pairs (train/reflow.ts)
    ...(image ? { labelDropout: 0 } : { path: 'condot', sigmaMin: 0, timeSampler: 'uniform', coupling: 'independent' }),
  };
  const evalN = o.evalN ?? (image ? 1000 : 2000);
  if (cfg.warmup >= cfg.steps) throw new UsageError(`--warmup (${cfg.warmup}) must be below the student's steps (${cfg.steps})`);
  if (cfg.batch > o.pairs) throw new UsageError(`--batch (${cfg.batch}) exceeds --pairs (${o.pairs})`);
  if (teacher.net.numClasses && evalN % 10 !== 0) throw new UsageError(`--eval-n must be a multiple of 10 for a conditional model (the same number of each digit), got ${evalN}`);
  const judge = judgeOf(teacher.net, tcfg, o, evalN);
  const flags = { out: o.out, resume: o.resume, force: o.force, ckptEvery: o.ckptEvery, profile: false, samples: evalN, solver: o.teacherSolver, nfe: o.teacherNfe };
  const release = openRunDir(flags);
  let trainer: train.Trainer | null = null;
  try {
    const t0 = Date.now();
    process.stderr.write(`flowgpu reflow: solving the teacher's ODE for ${o.pairs} pairs (${o.teacherSolver}, ${o.teacherNfe} NFE)…\n`);
    const pairs = await train.reflowPairs(teacher.net, { pairs: o.pairs, solver: o.teacherSolver, nfe: o.teacherNfe, guidance: o.guidance, seed: cfg.seed });
    const pairSeconds = (Date.now() - t0) / 1000;
    trainer = train.reflowTrainer(student.net, pairs, { ...trainerOptions(cfg, flags), batch: cfg.batch, distill: o.distill, config: cfg });
    const what = o.distill ? 'distillation' : 'reflow';
    const head = `flowgpu reflow${o.distill ? ' --distill (one-step distillation)' : ''}: ${student.net.module.parameterCount()} parameters, ${o.pairs} pairs, batch ${cfg.batch}, ${cfg.steps} steps on ${await adapterName()}`;
    const { history, trainSeconds, cancelled } = await runTraining(trainer, flags, head);
    if (cancelled) return { before: {}, after: {}, teacherReference: {}, loss: history.loss };

    const cmp = await train.compareFewStep(teacher.net, student.net, {
      n: evalN, seed: cfg.seed + 7919, steps: EULER_STEPS, guidance: o.guidance, reference: { solver: o.teacherSolver, nfe: o.teacherNfe },
      studentWeights: (fn) => trainer!.withSamplingWeights(fn), quality: judge.quality,
    });
    const { before, after, reference: teacherReference, labels } = cmp;

    node.writePng(join(o.out, 'before-1step.png'), judge.picture(cmp.oneStep.before, labels, 'teacher, 1 Euler step'));
    node.writePng(join(o.out, 'after-1step.png'), judge.picture(cmp.oneStep.after, labels, `after ${what}, 1 Euler step`));
    node.writePng(join(o.out, 'loss.png'), io.lossPlot(history.loss, { steps: history.lossStep, title: 'reflow loss (straight pairs)' }));
    const result: ReflowResult = { before, after, teacherReference, loss: history.loss };
    const report = { teacher: o.teacher, pairs: o.pairs, pairSeconds, trainSeconds, evalSamples: evalN, eulerSteps: EULER_STEPS, ...result };
    writeFileSync(join(o.out, 'reflow.json'), JSON.stringify(report, null, 2) + '\n');
    process.stdout.write([
      `teacher with ${o.teacherSolver} (${o.teacherNfe} NFE): ${judge.describe(teacherReference)}`,
      `${'Euler steps'.padEnd(12)}${`before ${what} (teacher)`.padEnd(40)}after ${what}`,
      ...EULER_STEPS.map((k) => `${String(k).padEnd(12)}${judge.describe(before[k]).padEnd(40)}${judge.describe(after[k])}`),
      `wrote ${o.out}/{model.safetensors, checkpoint.safetensors, before-1step.png, after-1step.png, loss.png, reflow.json}`,
    ].join('\n') + '\n');
    return result;
  } finally {
    release();
    trainer?.dispose();
    judge.dispose();
    student.net.module.dispose();
    teacher.net.module.dispose();
  }
}

export function reflowCmd(argv: string[]): Promise<number> {
  const o = reflowOptions(argv);
  return withGpu(() => runReflow(o));
}
