/**
 * The peers in the browser page (demo/src/bench.ts): tfjs-webgpu started on flowgpu's own GPUDevice
 * (as in Node), and jax-js on its own device from navigator.gpu. Both are bundled into the page;
 * their entries are the ones bench/peers/engine.ts registers for Node.
 */
import type { Gpu } from '../../src/internal.js';
import { registerPeer } from './engine.js';
import { jaxEngine } from './jax-engine.js';
import { startTfjs, TFJS_FLAGS, tfjsEngine, type TF } from './tfjs-engine.js';

/** tfjs flags from the page's URL (`tfjs={"FLAG":value}`), else the bench's. */
const tfjsFlags = (): Record<string, unknown> => {
  const p = new URLSearchParams(globalThis.location?.search ?? '').get('tfjs');
  return p ? JSON.parse(p) : TFJS_FLAGS;
};

let tf: Promise<TF | string> | null = null;
const loadTfjs = (g: Gpu) =>
  (tf ??= (async () => {
    try {
      const [tfjs, webgpu] = await Promise.all([import('@tensorflow/tfjs'), import('@tensorflow/tfjs-backend-webgpu')]);
      return (await startTfjs(tfjs, webgpu, g, tfjsFlags())) ?? tfjs;
    } catch (e) {
      return `tfjs did not load: ${(e as Error).message}`;
    }
  })());

let jax: Promise<typeof import('@jax-js/jax') | string> | null = null;
const loadJax = () =>
  (jax ??= (async () => {
    try {
      const j = await import('@jax-js/jax');
      const devices = await j.init('webgpu');
      if (!devices.includes('webgpu')) return `jax-js found no WebGPU device here (init('webgpu') gave [${devices.join(', ')}])`;
      j.defaultDevice('webgpu');
      return j;
    } catch (e) {
      return `jax-js did not start: ${(e as Error).message}`;
    }
  })());

registerPeer(tfjsEngine(loadTfjs, tfjsFlags));
registerPeer(jaxEngine(loadJax));
