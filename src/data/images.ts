/**
 * Image sets as training data (browser-safe): host images [N, C, H, W] checked once (`imageSet`),
 * optional class labels, subsets for a held-out split, and `ImageDataset`, the images resident on
 * the GPU with mini-batches gathered there — a Trainer DataSource. MNIST is one of these
 * (src/data/mnist.ts's `MnistDataset` builds its image set from the IDX files).
 *
 * Pixels. An image set holds either bytes 0…255 (8-bit PNGs, uint8 arrays, IDX files) or
 * intensities p ∈ [0, 1] (float arrays). The model sees x = 2p − 1 ∈ [−1, 1], with p = byte/255 for
 * bytes; samples go back with p = clamp((x + 1)/2, 0, 1) (`modelToPixels`) and, for 8-bit output,
 * byte = round(255·p), which gives every byte back exactly (`modelToBytes`).
 *
 * GPU residence. Bytes are uploaded as they are, packed four per word (a quarter of the f32 size:
 * 60 000 MNIST images take 47 MB rather than 188 MB, over the 128 MiB storage-binding limit of many
 * adapters) and scaled to [−1, 1] as they are gathered (kernels/dataset.wgsl); float images are
 * uploaded once as f32 in model space and gathered with the layout family's gather_rows. Batch s of
 * `batches(batch, seed)` holds the images of EpochSampler batch s (a seeded shuffle per epoch), so
 * it depends on the step alone and a resumed run sees the same data; the per-step uploads are the
 * B indices and the B labels.
 */
import datasetSrc from '../../kernels/dataset.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { HostRng } from '../nn/module.js';
import { gatherRowsRaw, kernel, registerKernel } from '../tensor/primitives.js';
import { empty, gpu, keep, run, tensor, type Tensor } from '../tensor/tensor.js';

registerKernel('dataset', datasetSrc);

/** p ∈ [0, 1] → the model's x = 2p − 1. */
export const pixelToModel = (p: number): number => 2 * p - 1;
/** The model's x → p = clamp((x + 1)/2, 0, 1), for .npy and PNG output. */
export function modelToPixels(x: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.min(1, Math.max(0, (x[i] + 1) / 2));
  return out;
}
/** The model's x → bytes round(255·p), p = clamp((x + 1)/2, 0, 1) (a NaN gives 0). */
export function modelToBytes(x: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = Math.min(1, Math.max(0, (x[i] + 1) / 2));
    out[i] = Number.isNaN(p) ? 0 : Math.round(255 * p);
  }
  return out;
}

// ------------------------------------------------------------------ batches

/**
 * Seeded shuffling for mini-batches: epoch e visits a permutation of 0…count−1 drawn from
 * HostRng(seed, e) (Fisher–Yates) in consecutive batches; the last partial batch of an epoch is
 * dropped, so every batch has `batchSize` rows. The permutation depends only on (seed, epoch), so
 * `seek(step)` resumes a run exactly.
 */
export class EpochSampler {
  readonly batchesPerEpoch: number;
  private perm: Int32Array | null = null;
  private epochOfPerm = -1;
  /** Batches handed out so far. */
  step = 0;

  constructor(
    readonly count: number,
    readonly batchSize: number,
    readonly seed = 0,
  ) {
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new FlowGpuError(`batch size must be a positive integer, got ${batchSize}`);
    if (batchSize > count) throw new FlowGpuError(`batch size ${batchSize} exceeds the ${count} examples of the dataset`);
    this.batchesPerEpoch = Math.floor(count / batchSize);
  }

  get epoch(): number {
    return Math.floor(this.step / this.batchesPerEpoch);
  }

