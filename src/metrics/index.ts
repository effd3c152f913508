/**
 * metrics — sample quality: sliced 2-Wasserstein and RBF MMD² for points (with the data-vs-data
 * floor), the Fréchet distance, and the MNIST judge (an in-engine classifier's FD, accuracy overall
 * and per class, class histogram, and the within-class distance of labelled digits).
 */
export {
  slicedWasserstein2, mmdRbf, sampleQuality, sampleQualityAgainst, formatQuality, type QualityReport, type QualityOptions,
} from './twod.js';
export { frechetDistance, gaussianStats, type GaussianStats } from './fid.js';
export {
  DigitClassifier, defaultClassifierConfig, trainDigitClassifier, encodeClassifier, decodeClassifier, makeMnistJudge,
  evaluateMnistSamples, sampleFigures, formatMnistEval, classifyPixels, accuracy, classHistogram, imageSamplesFrom, digitLabelsFrom, HELD_OUT_START,
  classAccuracy, withinClassDistance, judgeDigits, type DigitFigures,
  type ClassifierConfig, type MnistJudge, type MnistEvalReport, type EvalRow, type Classified,
} from './mnist-judge.js';
