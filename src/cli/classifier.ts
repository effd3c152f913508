/**
 * `flowgpu eval mnist`: judging image samples inside the engine. A small MNIST classifier, built
 * from flowgpu's own modules and trained with flowgpu itself (once per image size, then cached),
 * gives three figures for a set of samples:
 *
 *   FD         Fréchet distance between the classifier's penultimate-layer features (128 wide) of
 *              the samples and of the 10 000 real test images (src/metrics/fid.ts): FID's recipe
 *              with an MNIST network in place of Inception. Lower is better.
 *   histogram  the share of each digit among the classifier's predictions (mode collapse shows).
 *   accuracy   for conditional samples: how often the classifier reads the requested digit.
 *
 * The same figures for real images are printed beside them, so the numbers can be read: the real
 * row uses as many held-out training images as there are samples (FD is biased upwards at small
 * counts; the real row is the floor for that count).
 *
 * The classifier: Linear(S², 256), SiLU, Linear(256, 128), SiLU, Linear(128, 10) (torch
 * Sequential names 0.*, 2.*, 4.*), input 2p − 1 for pixels p ∈ [0, 1]; trained with AdamW and a
 * cosine schedule on the first 50 000 training images (the last 10 000 are held out for the real
 * row). An MLP rather than a CNN because a convolution step costs ~10× more on a software driver
 * (measured on lavapipe, 2 cores, batch 128 at 16×16: ≈ 80 ms per MLP step, ≈ 1 s for a
 * two-convolution CNN), and training once must stay a matter of a minute or two there.
 * Cache: <dir>/mnist-classifier-<size>.safetensors with the training config in its metadata; a file
 * whose config differs from the current recipe is retrained.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { crossEntropy, reshape } from '../autograd/ops.js';
import { backward, noGrad } from '../autograd/tape.js';
import { EpochSampler, MnistDataset, pixelToModel, type MnistHost } from '../data/mnist.js';
import { LossMeter } from '../flow/train.js';
import { FlowGpuError } from '../gpu/errors.js';
import { loadModuleTensors, readTensors } from '../io/checkpoint.js';
import { readCheckpoint, readNpy, writeCheckpoint } from '../io/node-files.js';
import { readMnist } from '../io/node-mnist.js';
import { configDifference } from '../io/safetensors.js';
import { frechetDistance, gaussianStats, type GaussianStats } from '../metrics/fid.js';
import { Linear, Sequential, SiLU } from '../nn/layers.js';
import { HostRng } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { learningRate } from '../optim/schedule.js';
import { gpu, tensor, tidy, type Tensor } from '../tensor/tensor.js';
import { parse } from './args.js';
import { HelpRequest, UsageError } from './errors.js';
import { labelsPath } from './mnist.js';
import { Progress } from './progress.js';

export interface ClassifierConfig {
  kind: 'mnist-classifier';
  /** Bumped when the recipe changes, so stale cache files are retrained. */
  version: number;
  size: number;
  hidden: number[];
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  /** Trains on training images 0 … trainImages − 1. */
  trainImages: number;
}

/** The recipe of the cached classifier at a given size. */
export function defaultClassifierConfig(size: number): ClassifierConfig {
  return { kind: 'mnist-classifier', version: 1, size, hidden: [256, 128], epochs: 3, batch: 128, lr: 2e-3, seed: 0, trainImages: 50000 };
}

/** Held-out real images (never seen by the classifier) start here in the training split. */
export const HELD_OUT_START = 50000;

