/**
 * A training run's files: `checkpoint.safetensors` (everything needed to resume: weights, Adam
 * moments, EMA, step, loss history; written atomically every --ckpt-every steps) and
 * `model.safetensors` (the weights used for sampling — the EMA average when there is one — under
 * PyTorch's names, with the config in the metadata, loadable by torch's load_state_dict).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FlowGpuError } from '../gpu/errors.js';
import type { Module } from '../nn/module.js';
import type { AdamW } from '../optim/adamw.js';
import type { EMA } from '../optim/ema.js';
import { readTensors, uploadTensors } from '../io/checkpoint.js';
import { configDifference, matchTensors } from '../io/safetensors.js';
import { readCheckpoint, writeCheckpoint } from '../io/node-files.js';

export interface History {
  /** Mean training loss over each logging window, and the step that ended it. */
  loss: number[];
  lossStep: number[];
}

export interface RunState {
  step: number;
  history: History;
  /** Anything else the trainer needs to continue identically. */
  extra?: Record<string, unknown>;
}

export const CHECKPOINT = 'checkpoint.safetensors';
export const MODEL = 'model.safetensors';

/** Saves the full training state atomically. */
export async function saveRun(dir: string, config: object, model: Module, opt: AdamW, ema: EMA | null, state: RunState): Promise<void> {
  const tensors = await readTensors(model.namedParameters());
  const os = await opt.state();
  tensors.push({ name: 'optimizer.exp_avg', dtype: 'F32', shape: [os.m.length], data: os.m });
  tensors.push({ name: 'optimizer.exp_avg_sq', dtype: 'F32', shape: [os.v.length], data: os.v });
  if (ema) {
    const [e] = await readTensors([['ema.shadow', ema.shadow]]);
    tensors.push(e);
  }
  writeCheckpoint(join(dir, CHECKPOINT), {
    tensors,
    config,
    trainingState: { ...state, optimizerStep: os.step, emaUpdates: ema?.updates ?? 0 },
  });
}

/** Writes the sampling weights (EMA average when present) with PyTorch names. */
export async function saveModel(dir: string, config: object, model: Module, ema: EMA | null, extra: Record<string, unknown> = {}): Promise<void> {
  if (ema) ema.swap();
  try {
    const tensors = await readTensors(model.namedParameters());
    writeCheckpoint(join(dir, MODEL), { tensors, config, trainingState: extra });
  } finally {
    if (ema) ema.swap();
  }
}

/**
 * Restores a run saved by saveRun into freshly built (flattened) objects. The stored config must
 * equal the current one, except for keys in `mayDiffer` (e.g. the total number of steps).
 */
export function loadRun(dir: string, config: Record<string, unknown>, model: Module, opt: AdamW, ema: EMA | null, mayDiffer: string[] = []): RunState {
  const path = join(dir, CHECKPOINT);
  if (!existsSync(path)) throw new FlowGpuError(`--resume: no ${CHECKPOINT} in ${dir} (start without --resume, or point --out at the run to continue)`);
  const ck = readCheckpoint(path);
  const stored = { ...(ck.config as Record<string, unknown>) };
  const current = { ...config };
  for (const k of mayDiffer) {
    delete stored[k];
    delete current[k];
  }
  const diff = configDifference(JSON.stringify(stored), current);
  if (diff) throw new FlowGpuError(`--resume: ${path} was trained with a different configuration: ${diff}`);
  uploadTensors(model.namedParameters(), ck, { allowExtra: true, what: 'the model' });
  const st = ck.trainingState as RunState & { optimizerStep: number; emaUpdates: number };
  if (!st || typeof st.step !== 'number' || !st.history) throw new FlowGpuError(`--resume: ${path} has no training state`);
  const flat = (name: string, n: number) => {
    const [t] = matchTensors(ck, [[name, [n]]], { allowExtra: true, what: 'the training state' });
    return t.data as Float32Array;
  };
  const n = opt.m.size;
  opt.loadState({ step: st.optimizerStep, m: flat('optimizer.exp_avg', n), v: flat('optimizer.exp_avg_sq', n) });
  if (ema) {
    ema.load(flat('ema.shadow', ema.size));
    ema.updates = st.emaUpdates;
  }
  return { step: st.step, history: st.history, extra: st.extra };
}
