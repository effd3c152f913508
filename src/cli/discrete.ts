/**
 * `flowgpu train discrete` and `flowgpu eval discrete CKPT`: discrete flow matching on the 2-D token
 * data sets (K = 128, d = 2) and on MNIST 16×16 quantised to K gray levels (d = 256, class-conditional
 * with label dropout) — flags → a config (stored whole in the run's files) → the library's Trainer
 * with discrete's objective → CTMC samples, pictures and metrics. Into --out DIR:
 * model.safetensors, checkpoint.safetensors, loss.png, metrics.json and, 2-D: samples.npy (i32
 * [n, 2]), samples.png (the sample histogram beside the data's); MNIST: samples.npy ([n, 1, 16, 16]
 * in [0, 1], the levels dequantised), samples.labels.npy, grid.png (one row per digit).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { data, discrete, flow, io, metrics, nn, node, noGrad, tensor, train, type Tensor } from '../node.js';
import { LOOP_OPTIONS, RUN_DIR_HELP, loopSettings, num, oneOf, parse, UsageError, type LoopSettings, type RunFlags } from './args.js';
import { writeImageSamples } from './images.js';
import { adapterName, finishRun, inRunDir, runTraining, trainerOptions, withGpu } from './run.js';
import { loadJudge } from './sample.js';

const K = 128;
/** The side of the discretised MNIST digits and the classes. */
const SIZE = 16;
const DIGITS = 10;

export const DISCRETE_HELP = `flowgpu train discrete [options]

  --dataset NAME         checkerboard | moons | mnist (default checkerboard): 2 tokens of K = 128, or
                         MNIST 16×16 as 256 tokens of K gray levels, class-conditional
  --levels K             mnist: gray levels, 2…256 (default 4)
  --label-dropout P      mnist: probability of the null class ∅ in training, for guidance (default 0.1)
  --source NAME          mask | uniform (default mask): x0 all mask (id K) or uniform tokens
  --exponent N           the scheduler κ_t = tⁿ (default 1)
  --loss NAME            gkl (generalized KL, an ELBO) | ce (cross-entropy) (default gkl; mnist: ce)
  --steps N              training steps (default 3000)
  --batch N              batch size (default 1024; mnist: 128)
  --lr X                 AdamW peak learning rate (default 2e-3; mnist: 1e-3)
  --warmup N             linear warm-up steps, then cosine decay to 1% (default 100; 0 = constant)
  --embed N              token embedding width (default 64; mnist: 8)
  --hidden N             hidden width (default 256; mnist: 512)
  --layers N             hidden layers (default 3)
  --ema D                EMA decay of the sampling weights (default 0: off)
  --weight-decay X --grad-clip X (mnist default 1) --seed N --log-every K --ckpt-every N --profile
  --out DIR              output directory (default runs/discrete-<dataset>-<source>)
${RUN_DIR_HELP}
  --samples N            sequences to sample at the end (default 50000; mnist: 1000, a multiple of 10)
  --sample-steps N       discrete Euler steps (default 64)
  --div-free A           divergence-free term with c(t) = A·t²·(1−t)^¼ (default 0: off)
  --guidance W           mnist: logit-space guidance (1 + W)·logits(c) − W·logits(∅) (default 0: off)
  --elbo N               sequences for the ELBO estimate (default 2000 fresh ones; mnist: 200 held-out digits; 0: skip)
  --strata N             strata of t for the ELBO (default 32)
  --cache DIR            mnist: where the MNIST judge is cached (as for flowgpu eval mnist)

metrics.json, 2-D: the fraction of samples on the data support, the TV distance between the sample
histogram and the data pmf beside the same for a fresh data draw of equal size (the floor), the
ELBO in nats beside the data entropy (checkerboard: ln 8192 = 9.011). MNIST: the MNIST judge's FD,
accuracy (overall and per digit) and mean within-class distance of the samples, beside the same for
held-out real digits quantised to K levels and as they are; the conditional ELBO of quantised held-out
digits in nats and bits per pixel.

Ctrl-C (or SIGTERM) finishes the step, writes a checkpoint and exits with 130; --resume continues.
`;

