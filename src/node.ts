/**
 * Node entry: everything in the library entry plus the Node-only file helpers (fs, zlib): atomic
 * writes, and readers/writers for .safetensors, .npy and .png files. Browser code imports
 * src/index.ts, which has none of these.
 */
export * from './index.js';
export {
  writeFileAtomic, readFileBytes, zlibDeflate, writePng, writeNpy, readNpy, writeSafetensors, readSafetensors,
  writeCheckpoint, readCheckpoint,
} from './io/node-files.js';
export { readMnist, mnistDataDir } from './io/node-mnist.js';
