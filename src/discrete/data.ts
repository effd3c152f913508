/**
 * Token data for discrete flow matching: the 2-D discrete checkerboard and discrete moons of
 * flow_matching's `2d_discrete_flow_matching` notebook (K = 128, d = 2), the checkerboard's pmf, a
 * training data source of fresh token batches, and images as tokens (intensities quantised to K gray
 * levels, e.g. MNIST 16×16: d = 256) with a data source of labelled token batches.
 */
import { EpochSampler, imagePixels, type ImageSet } from '../data/images.js';
import { toyBatchSeed } from '../data/toy.js';
import { FlowGpuError } from '../gpu/errors.js';
import { HostRng } from '../nn/module.js';
import { tensor, type Tensor } from '../tensor/tensor.js';

/** The categories of the 2-D token data sets. */
export const TOKEN_2D_CATEGORIES = 128;

/** A 2-D token data set's name. */
export type Token2DName = 'checkerboard' | 'moons';

const rngOf = (seed: number | HostRng) => (typeof seed === 'number' ? new HostRng(seed) : seed);

function count(n: number, what: string): void {
  if (!(Number.isInteger(n) && n >= 0)) throw new FlowGpuError(`${what}: the number of samples must be a non-negative integer, got ${n}`);
}

/**
 * The discrete checkerboard exactly as the notebook builds it: x1 = randint(0, 128),
 * s = randint(0, 32), x2 = s + 64 − 64·randint(0, 2) + 32·(⌊x1/32⌋ mod 2): 8192 equally likely cells.
 * Returns i32 [n, 2] row-major.
 */
export function discreteCheckerboard(n: number, seed: number | HostRng = 0): Int32Array {
  count(n, 'discrete checkerboard');
  const rng = rngOf(seed);
  const out = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const x1 = rng.int(128);
    const s = rng.int(32);
    out[2 * i] = x1;
    out[2 * i + 1] = s + 64 - 64 * rng.int(2) + 32 * (Math.floor(x1 / 32) % 2);
  }
  return out;
}

/** Discrete moons: make_moons (noise 0.05) ×35 + 50, rounded and clipped to [0, 127]. i32 [n, 2]. */
export function discreteMoons(n: number, seed: number | HostRng = 0): Int32Array {
  count(n, 'discrete moons');
  const rng = rngOf(seed);
  const out = new Int32Array(2 * n);
  const q = (v: number) => Math.min(127, Math.max(0, Math.round(v * 35 + 50)));
  for (let i = 0; i < n; i++) {
    const a = Math.PI * rng.uniform();
    const outer = rng.uniform() < 0.5;
    out[2 * i] = q((outer ? Math.cos(a) : 1 - Math.cos(a)) + 0.05 * rng.normal());
    out[2 * i + 1] = q((outer ? Math.sin(a) : 0.5 - Math.sin(a)) + 0.05 * rng.normal());
  }
  return out;
}

/** The checkerboard's pmf over the 128×128 cells, [x1·128 + x2]: 1/8192 on the support, else 0. */
export function checkerboardPmf(): Float64Array {
  const p = new Float64Array(128 * 128);
  for (let a = 0; a < 128; a++) {
    for (let b = 0; b < 128; b++) {
      // x2 − 32·(⌊a/32⌋ mod 2) ∈ [0, 32) or [64, 96)
      const r = b - 32 * (Math.floor(a / 32) % 2);
      if ((r >= 0 && r < 32) || (r >= 64 && r < 96)) p[a * 128 + b] = 1 / 8192;
    }
  }
  return p;
}

/** Samples of a 2-D token data set by name, i32 [n, 2]. */
export function sampleTokens2D(name: string, n: number, seed: number | HostRng = 0): Int32Array {
  if (name === 'checkerboard') return discreteCheckerboard(n, seed);
  if (name === 'moons') return discreteMoons(n, seed);
  throw new FlowGpuError(`unknown discrete 2-D data set '${name}': choose checkerboard or moons`);
}

/**
 * A training data source of fresh 2-D token batches (i32 [batch, 2]): the batch of step s comes from
 * a generator seeded by (seed, s), so a resumed run replays it.
 */