export const DISCRETE_EVAL_HELP = `flowgpu eval discrete CKPT [options]
flowgpu eval discrete --exact --dataset NAME --source mask|uniform [--exponent N] [options]

  CKPT                   a model.safetensors or checkpoint.safetensors of flowgpu train discrete
  --exact                sample (and bound) with the exact posterior of the data pmf instead of a
                         network: what the sampler itself does at these steps (the calibration; 2-D only)
  --dataset, --source    the data set and source of --exact without CKPT (default checkerboard, mask)
  --exponent N           the scheduler κ_t = tⁿ of --exact without CKPT (default 1; a CKPT has its own)
  --samples N            sequences to sample (default 50000; MNIST: 1000, the same number of each digit)
  --sample-steps N       discrete Euler steps (default 64)
  --div-free A           divergence-free term with c(t) = A·t²·(1−t)^¼ (default 0: off)
  --guidance W           MNIST: logit-space guidance (1 + W)·logits(c) − W·logits(∅) (default 0: off)
  --elbo N               sequences for the ELBO estimate (default 2000; MNIST: 200; 0: skip)
  --strata N             strata of t for the ELBO (default 32)
  --seed N               sampling seed (default 1)
  --cache DIR            MNIST: where the MNIST judge is cached (as for flowgpu eval mnist)
  --out DIR              where eval-samples.npy, eval-samples.png (MNIST: eval-grid.png) and eval.json
                         go (default: beside CKPT, or the current directory)
`;

const OPTIONS = {
  ...LOOP_OPTIONS, dataset: { type: 'string' }, source: { type: 'string' }, exponent: { type: 'string' }, loss: { type: 'string' },
  embed: { type: 'string' }, 'sample-steps': { type: 'string' }, 'div-free': { type: 'string' }, elbo: { type: 'string' }, strata: { type: 'string' },
  levels: { type: 'string' }, 'label-dropout': { type: 'string' }, guidance: { type: 'string' }, cache: { type: 'string' },
} as const;

/** Everything that defines a discrete run; stored in the checkpoints' metadata. */
export interface DiscreteConfig extends LoopSettings {
  kind: 'discrete-2d' | 'discrete-mnist';
  dataset: string;
  source: discrete.DiscreteSource;
  exponent: number;
  loss: discrete.DiscreteLoss;
  /** MNIST: gray levels K, the image side and the label dropout (absent for 2-D runs). */
  levels?: number;
  size?: number;
  labelDropout?: number;
  net: nn.NetSpec;
}

interface SampleFlags {
  samples: number;
  sampleSteps: number;
  divFree: number;
  elbo: number;
  strata: number;
  guidance: number;
  /** How the MNIST judge is loaded (the cache directory; tests give a quick recipe). */
  judge: Omit<node.LoadJudgeOptions, 'onNote' | 'onProgress'>;
}

/**
 * The sampling flags; `mnist` picks the defaults and allows --guidance and --cache (null: not known
 * yet, only the values are checked).
 */
function sampleFlags(v: Record<string, string | undefined>, mnist: boolean | null): SampleFlags {
  if (mnist === false) {
    for (const f of ['guidance', 'cache'] as const) {
      if (v[f] !== undefined) throw new UsageError(`--${f} is for the class-conditional MNIST model (--dataset mnist); the 2-D data sets have no classes`);
    }
  }
  const samples = num(v.samples ?? (mnist ? 1000 : 50000), 'samples', { int: true, min: 1 });
  if (mnist && samples % DIGITS !== 0) throw new UsageError(`--samples must be a multiple of 10 for MNIST (the same number of each digit), got ${samples}`);
  return {
    samples,
    sampleSteps: num(v['sample-steps'] ?? 64, 'sample-steps', { int: true, min: 1 }),
    divFree: num(v['div-free'] ?? 0, 'div-free', { min: 0 }),
    elbo: num(v.elbo ?? (mnist ? 200 : 2000), 'elbo', { int: true, min: 0, ...(mnist ? { max: 10000 } : {}) }),
    strata: num(v.strata ?? 32, 'strata', { int: true, min: 1 }),
    guidance: num(v.guidance ?? 0, 'guidance'),
    judge: { cacheDir: v.cache },
  };
}

