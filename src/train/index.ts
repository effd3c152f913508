/**
 * train — training runs: the Trainer (data source, path, coupling, AdamW, schedule, EMA, clipping,
 * label dropout, paced loss reads, progress, cancellation, divergence checks), its resumable state
 * as bytes, and reflow / one-step distillation.
 */
export {
  Trainer, TrainingDiverged, lrSchedule,
  type TrainerOptions, type DataSource, type TrainBatch, type CouplingName, type RunHooks, type TrainProgress, type TrainResult, type TrainObjective,
} from './trainer.js';
export { encodeRunState, restoreRunState, encodeModelFile, CHECKPOINT_FILE, MODEL_FILE, type History, type TrainingState, type WeightsKind } from './state.js';
export {
  reflowPairs, pairSource, reflowTrainer, compareFewStep, DISTILL_T, REFLOW_NOISE_STREAM, type FewStepOptions, type FewStepReport, type ReflowPairs, type ReflowPairOptions, type ReflowTrainOptions,
} from './reflow.js';
