/**
 * Discrete flow matching benches (issue 13): one training step of the 2-D token MLP on the
 * checkerboard (the mixture path drawn in one dispatch, the MLP, the fused generalized KL + its
 * gradient, backward, AdamW; one submit, nothing read back), and one 64-step discrete Euler (CTMC)
 * sampling run of 10 000 sequences (model + one fused step kernel per step).
 *
 * The model is `flowgpu train discrete`'s default: embedding 64 per token (V = 129 with the mask),
 * Linear(2·64 + 1, 256), SiLU, 2×[Linear(256, 256), SiLU], Linear(256, 2·128); batch 512.
 */
import { gpu, keep, tensor } from '../src/internal.js';
import { discreteCheckerboard } from '../src/discrete/data.js';
import { polynomialKappa } from '../src/discrete/kernels.js';
import { TokenMLP } from '../src/discrete/model.js';
import { discreteEuler, discreteSource } from '../src/discrete/sample.js';
import { discreteStep } from '../src/discrete/train.js';
import { AdamW } from '../src/optim/adamw.js';
import { register } from './registry.js';

const MODEL = { length: 2, categories: 128, vocabulary: 129, embed: 64, hidden: 256, hiddenLayers: 3 };
const SPACE = { categories: 128, source: 'mask' as const, scheduler: polynomialKappa(1) };
const BATCH = 512;
const SEQUENCES = 10000;

/** Matmul FLOPs of one forward of the token MLP on n sequences. */
const forwardFlops = (n: number) => 2 * n * ((2 * 64 + 1) * 256 + 2 * 256 * 256 + 256 * 256);

register({
  name: 'e2e/train-discrete-2d',
  group: 'e2e',
  config: { model: 'token MLP 3×256, embed 64', batch: BATCH, loss: 'generalized KL', source: 'mask', optimizer: 'AdamW lr 1e-3' },
  quick: true,
  async setup() {
    const model = new TokenMLP(MODEL, 1);
    model.flatten();
    const opt = new AdamW(model, { lr: 1e-3, weightDecay: 0 });
    const batches = [1, 2].map((s) => keep(tensor(discreteCheckerboard(BATCH, s), [BATCH, 2], 'i32')));
    return {
      kind: 'step',
      count: true,
      flops: 3 * forwardFlops(BATCH),
      notes: { flops: '3 × forward matmuls' },
      step(i) {
        discreteStep(model, batches[i % 2], { ...SPACE, seed: 1, step: i + 1, update: opt }).dispose();
      },
      settle: () => gpu().sync(),
      dispose() {
        batches.forEach((b) => b.dispose());
        opt.m.dispose();
        opt.v.dispose();
        model.dispose();
      },
    };
  },
});

register({
  name: 'e2e/sample-discrete-2d',
  group: 'e2e',
  config: { model: 'token MLP 3×256, embed 64', sequences: SEQUENCES, solver: 'discrete Euler', steps: 64, quickSteps: 8 },
  quick: true,
  async setup(ctx) {
    const steps = ctx.quick ? 8 : 64;
    const model = new TokenMLP(MODEL, 1);
    const g = gpu();
    return {
      kind: 'step',
      count: true,
      maxReps: 1,
      flops: steps * forwardFlops(SEQUENCES),
      notes: { steps, fullSteps: 64, note: 'a repetition is one whole sampling run of `steps` steps' },
      step(i) {
        const x0 = discreteSource(SEQUENCES, 2, SPACE, 7, i);
        discreteEuler(model, x0, { ...SPACE, steps, seed: i }).dispose();
        x0.dispose();
      },
      settle: () => g.sync(),
      dispose: () => model.dispose(),
    };
  },
});
