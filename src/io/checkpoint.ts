/**
 * Checkpoints: GPU tensors ↔ safetensors, with PyTorch names and layouts (a module's
 * `namedParameters()` are its state-dict keys; a Linear's weight is [out, in]), so the same network
 * built in PyTorch loads the file with `load_state_dict` and gives the same outputs.
 *
 * The `__metadata__` map carries:
 *   format          "pt" (what transformers and friends look for)
 *   config          the model/run config as a JSON string
 *   training_state  step, RNG counters, … as a JSON string (whatever a resume needs)
 *
 * Pure apart from the GPU: bytes come and go through src/io/node-files.ts (Node) or the caller.
 * Loading checks every name and shape before uploading anything, so a mismatched file leaves the
 * model untouched.
 */
import { FlowGpuError } from '../gpu/errors.js';
import type { Module } from '../nn/module.js';
import { gpu, type Tensor } from '../tensor/tensor.js';
import { decodeSafetensors, encodeSafetensors, matchTensors, widenHalf, type MatchOptions, type NamedTensor, type SafetensorsFile } from './safetensors.js';

export const CONFIG_KEY = 'config';
export const STATE_KEY = 'training_state';

/** Reads tensors back from the GPU as named host arrays (F32 or I32). */
export async function readTensors(named: Iterable<readonly [string, Tensor]>): Promise<NamedTensor[]> {
  const out: NamedTensor[] = [];
  for (const [name, t] of named) {
    const data = await t.data();
    out.push({ name, dtype: t.dtype === 'f32' ? 'F32' : 'I32', shape: [...t.shape], data });
  }
  return out;
}

/** A module's parameters as a state dict (names prefixed with `prefix`). */
export async function moduleTensors(module: Module, prefix = ''): Promise<NamedTensor[]> {
  return readTensors(module.namedParameters().map(([n, t]) => [prefix + n, t] as const));
}

/**
 * Throws when a stored f32 tensor holds a NaN or an infinity, naming the tensor and the first bad
 * element: weights like that would sample NaNs without a word.
 */
export function checkFiniteTensor(t: NamedTensor, where?: string): void {
  if (t.dtype !== 'F32') return;
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) {
      throw new FlowGpuError(
        `${where ? `${where}: ` : ''}tensor '${t.name}' holds ${d[i]} at element ${i} (of ${d.length}): the weights are corrupt or the run ` +
          'diverged before this was saved; use an earlier checkpoint',
      );
    }
  }
}

/**
 * Uploads the file's tensors into existing GPU tensors of the same names and shapes (parameters,
 * optimiser moments, EMA copies). Everything is checked first; nothing is written on a mismatch.
 */
export function uploadTensors(targets: Iterable<readonly [string, Tensor]>, file: SafetensorsFile, opts: MatchOptions = {}): void {
  const list = [...targets];
  const found = matchTensors(
    file,
    list.map(([n, t]) => [n, t.shape, t.dtype === 'f32' ? 'F32' : 'I32'] as const),
    opts,
  );
  for (const t of found) checkFiniteTensor(t, opts.where);
  const g = gpu();
  list.forEach(([, t], i) => {
    if (t.size) g.upload(t.pooled, t.offset * 4, found[i].data);
  });
}

/** Loads a module's parameters from a decoded file (strict: no missing, extra or reshaped tensor). */
export function loadModuleTensors(module: Module, file: SafetensorsFile, opts: MatchOptions = {}): void {
  uploadTensors(module.namedParameters(), file, opts);
}

/**
 * What `encodeCheckpoint` writes: named tensors, plus a config and training state stored as JSON in
 * the metadata, and extra metadata strings.
 */
export interface CheckpointContents {
  tensors: NamedTensor[];
  config?: unknown;
  trainingState?: unknown;
  /** More metadata entries (strings). */
  extra?: Record<string, string>;
}

/** Encodes tensors plus config and training state (as JSON strings in `__metadata__`). */
export function encodeCheckpoint(c: CheckpointContents): Uint8Array {
  const metadata: Record<string, string> = { format: 'pt', ...(c.extra ?? {}) };
  if (c.config !== undefined) metadata[CONFIG_KEY] = JSON.stringify(c.config);
  if (c.trainingState !== undefined) metadata[STATE_KEY] = JSON.stringify(c.trainingState);
  return encodeSafetensors(c.tensors, metadata);
}

/** A decoded checkpoint: its tensors and metadata, with the config and training state parsed from JSON. */
export interface DecodedCheckpoint extends SafetensorsFile {
  config?: unknown;
  trainingState?: unknown;
}

/**
 * Decodes a checkpoint and parses its config and training state (errors name `where`). F16 tensors
 * (half-precision files, e.g. the shipped pretrained models) come back widened to F32.
 */
export function decodeCheckpoint(bytes: Uint8Array, where?: string): DecodedCheckpoint {
  const file = widenHalf(decodeSafetensors(bytes, where));
  const parse = (key: string): unknown => {
    const s = file.metadata[key];
    if (s === undefined) return undefined;
    try {
      return JSON.parse(s);
    } catch (e) {
      throw new FlowGpuError(`${where ? `${where}: ` : ''}checkpoint metadata '${key}' is not valid JSON (${(e as Error).message})`);
    }
  };
  return { ...file, config: parse(CONFIG_KEY), trainingState: parse(STATE_KEY) };
}