export function discreteConfig(argv: string[]): { cfg: DiscreteConfig; run: RunFlags; s: SampleFlags } {
  const { v, flag } = parse(argv, OPTIONS, DISCRETE_HELP);
  const dataset = oneOf(v.dataset ?? 'checkerboard', 'dataset', ['checkerboard', 'moons', 'mnist'] as const);
  const mnist = dataset === 'mnist';
  if (!mnist) {
    for (const f of ['levels', 'label-dropout'] as const) {
      if (v[f] !== undefined) throw new UsageError(`--${f} is for --dataset mnist (the 2-D data sets have K = 128 categories and no classes)`);
    }
  }
  const source = oneOf(v.source ?? 'mask', 'source', ['mask', 'uniform'] as const);
  const { loop, run } = loopSettings(v, flag, {
    ...(mnist ? { steps: 3000, batch: 128, lr: 1e-3, gradClip: 1, samples: 1000 } : { steps: 3000, batch: 1024, lr: 2e-3, gradClip: null, samples: 50000 }),
    warmup: 100, ema: 0, out: join('runs', `discrete-${dataset}-${source}`),
  });
  const levels = mnist ? num(v.levels ?? 4, 'levels', { int: true, min: 2, max: 256 }) : K;
  const model = discrete.tokenMLPConfig({
    length: mnist ? SIZE * SIZE : 2, categories: levels, vocabulary: levels + (source === 'mask' ? 1 : 0),
    embed: num(v.embed ?? (mnist ? 8 : 64), 'embed', { int: true, min: 1, max: 4096 }),
    hidden: num(v.hidden ?? (mnist ? 512 : 256), 'hidden', { int: true, min: 1, max: 65536 }),
    hiddenLayers: num(v.layers ?? 3, 'layers', { int: true, min: 1, max: 64 }),
    classes: mnist ? DIGITS : 0,
  });
  const cfg: DiscreteConfig = {
    kind: mnist ? 'discrete-mnist' : 'discrete-2d', dataset, source, ...loop,
    exponent: num(v.exponent ?? 1, 'exponent', { gt: 0, max: 8 }),
    loss: oneOf(v.loss ?? (mnist ? 'ce' : 'gkl'), 'loss', ['gkl', 'ce'] as const),
    ...(mnist ? { levels, size: SIZE, labelDropout: num(v['label-dropout'] ?? 0.1, 'label-dropout', { min: 0, max: 1 }) } : {}),
    net: { arch: 'tokenmlp', model },
  };
  return { cfg, run, s: sampleFlags(v, mnist) };
}

/** The data pmf over the K×K cells: exact for the checkerboard, 2·10⁶ draws for moons. */
function dataPmf(dataset: string): Float64Array {
  if (dataset === 'checkerboard') return discrete.checkerboardPmf();
  return discrete.histogramPmf(discrete.tokenHistogram(discrete.sampleTokens2D(dataset, 2_000_000, 987654), K));
}

/** Two K×K histograms side by side (darker = more mass), each scaled to its own 99th percentile. */
function histogramPicture(samples: Int32Array, data: Int32Array): io.RasterImage {
  const img = new Float32Array(2 * K * K);
  [samples, data].forEach((s, p) => {
    const h = discrete.tokenHistogram(s, K);
    const top = [...h].sort((a, b) => a - b)[Math.floor(0.99 * h.length)] || 1;
    // x1 along the horizontal axis, x2 upwards
    for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) img[p * K * K + (K - 1 - b) * K + a] = 1 - Math.min(1, h[a * K + b] / top);
  });
  return io.imageGrid(img, 2, K, K, { cols: 2, scale: 3, gap: 8, gapValue: 255 });
}