export function tokenBatches(name: string, batch: number, seed = 0): { batch(step: number): { x1: Tensor } } {
  sampleTokens2D(name, 0);
  count(batch, 'token batches');
  return { batch: (step) => ({ x1: tensor(sampleTokens2D(name, batch, toyBatchSeed(seed, step)), [batch, 2], 'i32') }) };
}

// ------------------------------------------------------------------ images as tokens

function checkLevels(levels: number): void {
  if (!(Number.isInteger(levels) && levels >= 2 && levels <= 256)) {
    throw new FlowGpuError(`token images: the gray levels K must be an integer in 2…256, got ${levels}`);
  }
}

/**
 * Pixel intensities p ∈ [0, 1] → gray levels round(p·(K − 1)) ∈ {0 … K−1} (the nearest of the K
 * levels k/(K − 1); halves round up). A value outside [0, 1] or NaN is an error naming it.
 */
export function quantizeLevels(pixels: ArrayLike<number>, levels: number): Int32Array {
  checkLevels(levels);
  const out = new Int32Array(pixels.length);
  for (let i = 0; i < out.length; i++) {
    const p = pixels[i];
    if (!(p >= 0 && p <= 1)) throw new FlowGpuError(`token images: pixel ${i} is ${p}; intensities must be in [0, 1]`);
    out[i] = Math.round(p * (levels - 1));
  }
  return out;
}

/** Gray levels k ∈ {0 … K−1} → intensities k/(K − 1) ∈ [0, 1] (what the judge and the pictures read). */
export function dequantizeLevels(tokens: ArrayLike<number>, levels: number): Float32Array {
  checkLevels(levels);
  const out = new Float32Array(tokens.length);
  for (let i = 0; i < out.length; i++) {
    const k = tokens[i];
    if (!(Number.isInteger(k) && k >= 0 && k < levels)) throw new FlowGpuError(`token images: token ${i} is ${k}, not a gray level 0…${levels - 1}`);
    out[i] = k / (levels - 1);
  }
  return out;
}

/** An image set as token sequences: each image's C·H·W pixels quantised to K gray levels. */
export interface TokenImages {
  count: number;
  /** Tokens per image d = C·H·W. */
  length: number;
  /** Gray levels K (the categories). */
  levels: number;
  /** [count, C, H, W] of one image: [C, H, W]. */
  shape: number[];
  /** i32 [count·d], row-major. */
  tokens: Int32Array;
  /** Class of each image (null: unlabelled) and the class count. */
  labels: Int32Array | null;
  classes: number;
}

/** Quantises an image set (`data.imageSet`, `data.mnistImageSet`) to K gray levels. */
export function tokenImages(set: ImageSet, levels: number): TokenImages {
  const length = set.channels * set.height * set.width;
  return {
    count: set.count, length, levels, shape: [set.channels, set.height, set.width],
    tokens: quantizeLevels(imagePixels(set), levels), labels: set.labels, classes: set.classes,
  };
}

/**
 * A training data source of token images (the Trainer's DataSource): batch s holds the images of
 * EpochSampler batch s (a seeded shuffle per epoch, the last partial batch dropped) as i32 tokens
 * [batch, d] and, for a labelled set, their labels i32 [batch]. A function of (seed, s) alone, so a
 * resumed run replays it; label dropout is the Trainer's (`labelDropout`).
 */
export function tokenImageBatches(images: TokenImages, batch: number, seed = 0): { batch(step: number): { x1: Tensor; labels?: Tensor } } {
  const sampler = new EpochSampler(images.count, batch, seed);
  const d = images.length;
  return {
    batch: (step) => {
      const rows = sampler.batchAt(step);
      const x = new Int32Array(rows.length * d);
      rows.forEach((r, i) => x.set(images.tokens.subarray(r * d, (r + 1) * d), i * d));
      const x1 = tensor(x, [rows.length, d], 'i32');
      return images.labels ? { x1, labels: tensor(Int32Array.from(rows, (r) => images.labels![r]), [rows.length], 'i32') } : { x1 };
    },
  };
}