export class DigitClassifier extends Sequential {
  readonly inWidth: number;
  readonly featureWidth: number;
  readonly head: Linear;
  private readonly body: (Linear | SiLU)[];
  constructor(readonly config: ClassifierConfig) {
    const rng = new HostRng(config.seed);
    const widths = [config.size * config.size, ...config.hidden];
    const body: (Linear | SiLU)[] = [];
    for (let i = 0; i + 1 < widths.length; i++) body.push(new Linear(widths[i], widths[i + 1], { rng }), new SiLU());
    const head = new Linear(widths[widths.length - 1], 10, { rng });
    super(...body, head);
    this.body = body;
    this.head = head;
    this.inWidth = widths[0];
    this.featureWidth = widths[widths.length - 1];
  }
  /** x [N, 1, S, S] or [N, S²] in model space (2p − 1) → penultimate features [N, H]. */
  features(x: Tensor): Tensor {
    let h = reshape(x, [x.shape[0], this.inWidth]);
    for (const l of this.body) h = l.forward(h);
    return h;
  }
  logits(x: Tensor): Tensor {
    return this.head.forward(this.features(x));
  }
}

// ------------------------------------------------------------------ training and cache

export function defaultCacheDir(): string {
  return process.env.FLOWGPU_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'flowgpu');
}

export function classifierPath(cacheDir: string, size: number): string {
  return join(cacheDir, `mnist-classifier-${size}.safetensors`);
}

/** Trains a classifier from scratch on `train` (the first cfg.trainImages images). Returns it trained. */
export async function trainClassifier(cfg: ClassifierConfig, train: MnistHost, o: { quiet?: boolean } = {}): Promise<DigitClassifier> {
  const clf = new DigitClassifier(cfg);
  const data = new MnistDataset(train, { size: cfg.size, limit: cfg.trainImages });
  const batches = new EpochSampler(data.count, cfg.batch, cfg.seed);
  const steps = cfg.epochs * batches.batchesPerEpoch;
  const opt = new AdamW(clf, { lr: cfg.lr, weightDecay: 0 });
  const sched = { kind: 'cosine' as const, lr: cfg.lr, warmupSteps: Math.min(100, Math.floor(steps / 10)), totalSteps: steps, minLr: cfg.lr * 0.01 };
  const meter = new LossMeter();
  const progress = o.quiet ? null : new Progress(steps, `classifier ${cfg.size}×${cfg.size}`);
  try {
    for (let s = 0; s < steps; s++) {
      const { x, labels } = data.batch(batches.next());
      const loss = tidy(() => {
        clf.zeroGrad();
        const l = crossEntropy(clf.logits(x), labels);
        backward(l);
        noGrad(() => opt.step(learningRate(sched, s)));
        l.node = null;
        l.requiresGrad = false;
        return l;
      });
      gpu().flush();
      meter.add(loss);
      x.dispose();
      labels.dispose();
      if (progress && ((s + 1) % 50 === 0 || s + 1 === steps)) progress.update(s + 1, { loss: await meter.read() }, s + 1 === steps);
    }
    if (meter.pending) await meter.read();
  } finally {
    meter.dispose();
    opt.dispose();
    data.dispose();
  }
  if (progress) process.stderr.write('\n');
  return clf;
}

export interface LoadedClassifier {
  classifier: DigitClassifier;
  path: string | null;
  /** Accuracy on the test images (all 10 000 unless asked otherwise). */
  testAccuracy: number;
  /** Feature statistics of the test images. */
  testStats: GaussianStats;
  trained: boolean;
}

/**
 * The cached classifier for `size`, trained (and written to the cache) when missing or stale. The
 * test-set statistics are computed here, once per call.
 */