/** Samples, the picture and the figures of item 4 of issue 13 (the GPU must be up). */
async function evaluate(net: discrete.DiscreteModel, space: discrete.TokenSpace, dataset: string, s: SampleFlags, seed: number, out: string, prefix = ''): Promise<Record<string, number>> {
  const t0 = performance.now();
  const samples = await discrete.discreteSample(net, {
    ...space, n: s.samples, length: 2, steps: s.sampleSteps, seed,
    divFree: s.divFree > 0 ? discrete.divergenceFreeWeight(s.divFree) : null,
  });
  const sampleSeconds = (performance.now() - t0) / 1000;
  const pmf = dataPmf(dataset);
  const fresh = discrete.sampleTokens2D(dataset, s.samples, seed + 7777);
  const q = discrete.supportAndTV(samples, pmf, K);
  const floor = discrete.supportAndTV(fresh, pmf, K);
  node.writeNpy(join(out, `${prefix}samples.npy`), samples, [s.samples, 2]);
  node.writePng(join(out, `${prefix}samples.png`), histogramPicture(samples, fresh));
  const m: Record<string, number> = {
    samples: s.samples, sampleSteps: s.sampleSteps, divFree: s.divFree, sampleSeconds,
    support: q.support, tv: q.tv, tvFloor: floor.tv, dataEntropyNats: discrete.entropy(pmf),
  };
  if (s.elbo > 0) {
    const x1: Tensor = tensor(discrete.sampleTokens2D(dataset, s.elbo, seed + 4242), [s.elbo, 2], 'i32');
    try {
      Object.assign(m, elboFigures(await noGrad(() => discrete.discreteElbo(net, x1, { ...space, strata: s.strata, seed }))));
    } finally {
      x1.dispose();
    }
  }
  return m;
}

/** The held-out MNIST training digits 50 000… (which the judge never saw) at 16×16, n of them at most. */
function heldOutDigits(n: number): data.ImageSet {
  const train = node.readMnist('train');
  const held = data.mnistRows(train, metrics.HELD_OUT_START, Math.min(n, train.count - metrics.HELD_OUT_START));
  return data.mnistImageSet(held, { size: SIZE });
}

/** The figures of a discretised-MNIST evaluation (metrics.json / eval.json). */
interface DigitsReport {
  levels: number;
  samples: number;
  sampleSteps: number;
  divFree: number;
  guidance: number;
  sampleSeconds: number;
  judgeTestAccuracy: number;
  /** The MNIST judge on the samples, on held-out digits quantised to K levels, and on them as they are. */
  judged: metrics.DigitFigures;
  heldOutQuantised: metrics.DigitFigures;
  heldOut: metrics.DigitFigures;
  elboNats?: number;
  elboStdErr?: number;
  /** −ELBO / (256 ln 2): the bound in bits per pixel. */
  elboBitsPerPixel?: number;
}

/**
 * Samples `s.samples` digits (the same number of each class, at guidance W), dequantises them, writes
 * the samples and the grid, and judges them beside held-out real digits (the GPU must be up).
 */
async function evaluateDigits(net: nn.VelocityNet, space: discrete.TokenSpace, s: SampleFlags, seed: number, out: string, prefix = ''): Promise<DigitsReport> {
  const levels = space.categories;
  const labels = flow.classLabels(s.samples, 'per-class', { classes: DIGITS });
  const t0 = performance.now();
  const tokens = await discrete.discreteSample(net, {
    ...space, n: s.samples, length: SIZE * SIZE, steps: s.sampleSteps, seed, labels, guidance: s.guidance, chunk: net.sampleChunk,
    divFree: s.divFree > 0 ? discrete.divergenceFreeWeight(s.divFree) : null,
  });
  const sampleSeconds = (performance.now() - t0) / 1000;
  const pixels = discrete.dequantizeLevels(tokens, levels);
  writeImageSamples(join(out, `${prefix}samples.npy`), pixels, SIZE, labels);
  node.writePng(join(out, `${prefix}grid.png`), io.sampleGrid(pixels, labels, SIZE));
  const real = heldOutDigits(Math.max(s.samples, s.elbo));
  const quantised = discrete.tokenImages(real, levels);
  const nReal = Math.min(s.samples, real.count);
  const realLabels = real.labels!.subarray(0, nReal);
  const d = SIZE * SIZE;
  const judge = await loadJudge(SIZE, s.judge.cacheDir, s.judge);
  let r: DigitsReport;
  try {
    r = {
      levels, samples: s.samples, sampleSteps: s.sampleSteps, divFree: s.divFree, guidance: s.guidance, sampleSeconds, judgeTestAccuracy: judge.testAccuracy,
      judged: await metrics.judgeDigits(judge, pixels, labels, 'samples'),
      heldOutQuantised: await metrics.judgeDigits(judge, discrete.dequantizeLevels(quantised.tokens.subarray(0, nReal * d), levels), realLabels, `held-out digits, ${levels} levels`),
      heldOut: await metrics.judgeDigits(judge, data.imagePixels(real).subarray(0, nReal * d), realLabels, 'held-out digits, 8-bit'),
    };
  } finally {
    judge.classifier.dispose();
  }
  if (s.elbo > 0) {
    const n = Math.min(s.elbo, real.count);
    const x1: Tensor = tensor(quantised.tokens.subarray(0, n * d), [n, d], 'i32');
    const lab: Tensor = tensor(real.labels!.subarray(0, n), [n], 'i32');
    try {
      const e = await noGrad(() => discrete.discreteElbo(net, x1, { ...space, strata: s.strata, seed, labels: lab }));
      Object.assign(r, elboFigures(e));
      r.elboBitsPerPixel = -r.elboNats! / (d * Math.LN2);
    } finally {
      x1.dispose();
      lab.dispose();
    }
  }
  return r;
}

