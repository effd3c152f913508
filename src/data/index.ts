/**
 * data — the five 2-D toy distributions (DESIGN.md's exact definitions), image sets (checked host
 * images, a GPU-resident dataset) with MNIST as one (IDX parsing, resizing) and point clouds, each
 * also as a training data source for the Trainer.
 */
export {
  checkerboard, moons, eightGaussians, twoSpirals, circles, sampleToy, toyBatches, isToyName, validateFinite, TOY_NAMES,
  type ToyName, type SeedOrRng, type UniformNormalRng,
} from './toy.js';
export {
  parseIdx, parseMnist, mnistPixels, mnistImageSet, mnistRows, MnistDataset, MNIST_FILES,
  type IdxArray, type MnistHost, type MnistSplit, type ResizeMethod, type MnistDatasetOptions,
} from './mnist.js';
export {
  ImageDataset, imageSet, pickImages, imagePixels, imagesToModel, pixelToModel, modelToPixels, modelToBytes, EpochSampler,
  type ImageSet, type ImageSetOptions, type ImageBatch,
} from './images.js';
export { HostRng } from '../nn/module.js';
export {
  PointDataset, standardization, standardize, unstandardize, holdoutSplit, pickRows, cycleRows, parseCsv, checkPoints, gaussianPoints,
  type Standardization, type PointExtras, type PointBatch,
} from './points.js';
