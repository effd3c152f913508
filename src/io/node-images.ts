/**
 * Node-only: a training image set from files (`readImages`), checked and ready for
 * `data.ImageDataset`.
 *
 *   DIR/                 PNG files, all one size and one channel count (gray or RGB; see
 *                        src/io/png-decode.ts for what else is converted), in file-name order
 *                        (code-point order, as Python's sorted()); labels from DIR/labels.npy
 *                        (one per PNG, in that order) when it exists
 *   DIR/<class>/*.png    one sub-folder per class: the sorted folder names are classes 0, 1, …
 *   X.npy                [N, C, H, W] (or [N, H, W] for gray) of uint8 0…255 or float32 in [0, 1]
 *                        (int32 0…255 is read as bytes); labels from X.labels.npy when it exists
 *   X (IDX)              unsigned-byte IDX [N, H, W] or [N, C, H, W] (MNIST's format)
 *
 * `labels` (a file) overrides the labels found beside the data: a .npy of N integers (int32, uint8,
 * or float32 holding integers) or an IDX file [N]. Every fault is a FlowGpuError that names the file
 * (two files when they disagree) and says how to fix it.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { FlowGpuError } from '../gpu/errors.js';
import { imageSet, type ImageSet } from '../data/images.js';
import { parseIdx } from '../data/mnist.js';
import { decodeNpy, type NpyArray } from './npy.js';
import { decodePng } from './png-decode.js';
import { labelsPath, readFileBytes } from './node-files.js';

/** An image set read from files, with where it came from. */
export interface ImageFiles extends ImageSet {
  /** The class names of a folder of class sub-folders (index = label); null otherwise. */
  classNames: string[] | null;
  /** The PNG files of a folder, in the order of the images; null for array files. */
  files: string[] | null;
  /** The file the labels came from (null: no file; a folder's sub-folders or no labels). */
  labelsFile: string | null;
}

/** Options of `readImages`: a labels file overriding the one found beside the data. */
export interface ReadImagesOptions {
  labels?: string;
}

const isIdx = (b: Uint8Array) => b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] === 0x08;
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const CHANNEL_NAMES: Record<number, string> = { 1: 'gray', 3: 'RGB' };

/** Reads a training image set from a folder of PNGs, an .npy or an IDX file (see the file comment). */
export function readImages(path: string, o: ReadImagesOptions = {}): ImageFiles {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new FlowGpuError(`${path}: no such file or folder (give a folder of PNG images, an .npy [N, C, H, W] or an IDX file)`);
  }
  const r = st.isDirectory() ? readPngFolder(path) : readImageArray(path);
  let labels = r.labels;
  let labelsFile = r.labelsFile;
  if (o.labels) {
    if (r.classNames) throw new FlowGpuError(`${path}: the class sub-folders already label the images; give --labels only for a flat folder or an array file`);
    labels = readLabels(o.labels);
    labelsFile = o.labels;
  }
  const what = labelsFile ? `${path} with the labels of ${labelsFile}` : path;
  const set = imageSet(r.pixels, r.shape, { labels, classes: r.classNames?.length, what });
  return { ...set, classNames: r.classNames, files: r.files, labelsFile };
}

interface RawImages {
  pixels: Uint8Array | Float32Array;
  shape: number[];
  labels: ArrayLike<number> | null;
  labelsFile: string | null;
  classNames: string[] | null;
  files: string[] | null;
}

const LABELS_NPY = 'labels.npy';

