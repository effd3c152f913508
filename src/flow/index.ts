/**
 * flow — flow matching itself: probability paths (schedulers), time samplers, couplings, the fused
 * training step, ODE solvers and chunked guided sampling (`generate`), SDE sampling, likelihood, and
 * the GPU random numbers everything draws from (seed, step).
 */
export { condOT, polynomial, cosine, vp, schedulerByName, type Scheduler, type SchedulerName } from './schedulers.js';
export { uniformTime, logitNormalTime, timeSamplerByName, type TimeSampler, type TimeSamplerName, type TimeRange } from './time.js';
export { interpolateWithTarget, type PathSample, type InterpolateOptions } from './paths.js';
export {
  exactOTCouple, sinkhornCouple, type CoupleOptions, exactOTPairing, sinkhorn, sinkhornPairing, linearSumAssignment, squaredDistances,
  type Coupling, type SinkhornOptions, type SinkhornResult, type SinkhornPairingOptions,
} from './coupling.js';
export { flowMatchingStep, recordTrainingStep, dropLabels, flagConditions, LossMeter, type StepUpdate, type VelocityModel, type Updater, type FlowMatchingStepOptions } from './train.js';
export {
  sample, integrateFixed, odeStep, timeAsTensor, type VelocityField, type SolverName, type FixedStepSolver, type SampleOptions, type SampleResult,
} from './solvers.js';
export { generate, classLabels, hostNormals, nonFiniteRows, describeRows, type GenerateOptions, type Generated, type LabelMode } from './generate.js';
export { sampleSDE, diffusionCoefficient, type SdeOptions, type SdeResult, type DiffusionSchedule, type NoiseKind } from './sde.js';
export { logLikelihood, divergenceByVjp, bitsPerDim, dequantize, type LikelihoodOptions, type LikelihoodResult } from './likelihood.js';
export { randNormal, randUniform, type RandomOptions } from './random.js';
