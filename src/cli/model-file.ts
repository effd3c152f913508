/** Loading a trained model back from model.safetensors / checkpoint.safetensors by its stored config. */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { FlowGpuError } from '../gpu/errors.js';
import { loadModuleTensors } from '../io/checkpoint.js';
import { readCheckpoint } from '../io/node-files.js';
import { VelocityMLP, type VelocityMLPConfig } from '../nn/mlp.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { mnistNet, type MnistConfig } from './mnist.js';
import { MODEL } from './runstate.js';

export interface LoadedModel {
  config: Record<string, unknown> & { kind: string };
  module: Module;
  /** v(x, t, labels?) with t a tensor [N]. */
  forward: (x: Tensor, t: Tensor, labels?: Tensor) => Tensor;
  path: string;
}

/** Model builders by config kind; the MNIST side registers its own. */
export const MODEL_KINDS: Record<string, (config: Record<string, unknown>) => { module: Module; forward: LoadedModel['forward'] }> = {
  toy: (c) => {
    const m = VelocityMLP.fromConfig(c.model as VelocityMLPConfig);
    return { module: m, forward: (x, t) => m.forward(x, t) };
  },
  mnist: (c) => mnistNet(c as unknown as MnistConfig),
};

export function loadModel(pathOrDir: string): LoadedModel {
  let path = pathOrDir;
  try {
    if (statSync(pathOrDir).isDirectory()) path = join(pathOrDir, MODEL);
  } catch {
    throw new FlowGpuError(`no such checkpoint: ${pathOrDir}`);
  }
  const ck = readCheckpoint(path);
  const config = ck.config as LoadedModel['config'] | undefined;
  if (!config || typeof config.kind !== 'string') {
    throw new FlowGpuError(`${path} has no flowgpu config in its metadata: was it written by 'flowgpu train'?`);
  }
  const build = MODEL_KINDS[config.kind];
  if (!build) throw new FlowGpuError(`${path}: unknown model kind '${config.kind}' (known: ${Object.keys(MODEL_KINDS).join(', ')})`);
  const { module, forward } = build(config);
  loadModuleTensors(module, ck, { allowExtra: path.endsWith('checkpoint.safetensors'), what: 'the model in its config' });
  return { config, module, forward, path };
}