  /** The permutation of epoch e. */
  permutation(e: number): Int32Array {
    if (this.perm && this.epochOfPerm === e) return this.perm;
    const rng = new HostRng((Math.imul(this.seed >>> 0, 0x85ebca6b) ^ Math.imul(e + 1, 0xc2b2ae35)) >>> 0);
    const p = new Int32Array(this.count);
    for (let i = 0; i < p.length; i++) p[i] = i;
    for (let i = p.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    this.perm = p;
    this.epochOfPerm = e;
    return p;
  }

  /** The indices of the next batch. */
  next(): Int32Array {
    return this.batchAt(this.step++);
  }

  /** The indices of batch `step` (of the whole run), whatever was drawn before. */
  batchAt(step: number): Int32Array {
    const at = (step % this.batchesPerEpoch) * this.batchSize;
    return this.permutation(Math.floor(step / this.batchesPerEpoch)).slice(at, at + this.batchSize);
  }

  seek(step: number): void {
    this.step = step;
  }
}

/** Replaces each label by `nullClass` with probability p (host side, seeded): label dropout. */
export function dropLabelsHost(labels: ArrayLike<number>, p: number, nullClass: number, rng: HostRng): Int32Array {
  if (!(p >= 0 && p <= 1)) throw new FlowGpuError(`label dropout probability must be in [0, 1], got ${p}`);
  const out = new Int32Array(labels.length);
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform() < p ? nullClass : labels[i];
  return out;
}

// ------------------------------------------------------------------ image sets on the host

/** Images on the host, [count, channels, height, width] in C order, with optional class labels. */
export interface ImageSet {
  count: number;
  channels: number;
  height: number;
  width: number;
  /** Bytes 0…255, or intensities in [0, 1]. */
  pixels: Uint8Array | Float32Array;
  /** Class of each image, 0…classes−1 (null: unlabelled). */
  labels: Int32Array | null;
  /** Number of classes (0 when unlabelled). */
  classes: number;
}

/** Options of `imageSet`: labels, their class count, and the name errors start with. */
export interface ImageSetOptions {
  /** One class per image: integers 0…classes−1. */
  labels?: ArrayLike<number> | null;
  /** Number of classes (default: the largest label + 1). */
  classes?: number;
  /** Names the data in errors (a file or folder). */
  what?: string;
}

/**
 * A checked image set from pixels [count·C·H·W] of `shape` [count, C, H, W]: bytes 0…255, or floats
 * that must be finite and in [0, 1] (the first bad image is named); labels, when given, one integer
 * 0…classes−1 per image.
 */
export function imageSet(pixels: Uint8Array | Float32Array, shape: readonly number[], o: ImageSetOptions = {}): ImageSet {
  const what = o.what ?? 'images';
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new FlowGpuError(`${what}: images must have a shape [N, C, H, W], got [${shape.join(', ')}]`);
  }
  const [count, channels, height, width] = shape;
  if (count < 1) throw new FlowGpuError(`${what}: no images`);
  if (channels < 1 || height < 1 || width < 1) throw new FlowGpuError(`${what}: empty images [${channels}, ${height}, ${width}] (channels, height, width)`);
  const d = channels * height * width;
  if (pixels.length !== count * d) throw new FlowGpuError(`${what}: ${pixels.length} values are not ${count} images of ${channels}×${height}×${width}`);
  if (pixels instanceof Float32Array) {
    const bad = pixels.findIndex((v) => !(v >= 0 && v <= 1));
    if (bad >= 0) {
      throw new FlowGpuError(
        `${what}: image ${Math.floor(bad / d)} has the value ${pixels[bad]}; float images must hold intensities in [0, 1] ` +
          `(divide 8-bit values by 255, or store them as uint8)`,
      );
    }
  }
  let labels: Int32Array | null = null;
  let classes = 0;
  if (o.labels) {
    if (o.labels.length !== count) throw new FlowGpuError(`${what}: ${o.labels.length} labels for ${count} images: give one label per image`);
    labels = new Int32Array(count);
    let top = -1;
    for (let i = 0; i < count; i++) {
      const v = o.labels[i];
      if (!(Number.isInteger(v) && v >= 0 && v < 2 ** 31)) {
        throw new FlowGpuError(`${what}: the label of image ${i} is ${v}; labels must be class numbers 0, 1, 2, … (integers)`);
      }
      labels[i] = v;
      top = Math.max(top, v);
    }
    classes = o.classes ?? top + 1;
    if (!(Number.isInteger(classes) && classes >= 1)) throw new FlowGpuError(`${what}: the class count must be a positive integer, got ${classes}`);
    if (top >= classes) {
      const i = labels.findIndex((v) => v >= classes);
      throw new FlowGpuError(`${what}: the label of image ${i} is ${labels[i]}, outside the ${classes} classes 0…${classes - 1}`);
    }
  } else if (o.classes) {
    throw new FlowGpuError(`${what}: a class count (${o.classes}) without labels`);
  }
  return { count, channels, height, width, pixels, labels, classes };
}

