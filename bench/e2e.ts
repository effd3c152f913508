/**
 * End-to-end benches: one full flow-matching training step (upload x1, draw x0 and t, forward, loss,
 * backward, AdamW, EMA — one submit, nothing read back) for the toy configs and the MNIST models,
 * and sampling 10 000 2-D points with Euler and midpoint steps (model B, the width DESIGN.md's tfjs
 * sampling measurement used: 100 Euler steps in ≈27 s on lavapipe).
 *
 * Toy configs (the checkerboard reference of DESIGN.md):
 *   A: MLP on concat[x, t]: Linear(3,512), SiLU, 3×[Linear(512,512), SiLU], Linear(512,2); batch 4096
 *   B: Linear(3,128), SiLU, 2×[Linear(128,128), SiLU], Linear(128,2); batch 1024
 * Both: CondOT path, t ~ U(0,1), AdamW lr 1e-3 with weight decay 0 (= Adam), EMA 0.999 fused into
 * the optimiser's dispatch. x1 comes from a pool of host batches uploaded one per step, as a
 * training loop does.
 */
import { empty, gpu, keep, tensor, type Tensor } from '../src/internal.js';
import { checkerboard } from '../src/data/toy.js';
import { condOT } from '../src/flow/schedulers.js';
import { flowMatchingStep, type VelocityModel } from '../src/flow/train.js';
import { integrateFixed, timeAsTensor } from '../src/flow/solvers.js';
import { randNormal } from '../src/flow/random.js';
import { AdamW } from '../src/optim/adamw.js';
import { EMA } from '../src/optim/ema.js';
import { VelocityMLP } from '../src/nn/mlp.js';
import { UNet, defaultUNetConfig } from '../src/nn/unet.js';
import type { Module } from '../src/nn/module.js';
import { register, type BenchContext, type StepCase } from './registry.js';

export interface ToyConfig {
  hidden: number;
  hiddenLayers: number;
  batch: number;
}

/** A velocity MLP training entry peers mirror: its config, its feature count and its host batches. */
export interface MlpTrainSpec extends ToyConfig {
  /** The flowgpu entry, e.g. `e2e/train-A`. */
  entry: string;
  dim: number;
  batches(batch: number): Float32Array[];
  quick: boolean;
}

export const TOY: Record<'A' | 'B', ToyConfig> = {
  A: { hidden: 512, hiddenLayers: 4, batch: 4096 },
  B: { hidden: 128, hiddenLayers: 3, batch: 1024 },
};

/** FLOPs of one MLP forward (matmuls only) on `rows` rows: 2·rows·Σ in·out. */
export function mlpForwardFlops(c: ToyConfig, rows: number, dim = 2): number {
  const widths = [dim + 1, ...Array(c.hiddenLayers).fill(c.hidden), dim];
  let s = 0;
  for (let i = 0; i + 1 < widths.length; i++) s += widths[i] * widths[i + 1];
  return 2 * rows * s;
}

/** Host batches of checkerboard data, uploaded round-robin (4 distinct batches). */
export function toyBatches(batch: number): Float32Array[] {
  return [1, 2, 3, 4].map((s) => checkerboard(batch, s));
}

interface TrainSetup {
  model: VelocityModel & Module;
  x1: Tensor;
  batches: Float32Array[];
  opt: AdamW;
  ema: EMA;
  /** Class labels of the batch, for a conditional model. */
  cond?: Tensor;
}

function trainCase(make: () => TrainSetup, flops: number, notes: Record<string, unknown>): StepCase {
  const s = make();
  const scheduler = condOT();
  const g = gpu();
  return {
    kind: 'step',
    count: true,
    flops,
    notes,
    step(i) {
      const data = s.batches[i % s.batches.length];
      g.upload(s.x1.pooled, s.x1.offset * 4, data);
      flowMatchingStep(s.model, s.x1, { scheduler, seed: 1, step: i + 1, update: s.opt, cond: s.cond }).dispose();
    },
    settle: () => g.sync(),
    dispose() {
      s.x1.dispose();
      s.cond?.dispose();
      s.opt.m.dispose();
      s.opt.v.dispose();
      s.ema.shadow.dispose();
      s.model.dispose();
    },
  };
}