/** The mean of per-sequence ELBOs and its standard error. */
function elboFigures(e: Float64Array): { elboNats: number; elboStdErr: number } {
  const mean = e.reduce((a, b) => a + b, 0) / e.length;
  const sd = Math.sqrt(e.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, e.length - 1));
  return { elboNats: mean, elboStdErr: sd / Math.sqrt(e.length) };
}

function digitsReport(r: DigitsReport): string {
  const pct = (v: number | null) => (v === null ? '   —' : (100 * v).toFixed(0).padStart(4));
  const rows = [r.judged, r.heldOutQuantised, r.heldOut];
  const w = Math.max(...rows.map((x) => `${x.what} (${x.n})`.length)) + 2;
  const line = (x: metrics.DigitFigures) =>
    `${x.what} (${x.n})`.padEnd(w) + x.fd.toFixed(2).padStart(8) + `${(100 * x.accuracy).toFixed(1)}%`.padStart(10) + x.withinClassDistance.toFixed(2).padStart(10) + '  ' + x.perClass.map(pct).join('');
  return [
    `samples: ${r.samples} digits, ${r.levels} levels, ${r.sampleSteps} Euler steps, guidance w = ${r.guidance}${r.divFree ? `, divergence-free A = ${r.divFree}` : ''} (${r.sampleSeconds.toFixed(1)} s)`,
    `MNIST judge (test accuracy ${(100 * r.judgeTestAccuracy).toFixed(1)}%): FD to the test set, accuracy as the requested digit, mean within-class distance, accuracy per digit 0…9 (%)`,
    ''.padEnd(w) + 'FD'.padStart(8) + 'accuracy'.padStart(10) + 'within'.padStart(10) + '  ' + Array.from({ length: DIGITS }, (_, k) => String(k).padStart(4)).join(''),
    ...rows.map(line),
    ...(r.elboNats !== undefined ? [`conditional ELBO of held-out digits: ${r.elboNats.toFixed(1)} ± ${r.elboStdErr!.toFixed(1)} nats (${r.elboBitsPerPixel!.toFixed(3)} bits per pixel)`] : []),
  ].join('\n') + '\n';
}

function report(m: Record<string, number>): string {
  const f = (v: number, d = 4) => (v === undefined ? '-' : v.toFixed(d));
  return (
    `samples ${m.samples} (${m.sampleSteps} Euler steps${m.divFree ? `, divergence-free A = ${m.divFree}` : ''}, ${f(m.sampleSeconds, 1)} s): ` +
    `on the support ${(100 * m.support).toFixed(2)}%, TV ${f(m.tv)} (fresh data of equal size: ${f(m.tvFloor)})` +
    (m.elboNats !== undefined ? `; ELBO ${f(m.elboNats, 3)} ± ${f(m.elboStdErr, 3)} nats (data entropy ${f(m.dataEntropyNats, 3)})` : '') +
    '\n'
  );
}