/** The images `idx` of a set (a held-out split: pair it with `holdoutSplit`). */
export function pickImages(s: ImageSet, idx: ArrayLike<number>): ImageSet {
  const d = s.channels * s.height * s.width;
  const pixels = s.pixels instanceof Uint8Array ? new Uint8Array(idx.length * d) : new Float32Array(idx.length * d);
  const labels = s.labels ? new Int32Array(idx.length) : null;
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i];
    if (!(Number.isInteger(k) && k >= 0 && k < s.count)) throw new FlowGpuError(`pickImages: index ${k} is outside 0…${s.count - 1}`);
    pixels.set(s.pixels.subarray(k * d, (k + 1) * d), i * d);
    if (labels) labels[i] = s.labels![k];
  }
  return { ...s, count: idx.length, pixels, labels };
}

/** Pixel intensities p ∈ [0, 1] of a set, [count·C·H·W] (bytes / 255). */
export function imagePixels(s: ImageSet): Float32Array {
  return s.pixels instanceof Float32Array ? s.pixels : Float32Array.from(s.pixels, (b) => b / 255);
}

/** A set in model space, x = 2p − 1 ∈ [−1, 1], [count·C·H·W]. */
export function imagesToModel(s: ImageSet): Float32Array {
  return s.pixels instanceof Float32Array ? Float32Array.from(s.pixels, pixelToModel) : Float32Array.from(s.pixels, (b) => pixelToModel(b / 255));
}

// ------------------------------------------------------------------ on the GPU

const WG = 256;

/** What `ImageDataset.batches` yields for a step (a Trainer TrainBatch): images, and labels when the set has them. */
export interface ImageBatch {
  x1: Tensor;
  labels?: Tensor;
  /** Paired source images (`pairs`): row i flows to row i of x1. */
  x0?: Tensor;
  /** A batch of a source image set (`source`), re-paired by the Trainer's coupling. */
  source?: Tensor;
}

/** An image set resident on the GPU, in model space; batches are gathered there (see the file comment). */
export class ImageDataset {
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Classes of the labels (0: unlabelled). */
  readonly classes: number;
  /** Host copy of the labels (null: unlabelled). */
  readonly labels: Int32Array | null;
  /** Names the data in errors. */
  protected readonly what: string;
  /** Bytes packed four per i32 word, or f32 [count, C·H·W] in model space. */
  private bytes: Tensor | null = null;
  private table: Tensor | null = null;

  constructor(set: ImageSet, what = 'images') {
    ({ count: this.count, channels: this.channels, height: this.height, width: this.width, classes: this.classes, labels: this.labels } = set);
    this.what = what;
    const d = this.channels * this.height * this.width;
    const isBytes = set.pixels instanceof Uint8Array;
    const need = this.count * d * (isBytes ? 1 : 4);
    const most = gpu().limits.maxStorageBufferBindingSize ?? 134217728;
    if (need > most) {
      const fit = Math.floor(most / (d * (isBytes ? 1 : 4)));
      throw new FlowGpuError(
        `${what}: ${this.count} images of ${this.channels}×${this.height}×${this.width} take ${(need / 2 ** 20).toFixed(0)} MiB on the GPU` +
          `${isBytes ? '' : ' as float32'}; this adapter binds at most ${(most / 2 ** 20).toFixed(0)} MiB: use at most ${fit} images${isBytes ? '' : ', or 8-bit pixels (a quarter of the size)'}`,
      );
    }
    if (set.pixels instanceof Uint8Array) {
      const padded = new Uint8Array(Math.ceil((this.count * d) / 4) * 4);
      padded.set(set.pixels.subarray(0, this.count * d));
      this.bytes = keep(tensor(new Int32Array(padded.buffer), [padded.length / 4], 'i32'));
    } else {
      this.table = keep(tensor(Float32Array.from(set.pixels.subarray(0, this.count * d), pixelToModel), [this.count, d]));
    }
  }

  /** The shape of one image, [C, H, W] (a network's sampleShape). */
  get sampleShape(): number[] {
    return [this.channels, this.height, this.width];
  }

  /** Images idx (i32 [B], on the GPU) → [B, C, H, W] in model space. A bad index gives NaNs. */
  gather(idx: Tensor): Tensor {
    if (idx.dtype !== 'i32' || idx.rank !== 1) throw new FlowGpuError(`${this.what} gather: indices must be i32 [B], got ${idx.dtype}[${idx.shape.join(', ')}]`);
    if (!this.bytes && !this.table) throw new FlowGpuError(`${this.what}: the dataset was used after dispose()`);
    const b = idx.shape[0];
    const shape = [b, this.channels, this.height, this.width];
    if (this.table) {
      const rows = gatherRowsRaw(this.table, idx);
      const out = rows.view(shape);
      rows.dispose();
      return out;
    }
    const y = empty(shape);
    if (y.size === 0) return y;
    run(kernel('dataset'), 'gather_u8_rows', {
      inputs: { bytes: this.bytes!, idx },
      outputs: { y },
      params: { n: b, d: this.channels * this.height * this.width, v: this.count, a: 2 / 255, b: -1 },
      workgroups: gpu().grid(y.size, WG),
      label: 'image_gather',
    });
    return y;
  }