export async function loadOrTrainClassifier(
  size: number,
  o: { cacheDir?: string; config?: ClassifierConfig; quiet?: boolean; /** Test images for the statistics (default all 10 000). */ testImages?: number } = {},
): Promise<LoadedClassifier> {
  const cfg = o.config ?? defaultClassifierConfig(size);
  const dir = o.cacheDir ?? defaultCacheDir();
  const path = classifierPath(dir, size);
  const test = readMnist('test');
  let clf: DigitClassifier | null = null;
  if (existsSync(path)) {
    const ck = readCheckpoint(path);
    if (!configDifference(JSON.stringify(ck.config), cfg as unknown as Record<string, unknown>)) {
      clf = new DigitClassifier(cfg);
      loadModuleTensors(clf, ck, { what: 'the MNIST classifier' });
    } else if (!o.quiet) {
      process.stderr.write(`${path} was trained with another recipe; retraining\n`);
    }
  }
  let trained = false;
  if (!clf) {
    if (!o.quiet) process.stderr.write(`training the ${size}×${size} MNIST classifier for flowgpu eval (once; cached in ${path})\n`);
    clf = await trainClassifier(cfg, readMnist('train'), o);
    mkdirSync(dir, { recursive: true });
    writeCheckpoint(path, { tensors: await readTensors(clf.namedParameters()), config: cfg });
    trained = true;
  }
  const nTest = Math.min(o.testImages ?? test.count, test.count);
  const out = await classifySplit(clf, test, 0, nTest);
  const testAccuracy = accuracy(out.predictions, test.labels.subarray(0, nTest));
  return { classifier: clf, path, testAccuracy, testStats: gaussianStats(out.features, clf.featureWidth), trained };
}

export interface Classified {
  /** Penultimate features [n, H]. */
  features: Float32Array;
  /** The digit with the largest logit. */
  predictions: Int32Array;
}

/** Runs the classifier over n images that `batch(at, m)` puts on the GPU (model space), 1000 at a time. */
async function classifyBatches(clf: DigitClassifier, n: number, batch: (at: number, m: number) => Tensor): Promise<Classified> {
  const h = clf.featureWidth;
  const features = new Float32Array(n * h);
  const predictions = new Int32Array(n);
  const chunk = 1000;
  for (let at = 0; at < n; at += chunk) {
    const m = Math.min(chunk, n - at);
    const [f, lg] = noGrad(() =>
      tidy(() => {
        const feat = clf.features(batch(at, m));
        return [feat, clf.head.forward(feat)];
      }),
    );
    features.set(await f.f32(), at * h);
    const logits = await lg.f32();
    f.dispose();
    lg.dispose();
    for (let i = 0; i < m; i++) {
      let best = 0;
      for (let k = 1; k < 10; k++) if (logits[i * 10 + k] > logits[i * 10 + best]) best = k;
      predictions[at + i] = best;
    }
  }
  return { features, predictions };
}

/** Classifies images given as pixels p ∈ [0, 1] ([n·S²], e.g. a samples .npy). */
export function classifyPixels(clf: DigitClassifier, pixels: ArrayLike<number>): Promise<Classified> {
  const d = clf.inWidth;
  if (pixels.length % d !== 0) throw new FlowGpuError(`classify: ${pixels.length} values are not images of ${d} pixels`);
  return classifyBatches(clf, pixels.length / d, (at, m) => {
    const x = new Float32Array(m * d);
    for (let i = 0; i < x.length; i++) x[i] = pixelToModel(pixels[at * d + i]);
    return tensor(x, [m, d]);
  });
}

/** Classifies images from..from+n−1 of an MNIST split, resized as the flow models see them. */
export async function classifySplit(clf: DigitClassifier, m: MnistHost, from: number, n: number): Promise<Classified> {
  const d = m.rows * m.cols;
  if (from + n > m.count) throw new FlowGpuError(`classify: images ${from}…${from + n - 1} exceed the split's ${m.count}`);
  const part: MnistHost = { ...m, count: n, images: m.images.subarray(from * d, (from + n) * d), labels: m.labels.subarray(from, from + n) };
  const ds = new MnistDataset(part, { size: clf.config.size });
  try {
    return await classifyBatches(clf, n, (at, k) => {
      const idx = tensor(Int32Array.from({ length: k }, (_, i) => at + i), [k], 'i32');
      return ds.gather(idx);
    });
  } finally {
    ds.dispose();
  }
}

export function accuracy(pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (pred.length !== labels.length) throw new FlowGpuError(`accuracy: ${pred.length} predictions for ${labels.length} labels`);
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) ok++;
  return ok / Math.max(pred.length, 1);
}

