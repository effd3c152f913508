/**
 * Loading a trained network from a checkpoint's bytes, by the config stored in it: a model file
 * (the sampling weights) or a run's full checkpoint — whose EMA average is what gets loaded when
 * it has one, since that is what sampling should use. The result says which weights it holds.
 *
 *   const { net, weights } = loadModel(bytes);         // weights: 'ema' | 'raw'
 *   const { x } = await generate(net, { n: 1000 });
 */
import { FlowGpuError } from '../gpu/errors.js';
import { buildNet, netSpecOf, type VelocityNet } from '../nn/registry.js';
import { gpu } from '../tensor/tensor.js';
import { checkFiniteTensor, decodeCheckpoint, uploadTensors, type DecodedCheckpoint } from './checkpoint.js';
import { matchTensors } from './safetensors.js';

/**
 * The output of `loadModel`: the rebuilt network, its stored config, which weights were loaded (EMA
 * or raw), the file kind and the step.
 */
export interface LoadedModel {
  net: VelocityNet;
  /** The config stored in the file (the run's description). */
  config: Record<string, unknown>;
  /** 'ema': the EMA average of the weights; 'raw': the optimised parameters themselves. */
  weights: 'ema' | 'raw';
  /** 'model': a model file (sampling weights only); 'checkpoint': a run's full state. */
  source: 'model' | 'checkpoint';
  /** The training step the weights are from (when the file says). */
  step: number | null;
}

/**
 * Options of `loadModel`: which weights to take from a checkpoint ('ema' or 'raw') and the file's
 * name for errors.
 */
export interface LoadModelOptions {
  /** From a checkpoint: 'ema' (default when it has an average) or 'raw'. Model files hold one set. */
  weights?: 'ema' | 'raw';
  /** Names the file in errors. */
  where?: string;
}

/** Rebuilds the network a checkpoint or model file describes and loads its weights (see the file comment). */
export function loadModel(src: Uint8Array | DecodedCheckpoint, o: LoadModelOptions = {}): LoadedModel {
  const where = o.where ?? 'the model file';
  const ck = src instanceof Uint8Array ? decodeCheckpoint(src, where) : src;
  const config = ck.config as Record<string, unknown> | undefined;
  if (!config || typeof config !== 'object') throw new FlowGpuError(`${where} has no flowgpu config in its metadata: was it written by flowgpu's trainer?`);
  const spec = netSpecOf(config);
  if (!spec) throw new FlowGpuError(`${where}: its config describes no network (no 'net', nor 'model' with an architecture): it cannot be rebuilt`);
  const st = (ck.trainingState ?? {}) as Record<string, unknown>;
  const isCheckpoint = typeof st.optimizerStep === 'number';
  const hasEma = ck.tensors.some((t) => t.name === 'ema.shadow');
  const net = buildNet(spec);
  try {
    let weights: LoadedModel['weights'];
    if (isCheckpoint) {
      weights = hasEma && o.weights !== 'raw' ? 'ema' : 'raw';
      if (o.weights === 'ema' && !hasEma) throw new FlowGpuError(`${where} has no EMA average (trained with ema 0): load its raw weights`);
      uploadTensors(net.module.namedParameters(), ck, { allowExtra: true, what: 'the network in its config', where });
      if (weights === 'ema') loadFlatAverage(net, ck, where);
    } else {
      if (o.weights && st.weights && o.weights !== st.weights) throw new FlowGpuError(`${where} holds only its ${String(st.weights)} weights; load the run's checkpoint for the others`);
      // files written before `weights` was stored: the EMA average unless the run had none
      weights = st.weights === 'raw' || (st.weights === undefined && config.ema === 0) ? 'raw' : 'ema';
      uploadTensors(net.module.namedParameters(), ck, { what: 'the network in its config', where });
    }
    return { net, config, weights, source: isCheckpoint ? 'checkpoint' : 'model', step: typeof st.step === 'number' ? st.step : null };
  } catch (e) {
    net.module.dispose();
    throw e;
  }
}

/** Uploads the checkpoint's flat EMA average (the parameters' flatLayout) into the network's parameters. */
function loadFlatAverage(net: VelocityNet, ck: DecodedCheckpoint, where: string): void {
  const { offsets, size } = net.module.flatLayout();
  const [shadow] = matchTensors(ck, [['ema.shadow', [size]]], { allowExtra: true, what: 'the network in its config', where });
  checkFiniteTensor(shadow, where);
  const all = shadow.data as Float32Array;
  const g = gpu();
  for (const [name, t] of net.module.namedParameters()) {
    const at = offsets.get(name)!;
    if (t.size) g.upload(t.pooled, t.offset * 4, all.subarray(at, at + t.size));
  }
}