/** Trains, samples, evaluates and writes the run's files (the GPU must be up); metrics null when cancelled. */
export async function runDiscrete({ cfg, run, s }: ReturnType<typeof discreteConfig>): Promise<{ history: train.History; metrics: Record<string, number> | DigitsReport | null }> {
  const net = nn.buildNet(cfg.net, cfg.seed);
  const mnist = cfg.kind === 'discrete-mnist';
  const digits = mnist ? discrete.tokenImages(data.mnistImageSet(node.readMnist('train'), { size: SIZE }), cfg.levels!) : null;
  const trainer = new train.Trainer({
    ...trainerOptions(cfg, run),
    net,
    data: digits ? discrete.tokenImageBatches(digits, cfg.batch, cfg.seed) : discrete.tokenBatches(cfg.dataset, cfg.batch, cfg.seed),
    labelDropout: cfg.labelDropout ?? 0,
    objective: discrete.discreteObjective({ source: cfg.source, exponent: cfg.exponent, loss: cfg.loss }),
    config: { ...cfg, objective: { kind: 'discrete', source: cfg.source, exponent: cfg.exponent, loss: cfg.loss, eps: 1e-3 } },
  });
  return inRunDir(run, trainer, async () => {
    const what = digits ? `MNIST ${SIZE}×${SIZE} in ${cfg.levels} gray levels, ${digits.count} digits (class-conditional, label dropout ${cfg.labelDropout})` : cfg.dataset;
    const head = `flowgpu train discrete: ${what}, ${cfg.source} source, ${cfg.loss} loss, ${net.module.parameterCount()} parameters, batch ${cfg.batch}, ${cfg.steps} steps on ${await adapterName()}`;
    const r = await runTraining(trainer, run, head);
    if (r.cancelled) return { history: r.history, metrics: null };
    const space = discrete.discreteSpaceOf(trainer.config, cfg.net.arch === 'tokenmlp' ? cfg.net.model.categories : K)!;
    const m = mnist
      ? await trainer.withSamplingWeights(() => evaluateDigits(net, space, s, cfg.seed + 1, run.out))
      : await trainer.withSamplingWeights(() => evaluate(net, space, cfg.dataset, s, cfg.seed + 1, run.out));
    process.stdout.write(mnist ? digitsReport(m as DigitsReport) : report(m as Record<string, number>));
    const lossName = cfg.loss === 'gkl' ? 'generalized-KL loss per token' : 'cross-entropy per token';
    const head2 = { dataset: cfg.dataset, source: cfg.source, loss: cfg.loss, ...(mnist ? { levels: cfg.levels, labelDropout: cfg.labelDropout } : {}) };
    await finishRun(trainer, r, run, { lossTitle: `${lossName} (${mnist ? `MNIST, ${cfg.levels} levels` : cfg.dataset}, ${cfg.source} source)`, head: head2, tail: m });
    const files = mnist ? 'samples.npy, samples.labels.npy, grid.png' : 'samples.npy, samples.png';
    process.stdout.write(`wrote ${run.out}/{model,checkpoint}.safetensors, ${files}, loss.png, metrics.json\n`);
    return { history: r.history, metrics: m };
  });
}

export function trainDiscreteCmd(argv: string[]): Promise<number> {
  const o = discreteConfig(argv);
  return withGpu(() => runDiscrete(o));
}

export function evalDiscreteCmd(argv: string[]): Promise<number> {
  const o = evalDiscreteArgs(argv);
  return withGpu(() => evalDiscrete(o));
}

