/**
 * Node-only file helpers (fs, zlib, path): atomic writes and typed readers/writers for the pure
 * encoders in this folder. Not part of the browser bundle; exported from src/node.ts.
 *
 * Atomic write: the bytes go to a temporary file in the destination's directory (same file
 * system, so the rename cannot degrade into a copy), which is fsync'ed, then renamed over the
 * destination, and the directory is fsync'ed (best effort) so the rename itself is durable. A
 * crash leaves either the old file or the new one, never a torn one.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { FlowGpuError } from '../gpu/errors.js';
import { checkPoints, parseCsv } from '../data/points.js';
import { MODEL_FILE } from '../train/state.js';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointContents, type DecodedCheckpoint } from './checkpoint.js';
import { loadModel, type LoadedModel, type LoadModelOptions } from './models.js';
import { decodeNpy, encodeNpy, type NpyArray } from './npy.js';
import { encodePng, type RasterImage } from './png.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor, type SafetensorsFile } from './safetensors.js';

let tmpCounter = 0;

/** Writes `bytes` to `path` atomically (temp file in the same directory + fsync + rename). */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}${(tmpCounter++).toString(36)}.tmp`);
  let fd = -1;
  try {
    mkdirSync(dir, { recursive: true });
    fd = openSync(tmp, 'wx', 0o644);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already renamed or never created */
    }
    throw new FlowGpuError(`could not write ${path}: ${(e as Error).message}`);
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* some file systems do not allow fsync on directories; the data itself is synced */
  }
}

/** Reads a whole file, with a plain message when it is missing or unreadable. */
export function readFileBytes(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FlowGpuError(`${path}: no such file`);
    if (code === 'EISDIR') throw new FlowGpuError(`${path}: is a directory, not a file`);
    throw new FlowGpuError(`could not read ${path}: ${(e as Error).message}`);
  }
}

/** node:zlib deflate for encodePng (level 6: plots compress ≈20–100× at a few ms each). */
export function zlibDeflate(raw: Uint8Array): Uint8Array {
  const b = deflateSync(raw, { level: 6 });
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Writes an image as a zlib-compressed PNG file, atomically (Node). */
export function writePng(path: string, img: RasterImage): void {
  writeFileAtomic(path, encodePng(img, zlibDeflate));
}

/** Writes float32 or int32 data of `shape` as a .npy file, atomically (Node). */
export function writeNpy(path: string, data: Float32Array | Int32Array, shape: readonly number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}

/** Reads a float32 or int32 .npy file (Node). */
export function readNpy(path: string): NpyArray {
  return decodeNpy(readFileBytes(path), path);
}

/** Writes named tensors and metadata as a .safetensors file, atomically (Node). */
export function writeSafetensors(path: string, tensors: readonly NamedTensor[], metadata: Record<string, string> | null = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Reads and validates a .safetensors file (Node). */
export function readSafetensors(path: string): SafetensorsFile {
  return decodeSafetensors(readFileBytes(path), path);
}

/** Writes tensors, config and training state as a checkpoint file, atomically (Node). */
export function writeCheckpoint(path: string, c: CheckpointContents): void {
  writeFileAtomic(path, encodeCheckpoint(c));
}

/** Reads a checkpoint file and parses its config and training state (Node). */
export function readCheckpoint(path: string): DecodedCheckpoint {
  return decodeCheckpoint(readFileBytes(path), path);
}

/**
 * `loadModel` on a file: a run directory (its model.safetensors), a model file, or a run's
 * checkpoint.safetensors (whose EMA weights are loaded; see LoadedModel.weights).
 */
export function loadModelFile(pathOrDir: string, o: Omit<LoadModelOptions, 'where'> = {}): LoadedModel & { path: string } {
  let path = pathOrDir;
  try {
    if (statSync(pathOrDir).isDirectory()) path = join(pathOrDir, MODEL_FILE);
  } catch {
    throw new FlowGpuError(`${pathOrDir}: no such file or run directory`);
  }
  return { ...loadModel(readCheckpoint(path), { ...o, where: path }), path };
}

/** s.npy → s.labels.npy: where the class labels of a samples file live (DESIGN.md). */
export function labelsPath(npy: string): string {
  return npy.endsWith('.npy') ? npy.slice(0, -4) + '.labels.npy' : npy + '.labels.npy';
}

/** Whether a process with this PID exists (EPERM: it exists but belongs to another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock file's name inside a run directory (it holds the writer's PID). */
export const LOCK_FILE = '.flowgpu.lock';

/**
 * Makes `dir` (creating it) this process's to write: a lock file holding our PID, created
 * exclusively. A lock whose process is gone is taken over (`tookOverFrom` names it); a live one is
 * an error naming its PID. Also removes temporary files that atomic writes of dead processes left.
 * Call `release()` when done (the lock file is removed).
 */
export function lockRunDir(dir: string): { release(): void; tookOverFrom: number | null; removedTemp: number } {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'it (or a folder above it) is a file, not a directory' : (e as Error).message;
    throw new FlowGpuError(`cannot use ${dir} as the output directory: ${why}`);
  }
  const path = join(dir, LOCK_FILE);
  let tookOverFrom: number | null = null;
  for (;;) {
    let fd = -1;
    try {
      fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if (fd >= 0) closeSync(fd);
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new FlowGpuError(`cannot write to ${dir}: ${(e as Error).message}`);
    }
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
      throw new FlowGpuError(`${dir} is being written by another flowgpu process (PID ${pid}): wait for it to finish or stop it, or choose another output directory`);
    }
    if (tookOverFrom !== null) throw new FlowGpuError(`${dir}: could not take over the stale lock ${path}; remove it by hand`);
    unlinkSync(path);
    tookOverFrom = Number.isInteger(pid) ? pid : -1;
  }
  let removedTemp = 0;
  for (const f of readdirSync(dir)) {
    const m = /^\..+\.(\d+)\.[0-9a-z]+\.tmp$/.exec(f);
    if (m && !processAlive(Number(m[1]))) {
      unlinkSync(join(dir, f));
      removedTemp++;
    }
  }
  return {
    tookOverFrom,
    removedTemp,
    release: () => {
      try {
        if (Number.parseInt(readFileSync(path, 'utf8'), 10) === process.pid) unlinkSync(path);
      } catch {
        /* already gone */
      }
    },
  };
}

/**
 * A point cloud from a file: a .npy of float32 (or int32) [N, D] or [N] (D = 1), or a .csv with an
 * optional header. Every row is checked (a NaN or infinity names its row); errors say how to fix.
 */
export function readPoints(path: string): { data: Float32Array; rows: number; dim: number; columns: string[] | null } {
  let data: Float32Array;
  let dim: number;
  let columns: string[] | null = null;
  if (/\.csv$/i.test(path)) {
    const t = parseCsv(new TextDecoder().decode(readFileBytes(path)), path);
    ({ data, cols: dim, header: columns } = t);
  } else if (/\.npy$/i.test(path)) {
    const a = readNpy(path);
    if (a.shape.length !== 1 && a.shape.length !== 2) {
      throw new FlowGpuError(`${path}: points must be an array [N, D] (or [N]), got [${a.shape.join(', ')}]: reshape it to (N, D) first`);
    }
    dim = a.shape.length === 2 ? a.shape[1] : 1;
    if (dim < 1) throw new FlowGpuError(`${path}: rows of ${dim} values: points need at least one column`);
    data = a.data instanceof Float32Array ? a.data : Float32Array.from(a.data);
  } else {
    throw new FlowGpuError(`${path}: points are read from .npy (float32 [N, D]) or .csv files`);
  }
  const rows = checkPoints(data, dim, path);
  return { data, rows, dim, columns };
}