  /**
   * The batch of the given indices: images [B, C, H, W] gathered on the GPU and, when the set is
   * labelled, labels i32 [B] (with label dropout to `nullClass` when asked). Uploads 2·B words.
   */
  batch(indices: Int32Array, o: { labelDropout?: number; nullClass?: number; rng?: HostRng } = {}): { x: Tensor; labels?: Tensor } {
    for (const i of indices) {
      if (!(Number.isInteger(i) && i >= 0 && i < this.count)) throw new FlowGpuError(`${this.what} batch: index ${i} is outside 0…${this.count - 1}`);
    }
    const idx = tensor(indices, [indices.length], 'i32');
    const x = this.gather(idx);
    idx.dispose();
    if (!this.labels) return { x };
    let lab: Int32Array = Int32Array.from(indices, (i) => this.labels![i]);
    if (o.labelDropout) {
      if (o.nullClass === undefined || !o.rng) throw new FlowGpuError(`${this.what} batch: label dropout needs nullClass and rng`);
      lab = dropLabelsHost(lab, o.labelDropout, o.nullClass, o.rng);
    }
    return { x, labels: tensor(lab, [lab.length], 'i32') };
  }

  /**
   * A training data source (the trainer's DataSource): batch s holds the images of EpochSampler
   * batch s (seeded shuffles per epoch, last partial batch dropped) with their labels. With
   * `pairs` (a set of the same count and shape) each batch also holds the same rows of it as x0
   * (a paired flow); with `source` (a set of the same shape) a batch of it drawn by its own
   * shuffle (a data-to-data flow). Disposing the source disposes the datasets.
   */
  batches(batch: number, seed = 0, o: { pairs?: ImageDataset; source?: ImageDataset } = {}): { batch(step: number): ImageBatch; dispose(): void } {
    if (!(Number.isInteger(batch) && batch >= 1)) throw new FlowGpuError(`the batch size must be a positive integer, got ${batch}`);
    if (batch > this.count) throw new FlowGpuError(`${this.what}: the batch (${batch}) is larger than the ${this.count} training images: use a batch ≤ ${this.count}, or more images`);
    const other = o.pairs ?? o.source;
    if (o.pairs && o.source) throw new FlowGpuError(`${this.what}: give paired images or a source set, not both`);
    if (other && other.sampleShape.join() !== this.sampleShape.join()) {
      throw new FlowGpuError(`${other.what} holds ${other.sampleShape.join('×')} images and ${this.what} ${this.sampleShape.join('×')}: a flow maps between images of one shape (resize one set)`);
    }
    if (o.pairs && o.pairs.count !== this.count) {
      throw new FlowGpuError(`${o.pairs.what} has ${o.pairs.count} images and ${this.what} ${this.count}: pairs need the same count (image i of one goes with image i of the other)`);
    }
    if (o.source && batch > o.source.count) throw new FlowGpuError(`${o.source.what}: the batch (${batch}) is larger than its ${o.source.count} images: use a batch ≤ ${o.source.count}`);
    const sampler = new EpochSampler(this.count, batch, seed);
    const srcSampler = o.source ? new EpochSampler(o.source.count, batch, (seed ^ 0x3c6ef372) >>> 0) : null;
    return {
      batch: (step) => {
        const rows = sampler.batchAt(step);
        const { x, labels } = this.batch(rows);
        const b: ImageBatch = labels ? { x1: x, labels } : { x1: x };
        const images = (set: ImageDataset, idx: Int32Array) => {
          const r = set.batch(idx);
          r.labels?.dispose(); // the data's labels condition the flow, not the source's
          return r.x;
        };
        if (o.pairs) b.x0 = images(o.pairs, rows);
        if (o.source && srcSampler) b.source = images(o.source, srcSampler.batchAt(step));
        return b;
      },
      dispose: () => {
        this.dispose();
        other?.dispose();
      },
    };
  }

  dispose(): void {
    this.bytes?.dispose();
    this.table?.dispose();
    this.bytes = this.table = null;
  }
}