/** The flags of `flowgpu eval discrete`, checked before the GPU starts. */
export function evalDiscreteArgs(argv: string[]): { file: string | null; v: Record<string, string | undefined>; seed: number; out?: string; exact: { dataset: string; source: discrete.DiscreteSource; exponent: number } | null } {
  const { v, pos, flag } = parse(argv, { ...OPTIONS, seed: { type: 'string' }, out: { type: 'string' }, exact: { type: 'boolean' } }, DISCRETE_EVAL_HELP, 1);
  const exact = flag('exact');
  if (pos.length > 1 || (pos.length === 0 && !exact)) throw new UsageError(`flowgpu eval discrete: give one checkpoint or model file, or --exact (got ${pos.length} files)`);
  const given = exact && pos.length === 0;
  if (exact && (v.dataset === 'mnist' || v.guidance !== undefined)) throw new UsageError('--exact is the 2-D data sets\' exact posterior (checkerboard, moons); MNIST has no enumerable pmf');
  if (pos.length === 1 && v.exponent !== undefined) throw new UsageError(`--exponent is ${pos[0]}'s own (stored with it); leave it out, or use it with --exact alone`);
  sampleFlags(v, given ? false : null); // checked before the GPU starts; evalDiscrete reads them for the model's kind
  return {
    file: pos[0] ?? null,
    v,
    seed: num(v.seed ?? 1, 'seed', { int: true, min: 0 }),
    out: v.out,
    exact: given
      ? {
          dataset: oneOf(v.dataset ?? 'checkerboard', 'dataset', ['checkerboard', 'moons'] as const),
          source: oneOf(v.source ?? 'mask', 'source', ['mask', 'uniform'] as const),
          exponent: num(v.exponent ?? 1, 'exponent', { gt: 0, max: 8 }),
        }
      : exact ? { dataset: '', source: 'mask', exponent: 1 } : null,
  };
}

/**
 * Samples and evaluates a discrete run's model file or checkpoint, or the exact posterior of its
 * data (--exact) (the GPU must be up); returns the figures.
 */
export async function evalDiscrete({ file, v, seed, out: outFlag, exact, judge }: ReturnType<typeof evalDiscreteArgs> & { judge?: SampleFlags['judge'] }): Promise<Record<string, number> | DigitsReport> {
  const loaded = file ? io.loadModel(node.readCheckpoint(file), { where: file }) : null;
  try {
    let dataset = exact?.dataset ?? '';
    let space: discrete.TokenSpace = { categories: K, source: exact?.source ?? 'mask', scheduler: discrete.polynomialKappa(exact?.exponent ?? 1) };
    let mnist = false;
    if (loaded && file) {
      const cfg = loaded.config as unknown as Partial<DiscreteConfig>;
      const stored = discrete.discreteSpaceOf(loaded.config, loaded.net.spec.arch === 'tokenmlp' ? discrete.tokenCategories(loaded.net) : K);
      if (!stored || (cfg.kind !== 'discrete-2d' && cfg.kind !== 'discrete-mnist') || typeof cfg.dataset !== 'string') {
        throw new UsageError(`${file} is not a run of flowgpu train discrete (its config has no discrete objective): use flowgpu sample/eval for continuous flows`);
      }
      mnist = cfg.kind === 'discrete-mnist';
      if (mnist && exact) throw new UsageError(`${file} is a discretised-MNIST run: --exact is the 2-D data sets' exact posterior; leave it out`);
      dataset = cfg.dataset;
      space = stored;
    }
    const s = sampleFlags(v, mnist);
    if (judge) s.judge = { ...s.judge, ...judge };
    const out = outFlag ?? (file ? dirname(file) : '.');
    if (mnist) {
      const r = await evaluateDigits(loaded!.net, space, s, seed, out, 'eval-');
      process.stdout.write(digitsReport(r));
      writeFileSync(join(out, 'eval.json'), JSON.stringify({ checkpoint: file, dataset, source: space.source, ...r }, null, 2) + '\n');
      process.stdout.write(`wrote ${join(out, 'eval.json')}, eval-samples.npy, eval-samples.labels.npy and eval-grid.png beside it\n`);
      return r;
    }
    const exactModel = exact ? discrete.exactPosteriorModel(dataPmf(dataset), 2, space) : null;
    try {
      const m = await evaluate(exactModel ?? loaded!.net, space, dataset, s, seed, out, exact ? 'exact-' : 'eval-');
      process.stdout.write((exact ? `exact posterior of ${dataset}, ${space.source} source: ` : '') + report(m));
      const name = exact ? 'exact.json' : 'eval.json';
      writeFileSync(join(out, name), JSON.stringify({ checkpoint: file, exact: exact !== null, dataset, source: space.source, ...m }, null, 2) + '\n');
      process.stdout.write(`wrote ${join(out, name)} and the samples and picture beside it\n`);
      return m;
    } finally {
      exactModel?.dispose();
    }
  } finally {
    loaded?.net.module.dispose();
  }
}