/** The labels of a conditional bench batch: the same every step, every class present. */
function fixedLabels(batch: number, classes: number): Tensor {
  return keep(tensor(Int32Array.from({ length: batch }, (_, i) => (i * 7) % classes), [batch], 'i32'));
}

/**
 * A VelocityMLP on `dim` features (and `condDim` one-hot classes, with fixed labels), its EMA
 * (0.999) fused into AdamW (lr 1e-3, no weight decay), and the x1 buffer the batches go to.
 */
export function mlpTrainSetup(c: ToyConfig, dim: number, batches: Float32Array[], o: { seed?: number; condDim?: number } = {}): TrainSetup {
  const condDim = o.condDim ?? 0;
  const model = new VelocityMLP({ dim, hidden: c.hidden, hiddenLayers: c.hiddenLayers, condDim }, o.seed ?? 1);
  const ema = new EMA(model, { decay: 0.999 });
  const opt = new AdamW(model, { lr: 1e-3, weightDecay: 0, ema });
  const cond = condDim ? fixedLabels(c.batch, condDim) : undefined;
  return { model, x1: keep(empty([c.batch, dim])), batches, opt, ema, cond };
}

export function toyTrainSetup(c: ToyConfig, seed = 1): TrainSetup {
  return mlpTrainSetup(c, 2, toyBatches(c.batch), { seed });
}

for (const key of ['A', 'B'] as const) {
  const c = TOY[key];
  register({
    name: `e2e/train-${key}`,
    group: 'e2e',
    config: { model: `MLP ${c.hiddenLayers}×${c.hidden} SiLU`, batch: c.batch, optimizer: 'AdamW lr 1e-3 wd 0 + EMA 0.999', path: 'CondOT' },
    quick: true,
    async setup() {
      // forward + backward (dX and dW) ≈ 3× the forward's matmul FLOPs
      return trainCase(() => toyTrainSetup(c), 3 * mlpForwardFlops(c, c.batch), { flops: '3 × forward matmuls' });
    },
  });
}

// MNIST: the MLP on flattened 28×28 images (784 + 1 → 1024 ×3 → 784) and the default UNet.
export const MNIST_MLP: ToyConfig = { hidden: 1024, hiddenLayers: 3, batch: 128 };

export function mnistBatches(batch: number, pixels: number): Float32Array[] {
  // synthetic digits-shaped data in [-1, 1]: speed does not depend on the pixels
  return [1, 2].map((s) => {
    const a = new Float32Array(batch * pixels);
    let r = s;
    for (let i = 0; i < a.length; i++) {
      r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
      a[i] = (r >>> 8) / 2 ** 23 - 1;
    }
    return a;
  });
}

register(
  {
    name: 'e2e/train-mnist-mlp',
    group: 'e2e',
    config: { model: 'MLP 3×1024 SiLU on 784 pixels', batch: 128, optimizer: 'AdamW lr 1e-3 wd 0 + EMA 0.999' },
    quick: false,
    async setup() {
      const c = MNIST_MLP;
      return trainCase(
        () => mlpTrainSetup(c, 784, mnistBatches(c.batch, 784)),
        3 * mlpForwardFlops(c, c.batch, 784),
        { flops: '3 × forward matmuls' },
      );
    },
  },
  {
    // the README's model: `flowgpu train mnist --size 16 --model mlp --cond --hidden 512 --layers 3 --batch 64`
    name: 'e2e/train-mnist16-cond-mlp',
    group: 'e2e',
    config: { model: 'MLP 3×512 SiLU on concat[16×16 pixels, t, one-hot class]', batch: 64, optimizer: 'AdamW lr 1e-3 wd 0 + EMA 0.999' },
    quick: true,
    async setup() {
      const c = { hidden: 512, hiddenLayers: 3, batch: 64 };
      return trainCase(
        () => mlpTrainSetup(c, 256, mnistBatches(c.batch, 256), { condDim: 10 }),
        // the one-hot columns are 10 of the first layer's inputs
        3 * mlpForwardFlops(c, c.batch, 256) + 3 * 2 * c.batch * 10 * c.hidden,
        { flops: '3 × forward matmuls' },
      );
    },
  },
  {
    name: 'e2e/train-mnist-unet',
    group: 'e2e',
    config: { model: 'UNet (defaultUNetConfig(28, 0): 32 base channels, mults 1-2-2, 2 res blocks)', batch: 128, optimizer: 'AdamW lr 2e-4 wd 0 + EMA 0.999' },
    quick: false,
    unavailable: (ctx) => (ctx.quick ? 'minutes per step on a CPU driver' : null),
    async setup() {
      return trainCase(() => unetTrainSetup(28, 0, 128), 0, {});
    },
  },
  {
    // `flowgpu train mnist --size 16 --model unet --cond --batch 32`
    name: 'e2e/train-mnist16-cond-unet',
    group: 'e2e',
    config: { model: 'UNet (defaultUNetConfig(16, 10): 32 base channels, mults 1-2-2, 2 res blocks, 10 classes)', batch: 32, optimizer: 'AdamW lr 2e-4 wd 0 + EMA 0.999' },
    quick: false,
    async setup() {
      return trainCase(() => unetTrainSetup(16, 10, 32), 0, {});
    },
  },
);

