/**
 * Internal entry: every module's exports, flat, for flowgpu's own tests and bench (primitives,
 * test hooks such as poisonOutputs, PRNG and plot internals). Not part of the package's public API
 * (src/index.ts): names here may change without notice.
 */
export { initGpu, destroyGpu, ops, nn, optim, flow, data, io, metrics, train, discrete } from './index.js';
export * from './discrete/index.js';
export { Gpu, formatProfile, type GpuOptions, type GpuStats, type ProfileRow, type AdapterTraits } from './gpu/runtime.js';
export { FlowGpuError } from './gpu/errors.js';
export { adapterSlug, type AdapterDescription } from './gpu/device.js';
export {
  Tensor, tensor, scalar, zeros, ones, full, empty, tidy, keep, gpu, poisonOutputs, type DType, type Shape,
} from './tensor/tensor.js';
export * as raw from './tensor/primitives.js';
export { backward, noGrad, isGradEnabled, param } from './autograd/tape.js';
export * from './autograd/ops.js';
export { enableGrad } from './autograd/tape.js';
export {
  sample, integrateFixed, odeStep, timeAsTensor, scaledRmsNorm, STAGES,
  type VelocityField, type SolverName, type FixedStepSolver, type SampleOptions, type SampleResult,
} from './flow/solvers.js';
export {
  sampleSDE, emStep, diffusionCoefficient, sdeDriftCoefficients,
  type SdeOptions, type SdeResult, type DiffusionSchedule, type NoiseKind,
} from './flow/sde.js';
export {
  logLikelihood, divergenceByVjp, bitsPerDim, dequantize, type LikelihoodOptions, type LikelihoodResult,
} from './flow/likelihood.js';
export { Module, HostRng, PARAM_ALIGN, uniformTensor, type FlatParameters } from './nn/module.js';
export { Linear, SiLU, Sequential } from './nn/layers.js';
export { SinusoidalEmbedding, sinusoidalFrequencies, type SinusoidalOptions } from './nn/embedding.js';
export { VelocityMLP, mlpConfig, type VelocityMLPConfig, type VelocityMLPOptions } from './nn/mlp.js';
export { AdamW, adamwScalars, type AdamWOptions } from './optim/adamw.js';
export { EMA, type EMAOptions } from './optim/ema.js';
export { learningRate, warmupCosine, checkSchedule, type LrScheduleConfig } from './optim/schedule.js';

export {
  checkerboard, moons, eightGaussians, twoSpirals, circles, sampleToy, isToyName, validateFinite, TOY_NAMES,
  EIGHT_GAUSSIANS_STD, type ToyName, type SeedOrRng, type UniformNormalRng,
} from './data/toy.js';
export {
  encodeSafetensors, decodeSafetensors, matchTensors, findTensor, configDifference, MAX_HEADER_BYTES,
  type NamedTensor, type SafetensorsFile, type SafeDType, type MatchOptions,
} from './io/safetensors.js';
export {
  readTensors, moduleTensors, uploadTensors, loadModuleTensors, encodeCheckpoint, decodeCheckpoint, CONFIG_KEY, STATE_KEY,
  type CheckpointContents, type DecodedCheckpoint,
} from './io/checkpoint.js';
export { encodeNpy, decodeNpy, type NpyArray } from './io/npy.js';
export { encodePng, zlibStored, crc32, adler32, type RasterImage, type ZlibDeflate } from './io/png.js';
export {
  Canvas, scatterPlot, squareLimits, trajectoryPlot, lossPlot, imageGrid, emaSmooth, niceTicks, logTicks, formatTick, COLORS,
  type ScatterOptions, type TrajectoryOptions, type LossPlotOptions, type ImageGridOptions, type Rgb,
} from './io/plot.js';
export {
  slicedWasserstein2, mmdRbf, medianDistance, defaultBandwidths, sliceDirections, sampleQuality, sampleQualityAgainst,
  formatQuality, type QualityReport, type QualityOptions,
} from './metrics/twod.js';

export {
  condOT, polynomial, cosine, vp, schedulerByName, type Scheduler, type SchedulerName,
} from './flow/schedulers.js';
export {
  philox4x32, philoxAt, uniformFromWord, boxMuller, normalsFromWords, normalsCpu, uniformsCpu, randUniform, randNormal,
  philoxWordsGpu, splitU64, STREAM, type RandomOptions,
} from './flow/random.js';
export {
  uniformTime, logitNormalTime, timeSamplerByName, timeCpu, normalCdf, T_EPS, type TimeSampler, type TimeSamplerName,
  type TimeRange,
} from './flow/time.js';
export {
  interpolateWithTarget, drawSourceAndTime, sampleTimes, type PathSample, type DrawOptions, type InterpolateOptions,
} from './flow/paths.js';
export {
  squaredDistances, linearSumAssignment, exactOTPairing, sinkhorn, sinkhornPairing, pairFromPlan, drawSource, sinkhornCouple,
  exactOTCouple, type CoupleOptions, type Coupling, type SinkhornOptions, type SinkhornResult, type SinkhornPairingOptions,
} from './flow/coupling.js';
export {
  flowMatchingStep, recordTrainingStep, dropLabels, flagConditions, LossMeter, type StepUpdate, type VelocityModel, type Updater, type FlowMatchingStepOptions,
} from './flow/train.js';

export { conv2d } from './autograd/conv.js';
export { groupNorm } from './autograd/norm.js';
export { upsample2x, avgPool2x } from './autograd/resample.js';
export { convOutSize, conv2dRaw, conv2dBackwardInputRaw, conv2dBackwardWeightRaw, type Conv2dOptions } from './tensor/conv.js';
export { Conv2d, type Conv2dModuleOptions } from './nn/conv.js';
export { GroupNorm } from './nn/norm.js';
export { Embedding } from './nn/embedding.js';
export { UNet, ResBlock, defaultUNetConfig, type UNetConfig } from './nn/unet.js';
export { guidedVelocity, GuidanceLabels, GuidanceConditions, type GuidanceInputs, type ConditionalVelocityModel } from './nn/guidance.js';
export {
  parseIdx, parseMnist, mnistPixels, resizeWeights, MnistDataset, mnistImageSet,
  MNIST_FILES, type IdxArray, type MnistHost, type MnistSplit, type ResizeMethod, type ResizeTap, type MnistDatasetOptions,
} from './data/mnist.js';
export {
  pixelToModel, modelToPixels, modelToBytes, dropLabelsHost, EpochSampler, ImageDataset, imageSet, pickImages, imagePixels, imagesToModel,
  type ImageSet, type ImageSetOptions, type ImageBatch,
} from './data/images.js';

export { buildNet, mlpSpec, netSpecOf, type NetSpec, type NetArch, type VelocityNet } from './nn/registry.js';
export { generate, classLabels, hostNormals, type GenerateOptions, type Generated, type LabelMode } from './flow/generate.js';
export { loadModel, type LoadedModel, type LoadModelOptions } from './io/models.js';
export { sampleGrid } from './io/plot.js';
export * from './metrics/mnist-judge.js';
export * from './train/index.js';
export { toyBatches, toyBatchSeed } from './data/toy.js';