/** Share of each digit 0…9 among predictions. */
export function classHistogram(pred: ArrayLike<number>): number[] {
  const h = new Array<number>(10).fill(0);
  for (let i = 0; i < pred.length; i++) h[pred[i]]++;
  return h.map((c) => c / Math.max(pred.length, 1));
}


// ------------------------------------------------------------------ flowgpu eval mnist

export interface EvalRow {
  what: string;
  n: number;
  /** Fréchet distance of the features to the test set's. */
  fd: number;
  /** Share of each predicted digit 0…9. */
  histogram: number[];
  /** Accuracy against the requested (or true) labels; null without labels. */
  accuracy: number | null;
}

export interface MnistEvalReport {
  size: number;
  classifier: { path: string | null; testAccuracy: number; featureDim: number; testImages: number; layers: number[] };
  samples: EvalRow;
  real: EvalRow;
}

/**
 * FD, class histogram and (with labels) accuracy of images p ∈ [0, 1] ([n·S²]), next to the same
 * figures for n held-out real images (at most 10 000).
 */
export async function evaluateMnistSamples(pixels: ArrayLike<number>, size: number, labels: ArrayLike<number> | null, clf: LoadedClassifier, what = 'samples'): Promise<MnistEvalReport> {
  const c = clf.classifier;
  if (c.config.size !== size) throw new FlowGpuError(`evaluate: the classifier is for ${c.config.size}×${c.config.size} images, the samples are ${size}×${size}`);
  const s = await classifyPixels(c, pixels);
  const n = s.predictions.length;
  if (labels && labels.length !== n) throw new FlowGpuError(`evaluate: ${labels.length} labels for ${n} samples`);
  const train = readMnist('train');
  const nReal = Math.min(n, train.count - HELD_OUT_START);
  const r = await classifySplit(c, train, HELD_OUT_START, nReal);
  return {
    size,
    classifier: { path: clf.path, testAccuracy: clf.testAccuracy, featureDim: c.featureWidth, testImages: clf.testStats.count, layers: [c.inWidth, ...c.config.hidden, 10] },
    samples: figures(clf, what, s, labels),
    real: figures(clf, 'real held-out images', r, train.labels.subarray(HELD_OUT_START, HELD_OUT_START + nReal)),
  };
}