/** The default UNet for `size`×`size` images (`classes` > 0: conditional, fixed labels) with its EMA and AdamW. */
function unetTrainSetup(size: 16 | 28, classes: number, batch: number): TrainSetup {
  const model = new UNet(defaultUNetConfig(size, classes), { seed: 1 });
  const ema = new EMA(model, { decay: 0.999 });
  const opt = new AdamW(model, { lr: 2e-4, weightDecay: 0, ema });
  const cond = classes ? fixedLabels(batch, classes) : undefined;
  return { model, x1: keep(empty([batch, 1, size, size])), batches: mnistBatches(batch, size * size), opt, ema, cond };
}

/** The MLP training entries the peers mirror (same model, batch, data, optimiser). */
export const MLP_TRAIN_SPECS: MlpTrainSpec[] = [
  { entry: 'e2e/train-A', dim: 2, ...TOY.A, batches: toyBatches, quick: true },
  { entry: 'e2e/train-B', dim: 2, ...TOY.B, batches: toyBatches, quick: true },
  { entry: 'e2e/train-mnist-mlp', dim: 784, ...MNIST_MLP, batches: (b) => mnistBatches(b, 784), quick: false },
];

// ------------------------------------------------------------------ sampling

export const SAMPLE_POINTS = 10000;

/** Steps each sampling bench integrates: the full count, or a tenth under --quick (per-step time is reported). */
export function sampleSteps(solver: 'euler' | 'midpoint', ctx: BenchContext): number {
  const full = solver === 'euler' ? 100 : 50;
  return ctx.quick ? full / 10 : full;
}

for (const solver of ['euler', 'midpoint'] as const) {
  register({
    name: `e2e/sample-${solver}`,
    group: 'e2e',
    config: { model: 'toy B (3×128)', points: SAMPLE_POINTS, solver, steps: solver === 'euler' ? 100 : 50, quickSteps: solver === 'euler' ? 10 : 5 },
    quick: true,
    async setup(ctx) {
      const steps = sampleSteps(solver, ctx);
      const model = new VelocityMLP({ dim: 2, hidden: TOY.B.hidden, hiddenLayers: TOY.B.hiddenLayers }, 1);
      const v = timeAsTensor((x, t) => model.forward(x, t));
      const g = gpu();
      const nfe = steps * (solver === 'euler' ? 1 : 2);
      return {
        kind: 'step',
        count: true,
        maxReps: 1,
        flops: nfe * mlpForwardFlops(TOY.B, SAMPLE_POINTS),
        notes: { steps, fullSteps: solver === 'euler' ? 100 : 50, note: 'a repetition is one whole sampling run of `steps` steps' },
        step(i) {
          const x0 = randNormal([SAMPLE_POINTS, 2], { seed: 7, step: i });
          const r = integrateFixed(v, x0, { solver, steps });
          g.flush();
          x0.dispose();
          r.x.dispose();
        },
        settle: () => g.sync(),
        dispose: () => model.dispose(),
      };
    },
  });
}
