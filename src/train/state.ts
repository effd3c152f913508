/**
 * A training run's state as bytes, and back: the safetensors files a run is made of.
 *
 *   checkpoint (RunState)  everything a resume needs: the parameters under their PyTorch names, the
 *                          AdamW moments (`optimizer.exp_avg`, `optimizer.exp_avg_sq`, flat), the EMA
 *                          average (`ema.shadow`, flat, in the parameters' `flatLayout()`), and in
 *                          the metadata the run's config and the training state (step, loss
 *                          history, optimiser step, EMA updates).
 *   model file             the sampling weights only (the EMA average when there is one) under
 *                          PyTorch names, the config, and `{ step, weights }` — what `loadModel` and
 *                          torch's `load_state_dict` read.
 *
 * Pure apart from the GPU: the bytes go to files through the Node helpers (atomic writes), to
 * IndexedDB or a download in a browser, or anywhere else.
 */
import { FlowGpuError } from '../gpu/errors.js';
import { checkFiniteTensor, decodeCheckpoint, encodeCheckpoint, readTensors, uploadTensors, type DecodedCheckpoint } from '../io/checkpoint.js';
import { configDifference, matchTensors } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import type { AdamW } from '../optim/adamw.js';
import type { EMA } from '../optim/ema.js';

/** The usual file names of a run directory (the CLI and the Node helpers use them). */
export const CHECKPOINT_FILE = 'checkpoint.safetensors';
/** The model file's name in a run directory (sampling weights and config, for `loadModel`). */
export const MODEL_FILE = 'model.safetensors';

/** The loss history of a run: the mean loss of each logging window and the step that ended it. */
export interface History {
  /** Mean training loss over each logging window, and the step that ended it. */
  loss: number[];
  lossStep: number[];
}

/** What a checkpoint's `training_state` holds. */
export interface TrainingState {
  step: number;
  history: History;
  optimizerStep: number;
  emaUpdates: number;
  /** Anything else the caller stored. */
  extra?: Record<string, unknown>;
}

/** The live objects of a run whose state is written or restored. */
export interface RunObjects {
  config: object;
  model: Module;
  opt: AdamW;
  ema: EMA | null;
}

/** Encodes the full training state (a checkpoint file's bytes). */
export async function encodeRunState(o: RunObjects, st: { step: number; history: History; extra?: Record<string, unknown> }): Promise<Uint8Array> {
  const tensors = await readTensors(o.model.namedParameters());
  const os = await o.opt.state();
  tensors.push({ name: 'optimizer.exp_avg', dtype: 'F32', shape: [os.m.length], data: os.m });
  tensors.push({ name: 'optimizer.exp_avg_sq', dtype: 'F32', shape: [os.v.length], data: os.v });
  if (o.ema) {
    const [e] = await readTensors([['ema.shadow', o.ema.shadow]]);
    tensors.push(e);
  }
  const trainingState: TrainingState = { ...st, optimizerStep: os.step, emaUpdates: o.ema?.updates ?? 0 };
  return encodeCheckpoint({ tensors, config: o.config, trainingState });
}

/** Which weights a model file holds: the EMA average or the raw (optimised) parameters. */
export type WeightsKind = 'ema' | 'raw';

/** Encodes the sampling weights (the EMA average when there is one) with the config: a model file's bytes. */
export async function encodeModelFile(o: Omit<RunObjects, 'opt'>, extra: Record<string, unknown> = {}): Promise<Uint8Array> {
  const weights: WeightsKind = o.ema ? 'ema' : 'raw';
  const read = () => readTensors(o.model.namedParameters());
  const tensors = o.ema ? await o.ema.withAverage(read) : await read();
  return encodeCheckpoint({ tensors, config: o.config, trainingState: { ...extra, weights } });
}

const asFile = (src: Uint8Array | DecodedCheckpoint, where?: string): DecodedCheckpoint =>
  src instanceof Uint8Array ? decodeCheckpoint(src, where) : src;

/**
 * Restores a checkpoint into freshly built objects (the model flattened, AdamW and EMA built on it
 * as the config says). The stored config must equal `o.config` except for the keys in `mayDiffer`
 * (e.g. the total number of steps); every name and shape is checked before anything is uploaded.
 */
export function restoreRunState(
  src: Uint8Array | DecodedCheckpoint,
  o: RunObjects & { mayDiffer?: string[]; where?: string },
): { step: number; history: History; extra?: Record<string, unknown> } {
  const where = o.where ?? 'checkpoint';
  const ck = asFile(src, where);
  if (!ck.config || typeof ck.config !== 'object') throw new FlowGpuError(`${where} has no config in its metadata: it is not a flowgpu checkpoint`);
  const stored = { ...(ck.config as Record<string, unknown>) };
  const current = { ...(o.config as Record<string, unknown>) };
  for (const k of o.mayDiffer ?? []) {
    delete stored[k];
    delete current[k];
  }
  const diff = configDifference(JSON.stringify(stored), current);
  if (diff) throw new FlowGpuError(`${where} was trained with a different configuration: ${diff}`);
  const st = ck.trainingState as Partial<TrainingState> | undefined;
  if (!st || typeof st.step !== 'number' || !st.history || typeof st.optimizerStep !== 'number') {
    throw new FlowGpuError(`${where} has no training state: it is a model file, not a checkpoint (resume from ${CHECKPOINT_FILE})`);
  }
  const flat = (name: string, n: number) => {
    const [t] = matchTensors(ck, [[name, [n]]], { allowExtra: true, what: 'the training state', where });
    checkFiniteTensor(t, where);
    return t.data as Float32Array;
  };
  const m = flat('optimizer.exp_avg', o.opt.m.size);
  const v = flat('optimizer.exp_avg_sq', o.opt.m.size);
  const shadow = o.ema ? flat('ema.shadow', o.ema.size) : null;
  uploadTensors(o.model.namedParameters(), ck, { allowExtra: true, what: 'the model', where });
  o.opt.loadState({ step: st.optimizerStep, m, v });
  if (o.ema && shadow) {
    o.ema.load(shadow);
    o.ema.updates = st.emaUpdates ?? 0;
  }
  return { step: st.step, history: st.history, extra: st.extra };
}
