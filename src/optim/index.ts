/** optim — AdamW over all parameters in one dispatch (with clipping and the EMA fused in), EMA, learning-rate schedules. */
export { AdamW, type AdamWOptions } from './adamw.js';
export { EMA, type EMAOptions } from './ema.js';
export { learningRate, warmupCosine, checkSchedule, type LrScheduleConfig } from './schedule.js';
