/**
 * The MNIST judge: image samples scored inside the engine (what `flowgpu eval mnist` prints). A small MNIST classifier, built
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
 * The classifier is saved with its recipe in the metadata (`encodeClassifier`); `decodeClassifier`
 * refuses a file of another recipe, so a cache is retrained when the recipe changes. The Node entry
 * keeps that cache on disk (`loadMnistJudge`); MNIST itself comes in as `MnistHost` arrays.
 */
import { crossEntropy, reshape } from '../autograd/ops.js';
import { backward, noGrad } from '../autograd/tape.js';
import { EpochSampler, MnistDataset, mnistRows, pixelToModel, type MnistHost } from '../data/mnist.js';
import { LossMeter } from '../flow/train.js';
import { FlowGpuError } from '../gpu/errors.js';
import { decodeCheckpoint, encodeCheckpoint, loadModuleTensors, readTensors } from '../io/checkpoint.js';
import type { NpyArray } from '../io/npy.js';
import { configDifference } from '../io/safetensors.js';
import { Linear, Sequential, SiLU } from '../nn/layers.js';
import { HostRng } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { learningRate } from '../optim/schedule.js';
import { tensor, tidy, gpu, type Tensor } from '../tensor/tensor.js';
import { frechetDistance, gaussianStats, type GaussianStats } from './fid.js';

/**
 * The MNIST judge classifier's recipe, stored with it: image size, hidden widths, epochs, batch,
 * lr, seed, training images and a version.
 */
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

/**
 * The MNIST judge: an MLP digit classifier (SiLU hidden layers, 10 logits) whose penultimate
 * features feed the Fréchet distance.
 */
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

// ------------------------------------------------------------------ training and saving

/**
 * Trains a classifier from scratch on `train` (the first cfg.trainImages images): AdamW, cosine
 * schedule, cross-entropy. `onProgress` sees the mean loss every 50 steps.
 */
export async function trainDigitClassifier(
  cfg: ClassifierConfig,
  train: MnistHost,
  o: { onProgress?(p: { step: number; steps: number; loss: number }): void } = {},
): Promise<DigitClassifier> {
  const clf = new DigitClassifier(cfg);
  const data = new MnistDataset(train, { size: cfg.size, limit: cfg.trainImages });
  const batches = new EpochSampler(data.count, cfg.batch, cfg.seed);
  const steps = cfg.epochs * batches.batchesPerEpoch;
  const opt = new AdamW(clf, { lr: cfg.lr, weightDecay: 0 });
  const sched = { kind: 'cosine' as const, lr: cfg.lr, warmupSteps: Math.min(100, Math.floor(steps / 10)), totalSteps: steps, minLr: cfg.lr * 0.01 };
  const meter = new LossMeter();
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
      if (o.onProgress && ((s + 1) % 50 === 0 || s + 1 === steps)) o.onProgress({ step: s + 1, steps, loss: await meter.read() });
    }
    if (meter.pending) await meter.read();
  } finally {
    meter.dispose();
    opt.dispose();
    data.dispose();
  }
  return clf;
}

/** A trained classifier as safetensors bytes, its recipe in the metadata. */
export async function encodeClassifier(clf: DigitClassifier): Promise<Uint8Array> {
  return encodeCheckpoint({ tensors: await readTensors(clf.namedParameters()), config: clf.config });
}

/** The classifier saved by `encodeClassifier`, or null when it was trained with another recipe than `cfg`. */
export function decodeClassifier(bytes: Uint8Array, cfg: ClassifierConfig, where?: string): DigitClassifier | null {
  const ck = decodeCheckpoint(bytes, where);
  if (configDifference(JSON.stringify(ck.config), cfg as unknown as Record<string, unknown>)) return null;
  const clf = new DigitClassifier(cfg);
  try {
    loadModuleTensors(clf, ck, { what: 'the MNIST classifier', where });
  } catch (e) {
    clf.dispose();
    throw e;
  }
  return clf;
}

/** A classifier with the feature statistics and accuracy of the test images: what judging needs. */
export interface MnistJudge {
  classifier: DigitClassifier;
  /** Accuracy on the test images used. */
  testAccuracy: number;
  /** Feature statistics of the test images (the reference distribution of the Fréchet distance). */
  testStats: GaussianStats;
  /** Where it was loaded from, when it was (for messages). */
  path: string | null;
}

