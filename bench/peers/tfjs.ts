/**
 * The tfjs-webgpu peer in Node (bench/peers/tfjs-engine.ts does the work; bench/peers/engine.ts
 * registers its entries and verifies it). Loading tfjs's WebGPU backend in Node: it registers itself
 * only when `navigator.gpu` exists at import, and needs the WebGPU globals (GPUBufferUsage, …), which
 * flowgpu's device acquisition has already copied onto globalThis; the full @tensorflow/tfjs bundle
 * registers the gradients. The backend's own factory is then replaced by one that wraps flowgpu's
 * GPUDevice (`startTfjs`).
 *
 * BENCH_TFJS_FLAGS='{"WEBGPU_CPU_FORWARD":false}' runs it with other flags than TFJS_FLAGS.
 */
import type { Gpu } from '../../src/internal.js';
import { registerPeer } from './engine.js';
import { startTfjs, TFJS_FLAGS, tfjsEngine, type TF } from './tfjs-engine.js';

const flags = (): Record<string, unknown> => (process.env.BENCH_TFJS_FLAGS ? JSON.parse(process.env.BENCH_TFJS_FLAGS) : TFJS_FLAGS);

let tfPromise: Promise<TF | string> | null = null;

/** Loads tfjs on flowgpu's device; resolves to the module, or to a reason it cannot run here. */
export function loadTfjs(g: Gpu): Promise<TF | string> {
  tfPromise ??= (async () => {
    const glob = globalThis as { navigator?: { gpu?: unknown } };
    if (!glob.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    // a stand-in: the backend only checks that navigator.gpu exists; its factory is replaced by startTfjs
    if (!glob.navigator!.gpu) glob.navigator!.gpu = { requestAdapter: async () => null, getPreferredCanvasFormat: () => 'bgra8unorm' };
    let tf: TF;
    let webgpu: TF;
    try {
      const names = ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'];
      tf = await import(/* @vite-ignore */ names[0]);
      webgpu = await import(/* @vite-ignore */ names[1]);
    } catch (e) {
      return `tfjs is not installed (${(e as Error).message.split('\n')[0]}); it is a devDependency of the bench: npm install`;
    }
    return (await startTfjs(tf, webgpu, g, flags())) ?? tf;
  })();
  return tfPromise;
}

registerPeer(tfjsEngine(loadTfjs, flags));
