/**
 * metrics — sample quality: sliced 2-Wasserstein and RBF MMD² for points (with the data-vs-data
 * floor), the Fréchet distance, and the MNIST judge (an in-engine classifier's FD, accuracy and
 * class histogram).
 */
export {
  slicedWasserstein2, mmdRbf, sampleQuality, sampleQualityAgainst, formatQuality, type QualityReport, type QualityOptions,
} from './twod.js';
export { frechetDistance, gaussianStats, type GaussianStats } from './fid.js';
export {
  DigitClassifier, defaultClassifierConfig, trainDigitClassifier, encodeClassifier, decodeClassifier, makeMnistJudge,
  evaluateMnistSamples, sampleFigures, formatMnistEval, classifyPixels, accuracy, classHistogram, imageSamplesFrom, digitLabelsFrom, HELD_OUT_START,
  type ClassifierConfig, type MnistJudge, type MnistEvalReport, type EvalRow, type Classified,
} from './mnist-judge.js';
