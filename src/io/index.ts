/**
 * io — bytes in and out, the same in Node and browsers: safetensors checkpoints (PyTorch names),
 * loading any trained network from its file (`loadModel`), .npy arrays, PNG and the plots.
 * Files themselves are the Node entry's (`node.*`).
 */
export {
  encodeSafetensors, decodeSafetensors, f32ToF16, f16ToF32, toHalf, widenHalf, type NamedTensor, type SafetensorsFile, type SafeDType,
} from './safetensors.js';
export {
  encodeCheckpoint, decodeCheckpoint, readTensors, moduleTensors, uploadTensors, loadModuleTensors,
  type CheckpointContents, type DecodedCheckpoint,
} from './checkpoint.js';
export { loadModel, type LoadedModel, type LoadModelOptions } from './models.js';
export {
  pretrained, pretrainedInfo, PRETRAINED, PRETRAINED_NAMES, type PretrainedName, type PretrainedInfo, type PretrainedOptions,
} from './pretrained.js';
export { encodeNpy, decodeNpy, type NpyArray } from './npy.js';
export { encodePng, type RasterImage, type ZlibDeflate } from './png.js';
export { decodePng, PNG_LIMITS } from './png-decode.js';
export {
  scatterPlot, squareLimits, trajectoryPlot, lossPlot, imageGrid, sampleGrid, cornerPlot,
  type ScatterOptions, type CornerOptions, type TrajectoryOptions, type LossPlotOptions, type ImageGridOptions,
} from './plot.js';
