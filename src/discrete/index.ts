/**
 * discrete — discrete flow matching over tokens (Gat et al. 2024): the mixture path with a uniform
 * or mask source and the polynomial scheduler κ_t = tⁿ, the cross-entropy and generalized-KL losses
 * (forward and gradient fused), the token MLP, the discrete Euler (CTMC) sampler with the optional
 * divergence-free term, the stratified ELBO, classifier-free guidance in logit space (experimental),
 * the exact posterior of a small pmf, the 2-D token data sets, and images as tokens (K gray levels).
 */
export {
  polynomialKappa, sampleMixturePath, vocabulary, eulerCoefficients, eulerStepRaw, generalizedKLTerms,
  type DiscreteSource, type KappaScheduler, type TokenSpace, type MixturePathOptions, type EulerCoefficients, type FusedLoss,
} from './kernels.js';
export { carryUnmasked, generalizedKL, tokenCrossEntropy } from '../autograd/discrete.js';
export { TokenMLP, tokenMLPConfig, type TokenMLPConfig } from './model.js';
export {
  discreteStep, discreteObjective, discreteSpaceOf, tokenCategories,
  type DiscreteLoss, type DiscreteStepOptions, type DiscreteObjectiveOptions,
} from './train.js';
export {
  discreteEuler, discreteSample, discreteElbo, discreteSource, divergenceFreeWeight, guidedLogits, timeGrid,
  type DiscreteModel, type DiscreteEulerOptions, type DiscreteSampleOptions, type DiscreteElboOptions,
} from './sample.js';
export { exactPosteriorModel } from './exact.js';
export {
  discreteCheckerboard, discreteMoons, checkerboardPmf, sampleTokens2D, tokenBatches, TOKEN_2D_CATEGORIES, type Token2DName,
  quantizeLevels, dequantizeLevels, tokenImages, tokenImageBatches, type TokenImages,
} from './data.js';
export { tokenHistogram, histogramPmf, supportAndTV, entropy } from './eval.js';
