/**
 * flowgpu: flow matching on the GPU through WebGPU. This is the library entry point, the same in
 * Node and in browsers.
 */
import { Gpu, type GpuOptions } from './gpu/runtime.js';
import { setRuntime, hasRuntime, gpu } from './tensor/tensor.js';

export { Gpu, type GpuOptions, type GpuStats } from './gpu/runtime.js';
export { FlowGpuError } from './gpu/errors.js';
export { adapterSlug, type AdapterDescription } from './gpu/device.js';
export {
  Tensor, tensor, scalar, zeros, ones, full, empty, tidy, keep, gpu, poisonOutputs, type DType, type Shape,
} from './tensor/tensor.js';
export * as raw from './tensor/primitives.js';
export { backward, noGrad, isGradEnabled, param } from './autograd/tape.js';
export * from './autograd/ops.js';

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
