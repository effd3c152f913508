/**
 * flowgpu: flow matching on the GPU through WebGPU — the library entry, the same in Node and in
 * browsers. A small top level (the GPU, tensors, gradients) and one namespace per room:
 *
 *   ops      differentiable tensor operations
 *   nn       modules and velocity networks (PyTorch names), the network registry, guidance
 *   optim    AdamW, EMA, learning-rate schedules
 *   flow     paths, time samplers, couplings, the training step, solvers, generate, SDE, likelihood
 *   data     2-D toy distributions and MNIST, as arrays and as training data sources
 *   io       safetensors checkpoints, loadModel, .npy, PNG and plots (bytes, not files)
 *   metrics  sample quality: sliced W2, MMD², Fréchet distance, the MNIST judge
 *   train    the Trainer (resumable runs), reflow and one-step distillation
 *   discrete discrete flow matching over tokens: mixture paths, losses, the CTMC sampler, ELBO
 *
 * The Node entry adds `node` (files). docs/api.md lists every export with its purpose.
 */
import { Gpu, type GpuOptions } from './gpu/runtime.js';
import { setRuntime, hasRuntime, gpu } from './tensor/tensor.js';

export { Gpu, formatProfile, type GpuOptions, type GpuStats, type ProfileRow, type AdapterTraits } from './gpu/runtime.js';
export type { AdapterDescription } from './gpu/device.js';
export { FlowGpuError } from './gpu/errors.js';
export { Tensor, tensor, scalar, zeros, ones, full, empty, tidy, keep, type DType, type Shape } from './tensor/tensor.js';
export { backward, noGrad, enableGrad, isGradEnabled, param } from './autograd/tape.js';
export * as ops from './autograd/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as flow from './flow/index.js';
export * as data from './data/index.js';
export * as io from './io/index.js';
export * as metrics from './metrics/index.js';
export * as train from './train/index.js';
export * as discrete from './discrete/index.js';

/**
 * Acquires a GPU device (Node: Dawn through the `webgpu` package; browsers: navigator.gpu) and
 * makes it the runtime that tensors live on. Calling it again returns the same runtime.
 */
export async function initGpu(opts: GpuOptions = {}): Promise<Gpu> {
  if (hasRuntime()) return gpu();
  const g = await Gpu.create(opts);
  setRuntime(g);
  return g;
}

/** Destroys the device (lets a Node process exit). */
export function destroyGpu(): void {
  if (!hasRuntime()) return;
  gpu().destroy();
  setRuntime(null);
}