/** A folder: flat PNGs (+ labels.npy), or one sub-folder of PNGs per class. */
function readPngFolder(dir: string): RawImages {
  const entries = readdirSync(dir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.')).sort((a, b) => byName(a.name, b.name));
  const pngs = entries.filter((e) => e.isFile() && /\.png$/i.test(e.name)).map((e) => join(dir, e.name));
  const subdirs = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  if (pngs.length && subdirs.length) {
    throw new FlowGpuError(
      `${dir}: holds both PNG files (${basename(pngs[0])}, …) and sub-folders (${subdirs[0]}, …): put every image in a class sub-folder, ` +
        `or move the sub-folders out for an unlabelled set`,
    );
  }
  if (subdirs.length) {
    const files: string[] = [];
    const labels: number[] = [];
    subdirs.forEach((name, k) => {
      const sub = join(dir, name);
      const inside = readdirSync(sub).filter((f) => !f.startsWith('.') && /\.png$/i.test(f)).sort(byName);
      if (!inside.length) throw new FlowGpuError(`${sub}: the class folder '${name}' holds no PNG images: add some or remove the folder`);
      for (const f of inside) {
        files.push(join(sub, f));
        labels.push(k);
      }
    });
    return { ...decodeAll(files), labels, labelsFile: null, classNames: subdirs, files };
  }
  if (!pngs.length) {
    const others = entries.filter((e) => e.isFile() && /\.(jpe?g|gif|bmp|webp|tiff?)$/i.test(e.name));
    const hint = others.length ? ` (it has ${others.length} ${extname(others[0].name).slice(1).toUpperCase()} file(s): convert them to PNG)` : '';
    throw new FlowGpuError(`${dir}: no PNG images${hint}; give a folder of .png files (or of class sub-folders of them), an .npy or an IDX file`);
  }
  const lf = join(dir, LABELS_NPY);
  const hasLabels = entries.some((e) => e.isFile() && e.name === LABELS_NPY);
  return { ...decodeAll(pngs), labels: hasLabels ? readLabels(lf) : null, labelsFile: hasLabels ? lf : null, classNames: null, files: pngs };
}

/** Decodes PNG files that must share one size and channel count. */
function decodeAll(files: string[]): { pixels: Uint8Array; shape: number[] } {
  const first = decodePng(readFileBytes(files[0]), files[0]);
  const { width, height, channels } = first;
  const d = width * height * channels;
  const pixels = new Uint8Array(files.length * d);
  files.forEach((f, i) => {
    const img = i === 0 ? first : decodePng(readFileBytes(f), f);
    if (img.width !== width || img.height !== height || img.channels !== channels) {
      const desc = (m: { width: number; height: number; channels: number }) => `${m.width}×${m.height} ${CHANNEL_NAMES[m.channels] ?? `${m.channels}-channel`}`;
      throw new FlowGpuError(
        `${f} is ${desc(img)} but ${files[0]} is ${desc(first)}: all images must have one size and one channel count ` +
          `(resize or convert them first, e.g. ImageMagick: mogrify -resize ${width}x${height}! ${channels === 1 ? '-colorspace Gray ' : '-type TrueColor '}*.png)`,
      );
    }
    // decodePng gives row-major pixels with interleaved channels: store planar [C, H, W]
    const at = i * d;
    if (channels === 1) pixels.set(img.pixels, at);
    else for (let p = 0; p < width * height; p++) for (let c = 0; c < channels; c++) pixels[at + c * width * height + p] = img.pixels[p * channels + c];
  });
  return { pixels, shape: [files.length, channels, height, width] };
}

/** An .npy or IDX file of images. */
function readImageArray(path: string): RawImages {
  const bytes = readFileBytes(path);
  if (isIdx(bytes)) {
    const a = parseIdx(bytes, path);
    if (a.dims.length !== 3 && a.dims.length !== 4) {
      throw new FlowGpuError(`${path}: an IDX file of images is [N, H, W] or [N, C, H, W], this one is [${a.dims.join(', ')}] (a labels file goes to --labels)`);
    }
    const shape = a.dims.length === 3 ? [a.dims[0], 1, a.dims[1], a.dims[2]] : a.dims;
    return { pixels: a.data, shape, labels: null, labelsFile: null, classNames: null, files: null };
  }
  if (!/\.npy$/i.test(path)) {
    throw new FlowGpuError(`${path}: not a folder, an .npy file or an IDX file; images are read from a folder of PNGs, an .npy [N, C, H, W] or an IDX file`);
  }
  const a = decodeNpy(bytes, path);
  const s = a.shape;
  if (s.length === 4 && [1, 3, 4].includes(s[3]) && ![1, 3, 4].includes(s[1])) {
    throw new FlowGpuError(`${path}: the shape [${s.join(', ')}] looks channels-last (N, H, W, C); flowgpu reads [N, C, H, W]: save np.transpose(a, (0, 3, 1, 2))`);
  }
  if (s.length !== 3 && s.length !== 4) {
    throw new FlowGpuError(`${path}: images must be an array [N, C, H, W] (or [N, H, W] for gray), got [${s.join(', ')}]: reshape it first`);
  }
  const shape = s.length === 3 ? [s[0], 1, s[1], s[2]] : s;
  const lp = labelsPath(path);
  let labels: ArrayLike<number> | null = null;
  let labelsFile: string | null = null;
  try {
    if (statSync(lp).isFile()) [labels, labelsFile] = [readLabels(lp), lp];
  } catch (e) {
    if (e instanceof FlowGpuError) throw e;
  }
  return { pixels: arrayPixels(a, path), shape, labels, labelsFile, classNames: null, files: null };
}

/** uint8 as bytes; int32 as bytes when within 0…255; float32 as intensities (checked by imageSet). */
function arrayPixels(a: NpyArray, path: string): Uint8Array | Float32Array {
  if (a.data instanceof Uint8Array || a.data instanceof Float32Array) return a.data;
  const bad = a.data.findIndex((v) => v < 0 || v > 255);
  if (bad >= 0) throw new FlowGpuError(`${path}: int32 pixel ${bad} is ${a.data[bad]}; integer images must hold bytes 0…255 (or save float32 intensities in [0, 1])`);
  return Uint8Array.from(a.data);
}

/** Class labels from a .npy ([N] or [N, 1]: int32, uint8, or float32 holding integers) or an IDX file [N]. */
export function readLabels(path: string): number[] {
  const bytes = readFileBytes(path);
  let values: ArrayLike<number>;
  let shape: number[];
  if (isIdx(bytes)) {
    const a = parseIdx(bytes, path);
    [values, shape] = [a.data, a.dims];
  } else {
    const a = decodeNpy(bytes, path);
    [values, shape] = [a.data, a.shape];
  }
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    throw new FlowGpuError(`${path}: labels must be a vector [N] of class numbers, got an array [${shape.join(', ')}]`);
  }
  const out = Array.from(values);
  const bad = out.findIndex((v) => !(Number.isInteger(v) && v >= 0));
  if (bad >= 0) throw new FlowGpuError(`${path}: label ${bad} is ${out[bad]}; labels must be class numbers 0, 1, 2, … (integers)`);
  return out;
}