/** Computes the test statistics of a classifier: the first `testImages` (default all) of the test split. */
export async function makeMnistJudge(classifier: DigitClassifier, test: MnistHost, o: { testImages?: number; path?: string | null } = {}): Promise<MnistJudge> {
  const nTest = Math.min(o.testImages ?? test.count, test.count);
  const out = await classifySplit(classifier, test, 0, nTest);
  const testAccuracy = accuracy(out.predictions, test.labels.subarray(0, nTest));
  return { classifier, testAccuracy, testStats: gaussianStats(out.features, classifier.featureWidth), path: o.path ?? null };
}

/** Classifier outputs for n images: penultimate features [n, H] and the predicted digits. */
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
  const ds = new MnistDataset(mnistRows(m, from, n), { size: clf.config.size });
  try {
    return await classifyBatches(clf, n, (at, k) => {
      const idx = tensor(Int32Array.from({ length: k }, (_, i) => at + i), [k], 'i32');
      return ds.gather(idx);
    });
  } finally {
    ds.dispose();
  }
}

/** The fraction of predictions equal to their labels (0 for none). */
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

/** The accuracy within each class 0…classes−1 (null for a class no label asks for). */
export function classAccuracy(pred: ArrayLike<number>, labels: ArrayLike<number>, classes = 10): (number | null)[] {
  if (pred.length !== labels.length) throw new FlowGpuError(`class accuracy: ${pred.length} predictions for ${labels.length} labels`);
  const ok = new Array<number>(classes).fill(0);
  const all = new Array<number>(classes).fill(0);
  for (let i = 0; i < pred.length; i++) {
    const c = labels[i];
    if (!(Number.isInteger(c) && c >= 0 && c < classes)) throw new FlowGpuError(`class accuracy: label ${i} is ${c}, not a class 0…${classes - 1}`);
    all[c]++;
    if (pred[i] === c) ok[c]++;
  }
  return all.map((n, c) => (n ? ok[c] / n : null));
}

/**
 * Diversity within classes: the mean Euclidean distance between two different images of one class
 * (pixels [n·d] in [0, 1]), over all pairs of the first `perClass` (default 100) images of each class,
 * averaged over the classes that have two or more. 0 when every class collapsed to one image.
 */
export function withinClassDistance(pixels: ArrayLike<number>, labels: ArrayLike<number>, d: number, perClass = 100): number {
  if (pixels.length !== labels.length * d) throw new FlowGpuError(`within-class distance: ${pixels.length} values are not ${labels.length} images of ${d}`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const rows = byClass.get(labels[i]) ?? [];
    if (rows.length < perClass) rows.push(i);
    byClass.set(labels[i], rows);
  }
  let sum = 0;
  let used = 0;
  for (const rows of byClass.values()) {
    if (rows.length < 2) continue;
    let s = 0;
    for (let a = 0; a < rows.length; a++) {
      for (let b = a + 1; b < rows.length; b++) {
        let q = 0;
        for (let k = 0; k < d; k++) q += (pixels[rows[a] * d + k] - pixels[rows[b] * d + k]) ** 2;
        s += Math.sqrt(q);
      }
    }
    sum += s / ((rows.length * (rows.length - 1)) / 2);
    used++;
  }
  return used ? sum / used : 0;
}

/** `sampleFigures` with the accuracy of each class and the within-class distance (labelled images). */
export interface DigitFigures extends EvalRow {
  accuracy: number;
  perClass: (number | null)[];
  withinClassDistance: number;
}

/**
 * Judges labelled digits p ∈ [0, 1] ([n·S²]: samples asked for `labels`, or real images with their
 * digits): FD to the test set, class histogram, accuracy overall and per class, and the mean
 * within-class distance.
 */
export async function judgeDigits(judge: MnistJudge, pixels: ArrayLike<number>, labels: ArrayLike<number>, what: string): Promise<DigitFigures> {
  const k = await classifyPixels(judge.classifier, pixels);
  const row = sampleFigures(judge, what, k, labels);
  return {
    ...row, accuracy: row.accuracy!, perClass: classAccuracy(k.predictions, labels),
    withinClassDistance: withinClassDistance(pixels, labels, judge.classifier.inWidth),
  };
}


// ------------------------------------------------------------------ flowgpu eval mnist

/**
 * One row of an MNIST evaluation: what was scored, how many, its Fréchet distance, digit histogram
 * and accuracy (null without labels).
 */
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

