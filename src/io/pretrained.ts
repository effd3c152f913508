/**
 * The pretrained models shipped in the npm package's `pretrained/` folder, each a model file
 * (safetensors, weights in F16 to halve the bytes; `loadModel` widens them to F32) made by a
 * command written in the README, with its quality measured by `flowgpu eval`:
 *
 *   const { net } = await pretrained('mnist16-cond', { url: '/pretrained/mnist16-cond.safetensors' }); // browsers
 *   const { net } = node.pretrained('mnist16-cond');                                                     // Node: the package file
 *   const { x, labels } = await generate(net, { n: 100, labels: classLabels(100, 'per-class'), guidance: 2 });
 *
 * A browser has no package files: serve the folder's files with the page (the demo copies them)
 * and pass their URL. `PRETRAINED[name]` says how each model samples best (solver, steps, guidance).
 *
 * Size budget: the folder stays under 4 MB (the whole npm tarball under 10 MB).
 */
import { FlowGpuError } from '../gpu/errors.js';
import { loadModel, type LoadedModel } from './models.js';

/** The names of the shipped models. */
export type PretrainedName = 'checkerboard' | 'mnist16-cond' | 'mnist16-1step';

/**
 * One shipped model: its file name in `pretrained/`, what it is, how to sample it (the settings its
 * quality was measured with) and that quality as `flowgpu eval` printed it.
 */
export interface PretrainedInfo {
  file: string;
  description: string;
  /** Sampling settings of the quoted quality. */
  solver: 'euler' | 'midpoint' | 'heun' | 'rk4';
  nfe: number;
  /** Classifier-free guidance scale (class-conditional models). */
  guidance: number;
  /** The measured quality, in words. */
  quality: string;
}

/** The shipped models (the README has the commands that made them and their measurements). */
export const PRETRAINED: Readonly<Record<PretrainedName, PretrainedInfo>> = {
  checkerboard: {
    file: 'checkerboard.safetensors',
    description: '2-D checkerboard, MLP 3×128 (flowgpu train toy defaults, 7000 steps)',
    solver: 'midpoint',
    nfe: 40,
    guidance: 1,
    quality: 'sliced W2 0.124 against fresh data (floor 0.115), MMD² 4.6e-5, at 2000 points',
  },
  'mnist16-cond': {
    file: 'mnist16-cond.safetensors',
    description: 'class-conditional 16×16 MNIST, MLP 3×512 (8000 steps of batch 128)',
    solver: 'midpoint',
    nfe: 40,
    guidance: 2,
    quality: 'FD 10.6 (real images 3.6), 97.6% read as the requested digit (real 95.2%), 1000 samples',
  },
  'mnist16-1step': {
    file: 'mnist16-1step.safetensors',
    description: 'one-step student of mnist16-cond (reflow, then one-step distillation; guidance 2 baked in)',
    solver: 'euler',
    nfe: 1,
    guidance: 1,
    quality: 'FD 10.9 (real images 3.6), 97.7% read as the requested digit (real 95.2%), 1000 samples, one Euler step',
  },
};

/** The shipped models' names, in catalogue order. */
export const PRETRAINED_NAMES = Object.keys(PRETRAINED) as PretrainedName[];

/** Checks a pretrained model's name and returns its catalogue entry (a FlowGpuError lists the names otherwise). */
export function pretrainedInfo(name: string): PretrainedInfo {
  if (!Object.hasOwn(PRETRAINED, name)) {
    throw new FlowGpuError(`no pretrained model '${name}': the shipped ones are ${PRETRAINED_NAMES.join(', ')}`);
  }
  return PRETRAINED[name as PretrainedName];
}

/** Options of `pretrained`: where the file is served, and the fetch to use. */
export interface PretrainedOptions {
  /** The file's URL (browsers have no package files: serve `pretrained/NAME.safetensors` with the page). */
  url: string | URL;
  /** The fetch function (default globalThis.fetch). */
  fetch?: typeof fetch;
}

/**
 * Downloads a shipped model from `url` and loads it (browsers; in Node `node.pretrained(name)`
 * reads the package's own file). The name is checked against the catalogue.
 */
export async function pretrained(name: string, o: PretrainedOptions): Promise<LoadedModel> {
  const info = pretrainedInfo(name);
  if (!o || o.url === undefined) {
    throw new FlowGpuError(`pretrained('${name}'): pass { url } where the page serves ${info.file} (in Node, node.pretrained('${name}') reads the package file)`);
  }
  const get = o.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await get(o.url);
  } catch (e) {
    throw new FlowGpuError(`pretrained('${name}'): could not fetch ${String(o.url)}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new FlowGpuError(`pretrained('${name}'): ${String(o.url)} answered ${res.status} ${res.statusText}: is ${info.file} served there?`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return loadModel(bytes, { where: String(o.url) });
}