/** FD to the test set, class histogram and (with labels) accuracy of classified images. */
export function figures(clf: LoadedClassifier, what: string, k: Classified, labels: ArrayLike<number> | null): EvalRow {
  return {
    what,
    n: k.predictions.length,
    fd: Math.max(0, frechetDistance(gaussianStats(k.features, clf.classifier.featureWidth), clf.testStats)),
    histogram: classHistogram(k.predictions),
    accuracy: labels ? accuracy(k.predictions, labels) : null,
  };
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

export function formatMnistEval(r: MnistEvalReport): string {
  const c = r.classifier;
  const name = (row: EvalRow) => `${row.what} (${row.n})`;
  const w = Math.max(name(r.samples).length, name(r.real).length) + 2;
  const line = (row: EvalRow) =>
    name(row).padEnd(w) +
    row.fd.toFixed(3).padStart(9) +
    (row.accuracy === null ? '—' : pct(row.accuracy)).padStart(10) +
    '   ' +
    row.histogram.map((h) => (100 * h).toFixed(1).padStart(5)).join('');
  return [
    `classifier: MLP ${c.layers.join('-')} on ${r.size}×${r.size} MNIST, trained by flowgpu; test accuracy ${pct(c.testAccuracy)}${c.path ? ` (${c.path})` : ''}`,
    `${''.padEnd(w)}${'FD'.padStart(9)}${'accuracy'.padStart(10)}   class histogram, % of predictions for 0 … 9`,
    line(r.samples),
    line(r.real),
    `FD: Fréchet distance between the classifier's ${c.featureDim} penultimate features and those of the ${c.testImages} test images (lower is better;`,
    `the real row is the floor at this number of images). accuracy: how often the classifier reads the requested digit (real row: the true digit).`,
  ].join('\n');
}

export const EVAL_MNIST_HELP = `flowgpu eval mnist SAMPLES.npy [options]

  SAMPLES.npy            images [N, 1, H, W] (H = W = 16 or 28) with values in [0, 1]
  --labels FILE.npy      int32 [N] requested digits (default: SAMPLES.labels.npy when it exists)
  --cache DIR            where the classifier is cached (default $FLOWGPU_CACHE or ~/.cache/flowgpu)
  --json                 print the figures as JSON too

The first run at a size trains the classifier with flowgpu (about a minute or two on a software
driver) and caches it; later runs load it.
`;

/** Reads a samples .npy: images [N, 1, S, S] (or [N, S, S]) with values in [0, 1]. */
export function readImageSamples(path: string): { pixels: Float32Array; n: number; size: number } {
  const a = readNpy(path);
  const s = a.shape;
  const ok = a.dtype === 'float32' && ((s.length === 4 && s[1] === 1 && s[2] === s[3]) || (s.length === 3 && s[1] === s[2]));
  if (!ok) throw new UsageError(`${path}: expected float32 images [N, 1, H, W] with H = W, got ${a.dtype} [${s.join(', ')}]`);
  const size = s[s.length - 1];
  if (size !== 16 && size !== 28) throw new UsageError(`${path}: images are ${size}×${size}; flowgpu's MNIST classifier judges 16×16 and 28×28`);
  const px = a.data as Float32Array;
  for (let i = 0; i < px.length; i++) {
    if (!(px[i] >= 0 && px[i] <= 1)) {
      throw new UsageError(`${path}: image ${Math.floor(i / (size * size))} has the value ${px[i]}; pixels must be in [0, 1] (DESIGN.md)`);
    }
  }
  return { pixels: px, n: s[0], size };
}

/** Reads class labels: int32 [N], digits 0…9. */
export function readLabels(path: string, n: number): Int32Array {
  const a = readNpy(path);
  if (a.dtype !== 'int32' || a.shape.length !== 1 || a.shape[0] !== n) {
    throw new UsageError(`${path}: expected int32 labels [${n}], got ${a.dtype} [${a.shape.join(', ')}]`);
  }
  const bad = (a.data as Int32Array).findIndex((v) => v < 0 || v > 9);
  if (bad >= 0) throw new UsageError(`${path}: label ${bad} is ${a.data[bad]}, not a digit 0…9`);
  return a.data as Int32Array;
}

/** `flowgpu eval mnist` (the GPU runtime must be initialised). */
export async function evalMnist(argv: string[]): Promise<MnistEvalReport> {
  const { values: v, positionals } = parse(argv, { labels: { type: 'string' }, cache: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, true) as {
    values: { labels?: string; cache?: string; json?: boolean; help?: boolean };
    positionals: string[];
  };
  if (v.help) throw new HelpRequest(EVAL_MNIST_HELP);
  if (positionals.length !== 1) throw new UsageError(EVAL_MNIST_HELP);
  const path = positionals[0];
  const { pixels, n, size } = readImageSamples(path);
  let labelFile = v.labels;
  if (!labelFile && existsSync(labelsPath(path))) {
    labelFile = labelsPath(path);
    process.stderr.write(`using the labels in ${labelFile}\n`);
  }
  const labels = labelFile ? readLabels(labelFile, n) : null;
  const clf = await loadOrTrainClassifier(size, { cacheDir: v.cache });
  try {
    const r = await evaluateMnistSamples(pixels, size, labels, clf, path);
    process.stdout.write(formatMnistEval(r) + '\n');
    if (v.json) process.stdout.write(JSON.stringify(r) + '\n');
    return r;
  } finally {
    clf.classifier.dispose();
  }
}