/**
 * The output of `evaluateMnistSamples`: image size, the classifier used, and the rows for the
 * samples and for real held-out images.
 */
export interface MnistEvalReport {
  size: number;
  classifier: { path: string | null; testAccuracy: number; featureDim: number; testImages: number; layers: number[] };
  samples: EvalRow;
  real: EvalRow;
}

/**
 * FD, class histogram and (with labels) accuracy of images p ∈ [0, 1] ([n·S²]), next to the same
 * figures for n held-out real images of the training split `train` (images 50 000…, at most 10 000).
 */
export async function evaluateMnistSamples(
  pixels: ArrayLike<number>,
  size: number,
  labels: ArrayLike<number> | null,
  clf: MnistJudge,
  train: MnistHost,
  what = 'samples',
): Promise<MnistEvalReport> {
  const c = clf.classifier;
  if (c.config.size !== size) throw new FlowGpuError(`evaluate: the classifier is for ${c.config.size}×${c.config.size} images, the samples are ${size}×${size}`);
  const s = await classifyPixels(c, pixels);
  const n = s.predictions.length;
  if (labels && labels.length !== n) throw new FlowGpuError(`evaluate: ${labels.length} labels for ${n} samples`);
  const nReal = Math.min(n, train.count - HELD_OUT_START);
  const r = await classifySplit(c, train, HELD_OUT_START, nReal);
  return {
    size,
    classifier: { path: clf.path, testAccuracy: clf.testAccuracy, featureDim: c.featureWidth, testImages: clf.testStats.count, layers: [c.inWidth, ...c.config.hidden, 10] },
    samples: sampleFigures(clf, what, s, labels),
    real: sampleFigures(clf, 'real held-out images', r, train.labels.subarray(HELD_OUT_START, HELD_OUT_START + nReal)),
  };
}

/** FD to the test set, class histogram and (with labels) accuracy of classified images. */
export function sampleFigures(clf: MnistJudge, what: string, k: Classified, labels: ArrayLike<number> | null): EvalRow {
  return {
    what,
    n: k.predictions.length,
    fd: Math.max(0, frechetDistance(gaussianStats(k.features, clf.classifier.featureWidth), clf.testStats)),
    histogram: classHistogram(k.predictions),
    accuracy: labels ? accuracy(k.predictions, labels) : null,
  };
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

/**
 * An MNIST evaluation as a printable table: FD, accuracy and class histogram of the samples beside
 * the real images, with a legend.
 */
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

/** Image samples from a .npy: float32 [N, 1, H, W] (or [N, H, W]) with H = W = 16 or 28 and values in [0, 1]. */
export function imageSamplesFrom(a: NpyArray, where = 'samples'): { pixels: Float32Array; n: number; size: number } {
  const s = a.shape;
  const ok = a.dtype === 'float32' && ((s.length === 4 && s[1] === 1 && s[2] === s[3]) || (s.length === 3 && s[1] === s[2]));
  if (!ok) throw new FlowGpuError(`${where}: expected float32 images [N, 1, H, W] with H = W, got ${a.dtype} [${s.join(', ')}]`);
  const size = s[s.length - 1];
  if (size !== 16 && size !== 28) throw new FlowGpuError(`${where}: images are ${size}×${size}; flowgpu's MNIST classifier judges 16×16 and 28×28`);
  const px = a.data as Float32Array;
  for (let i = 0; i < px.length; i++) {
    if (!(px[i] >= 0 && px[i] <= 1)) {
      throw new FlowGpuError(`${where}: image ${Math.floor(i / (size * size))} has the value ${px[i]}; pixels must be in [0, 1] (write samples as (x + 1)/2, clamped)`);
    }
  }
  return { pixels: px, n: s[0], size };
}

/** Class labels from a .npy: int32 [n], digits 0…9. */
export function digitLabelsFrom(a: NpyArray, n: number, where = 'labels'): Int32Array {
  if (a.dtype !== 'int32' || a.shape.length !== 1 || a.shape[0] !== n) {
    throw new FlowGpuError(`${where}: expected int32 labels [${n}], got ${a.dtype} [${a.shape.join(', ')}]`);
  }
  const bad = (a.data as Int32Array).findIndex((v) => v < 0 || v > 9);
  if (bad >= 0) throw new FlowGpuError(`${where}: label ${bad} is ${a.data[bad]}, not a digit 0…9`);
  return a.data as Int32Array;
}
