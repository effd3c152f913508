/**
 * `flowgpu train mnist` and the MNIST side of `flowgpu sample`: a flow on MNIST digits (28×28, or
 * 16×16 by area averaging), with a small UNet or an MLP as the velocity network, optionally
 * class-conditional with label dropout for classifier-free guidance. Writes, into --out DIR:
 * model.safetensors, checkpoint.safetensors, samples.npy ([N, 1, H, W] in [0, 1]),
 * samples.labels.npy (int32 [N], conditional runs), grid.png, loss.png, metrics.json.
 *
 * Pixels: the model sees x = 2p − 1; samples are written as p = clamp((x + 1)/2, 0, 1)
 * (src/data/mnist.ts). The MLP works on the flattened image: Linear(S² + 1 + C, H), SiLU, …,
 * Linear(H, S²) on concat[x, t, one-hot(c)] (C = 10 when conditional, a zero one-hot row being the
 * null class ∅); the UNet is src/nn/unet.ts.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad } from '../autograd/tape.js';
import { reshape } from '../autograd/ops.js';
import { EpochSampler, MnistDataset, modelToPixels } from '../data/mnist.js';
import { randNormal } from '../flow/random.js';
import { condOT } from '../flow/schedulers.js';
import { sample, type SolverName } from '../flow/solvers.js';
import { flowMatchingStep } from '../flow/train.js';
import { FlowGpuError } from '../gpu/errors.js';
import { writeNpy, writePng } from '../io/node-files.js';
import { readMnist } from '../io/node-mnist.js';
import { imageGrid } from '../io/plot.js';
import type { RasterImage } from '../io/png.js';
import { guidedVelocity, GuidanceLabels } from '../nn/guidance.js';
import { mlpConfig, VelocityMLP, type VelocityMLPConfig } from '../nn/mlp.js';
import { HostRng, type Module } from '../nn/module.js';
import { defaultUNetConfig, UNet, type UNetConfig } from '../nn/unet.js';
import { full, keep, type Tensor } from '../tensor/tensor.js';
import { num, oneOf, parse } from './args.js';
import { HelpRequest, UsageError } from './errors.js';
import { adapterName, finishRun, LOOP_OPTIONS, loopSettings, type LoopSettings, makeOptimizer, trainLoop, withGpu, withSamplingWeights } from './loop.js';
import type { LoadedModel } from './model-file.js';
import type { History } from './runstate.js';

export const MNIST_HELP = `flowgpu train mnist [options]

  --size 16|28           image side: the 28×28 originals or 16×16 area-averaged (default 28)
  --model unet|mlp       velocity network (default unet)
  --cond                 class-conditional (label dropout --label-dropout for guidance)
  --steps N              training steps (default 20000)
  --batch N              batch size (default 128)
  --hidden N             MLP width (default 1024) | UNet base channels (default 32)
  --layers N             MLP hidden layers (default 3) | UNet residual blocks per level (default 2)
  --lr X                 AdamW learning rate (default 1e-3 for the MLP, 2e-4 for the UNet)
  --warmup N             warm-up steps, then cosine decay (default 0 = constant lr)
  --weight-decay X       AdamW weight decay (default 0)
  --grad-clip X          clip gradients to this global norm (default 1; 0 = off)
  --ema D                EMA decay of the sampling weights (default 0.999; 0 = off)
  --label-dropout P      conditional runs: probability of the null class in training (default 0.1)
  --limit N              train on the first N training images only (default all 60 000)
  --seed N               seed (default 0): same seed, same adapter → same run
  --out DIR              output directory (default runs/mnist-<size>-<model>[-cond])
  --resume               continue the run in --out from its checkpoint
  --log-every K          read the loss back every K steps (default 50)
  --ckpt-every N         checkpoint every N steps, a multiple of --log-every (default 500)
  --profile              time every kernel of 10 steps on the GPU and print where a step's time goes
  --samples N            images to sample at the end (default 1000; per class when conditional)
  --solver NAME          euler | midpoint | heun | rk4 | dopri5 (default midpoint)
  --nfe N                velocity evaluations for the final samples (default 40)
  --guidance W           classifier-free guidance scale of the final samples (default 1 = plain conditional)

Writes DIR/model.safetensors, checkpoint.safetensors, samples.npy ([N, 1, H, W] in [0, 1]),
samples.labels.npy (int32 [N], with --cond), grid.png (10×10; one row per class with --cond),
loss.png and metrics.json. Judge the samples with \`flowgpu eval mnist DIR/samples.npy\`.

The defaults are for a real GPU. On a software driver (lavapipe on 2 cores) a 16×16 UNet step takes
about 2 s at batch 16 (3.5 s at batch 32); see the README for an unconditional UNet trained that
way. The conditional MLP gives readable 16×16 digits there in under half an hour
(measured: 8000 steps in 23 min on 2 cores; sampling FD 10.6, 97.6% of digits read as the
requested class by \`flowgpu eval mnist\`; 3000 steps at batch 64 take 6 min, FD ≈ 16–33):
  flowgpu train mnist --size 16 --model mlp --cond --hidden 512 --layers 3 --batch 128 --steps 8000 --warmup 200 --guidance 2
Keep the MLP's --hidden above the image's 256 pixels (it must carry the noise through to remove
it): --hidden 256, batch 128, 3000 steps left speckled samples (FD 81 against 54 at 512, guidance 1).
`;

const OPTIONS = {
  ...LOOP_OPTIONS,
  size: { type: 'string' },
  model: { type: 'string' },
  cond: { type: 'boolean' },
  'label-dropout': { type: 'string' },
  limit: { type: 'string' },
  guidance: { type: 'string' },
} as const;

/** Everything that defines an MNIST run; stored in the checkpoints' metadata. */
export interface MnistConfig extends LoopSettings {
  kind: 'mnist';
  size: 16 | 28;
  arch: 'mlp' | 'unet';
  cond: boolean;
  /** Probability of replacing a label by ∅ in training (conditional runs). */
  labelDropout: number;
  /** Train on the first `limit` training images (null: all). */
  limit: number | null;
  model: VelocityMLPConfig | UNetConfig;
}

export interface MnistRunOptions {
  cfg: MnistConfig;
  out: string;
  resume: boolean;
  /** --profile: print where a step's time goes. */
  profile?: boolean;
  ckptEvery: number;
  samples: number;
  solver: SolverName;
  nfe: number;
  guidance: number;
}

export function mnistConfig(argv: string[]): MnistRunOptions {
  const { values: v } = parse(argv, OPTIONS) as { values: Record<string, string | undefined> & { cond?: boolean; resume?: boolean; help?: boolean } };
  if (v.help) throw new HelpRequest(MNIST_HELP);
  const size = Number(oneOf(v.size ?? '28', 'size', ['16', '28'] as const)) as 16 | 28;
  const arch = oneOf(v.model ?? 'unet', 'model', ['unet', 'mlp'] as const);
  const cond = !!v.cond;
  const classes = cond ? 10 : 0;
  const hidden = num(v.hidden ?? (arch === 'mlp' ? 1024 : 32), 'hidden', { int: true, min: 1 });
  const layers = num(v.layers ?? (arch === 'mlp' ? 3 : 2), 'layers', { int: true, min: 1 });
  let model: VelocityMLPConfig | UNetConfig;
  if (arch === 'mlp') {
    model = mlpConfig({ dim: size * size, hidden, hiddenLayers: layers, condDim: classes });
  } else {
    if (hidden % 8 !== 0) throw new UsageError(`--hidden is the UNet's base channel count: a multiple of 8 (its GroupNorm groups), got ${hidden}`);
    model = { ...defaultUNetConfig(size, classes), baseChannels: hidden, numResBlocks: layers };
  }
  const { loop, ckptEvery, resume, profile, samples, solver, nfe } = loopSettings(v, { steps: 20000, batch: 128, lr: arch === 'mlp' ? 1e-3 : 2e-4, gradClip: 1, samples: 1000 });
  const cfg: MnistConfig = {
    kind: 'mnist',
    size,
    arch,
    cond,
    labelDropout: cond ? num(v['label-dropout'] ?? 0.1, 'label-dropout', { min: 0, max: 1 }) : 0,
    ...loop,
    limit: v.limit === undefined ? null : num(v.limit, 'limit', { int: true, min: 1 }),
    model,
  };
  if (cfg.limit !== null && cfg.batch > cfg.limit) throw new UsageError(`--batch (${cfg.batch}) exceeds --limit (${cfg.limit}) training images`);
  if (cond && samples % 10 !== 0) throw new UsageError(`--samples must be a multiple of 10 for a conditional run (the same number of each digit), got ${samples}`);
  return {
    cfg,
    out: v.out ?? join('runs', `mnist-${size}-${arch}${cond ? '-cond' : ''}`),
    resume,
    profile,
    ckptEvery,
    samples,
    solver,
    nfe,
    guidance: num(v.guidance ?? 1, 'guidance'),
  };
}

// ------------------------------------------------------------------ the network

/** v(x, t, labels?) on images [N, 1, S, S] with t [N] and i32 labels [N] (−1 = ∅). */
export interface ImageVelocity {
  module: Module;
  forward: (x: Tensor, t: Tensor, labels?: Tensor) => Tensor;
}

/** Builds the velocity network of an MNIST config (PyTorch-default initialisation from `seed`). */
export function mnistNet(cfg: Pick<MnistConfig, 'arch' | 'size' | 'cond' | 'model'>, seed = 0): ImageVelocity {
  if (cfg.arch === 'mlp') {
    const m = new VelocityMLP(cfg.model as VelocityMLPConfig, seed);
    const d = cfg.size * cfg.size;
    return {
      module: m,
      forward: (x, t, labels) => reshape(m.forward(reshape(x, [x.shape[0], d]), t, cfg.cond ? labels : undefined), x.shape),
    };
  }
  if (cfg.arch === 'unet') {
    const m = new UNet(cfg.model as UNetConfig, { seed });
    return { module: m, forward: (x, t, labels) => m.forward(x, t, cfg.cond ? labels : undefined) };
  }
  throw new FlowGpuError(`unknown MNIST model '${String(cfg.arch)}' (mlp or unet)`);
}

// ------------------------------------------------------------------ sampling

/** How to pick the class labels of conditional samples. */
export type LabelMode = { kind: 'random' } | { kind: 'class'; k: number } | { kind: 'per-class' };

/** The labels of n conditional samples: uniform random (seeded), all k, or n/10 of each digit in order. */
export function sampleLabels(n: number, mode: LabelMode, seed: number): Int32Array {
  const out = new Int32Array(n);
  if (mode.kind === 'class') return out.fill(mode.k);
  if (mode.kind === 'per-class') {
    if (n % 10 !== 0) throw new UsageError(`--per-class needs --n to be a multiple of 10, got ${n}`);
    for (let i = 0; i < n; i++) out[i] = Math.floor(i / (n / 10));
    return out;
  }
  const rng = new HostRng((seed ^ 0x6c8e9cf5) >>> 0);
  for (let i = 0; i < n; i++) out[i] = rng.int(10);
  return out;
}

export interface SolveOptions {
  solver: SolverName;
  /** Velocity evaluations (fixed-step solvers); `steps` wins when given. */
  nfe?: number;
  steps?: number;
  /** Conditional models: the label of each row (null: unconditional). */
  labels: Int32Array | null;
  /** Classifier-free guidance scale (1 = plain conditional). */
  guidance: number;
  /** Rows per solver run (bounds GPU memory). */
  chunk: number;
}

/**
 * Integrates dx/dt = v(x, t[, c]) from t = 0 to 1 for n rows, `chunk` at a time; `source(at, m, c)`
 * puts the starting states of rows at … at + m − 1 (chunk c) on the GPU. Any row shape (2-D toys
 * [m, 2], images [m, 1, S, S]). Returns the final states on the host and the evaluations per row.
 */
export async function solveFlow(
  forward: ImageVelocity['forward'],
  n: number,
  source: (at: number, m: number, chunkIndex: number) => Tensor,
  o: SolveOptions,
): Promise<{ x: Float32Array; nfe: number }> {
  let out: Float32Array | null = null;
  let nfe = 0;
  for (let c = 0, at = 0; at < n; c++, at += o.chunk) {
    const m = Math.min(o.chunk, n - at);
    const x0 = noGrad(() => keep(source(at, m, c)));
    const lab = o.labels ? new GuidanceLabels(o.labels.subarray(at, at + m)) : null;
    const v = (x: Tensor, t: number) => {
      const tt = full([m], t);
      return lab ? guidedVelocity({ forward }, x, tt, lab, o.guidance) : forward(x, tt);
    };
    try {
      const res = await noGrad(() => sample(v, x0, { solver: o.solver, nfe: o.nfe, steps: o.steps }));
      const x = await res.x.f32();
      res.x.dispose();
      const row = x.length / m;
      out ??= new Float32Array(n * row);
      out.set(x, at * row);
      nfe = res.nfe;
    } finally {
      lab?.dispose();
      x0.dispose();
    }
  }
  return { x: out ?? new Float32Array(0), nfe };
}

/** The N(0, I) source of chunk `chunkIndex` of a sampling run: fixed by (seed, chunk), drawn on the GPU. */
export function imageNoise(n: number, size: number, seed: number, chunkIndex: number): Tensor {
  return randNormal([n, 1, size, size], { seed, step: chunkIndex });
}

/** Samples n images (model space, host [n·S²]) from x0 ~ N(0, I) drawn from `seed`. */
export function sampleImages(
  net: ImageVelocity,
  size: number,
  o: Omit<SolveOptions, 'chunk'> & { n: number; seed: number; chunk?: number },
): Promise<{ x: Float32Array; nfe: number }> {
  const chunk = o.chunk ?? (net.module instanceof UNet ? 100 : 1000);
  return solveFlow(net.forward, o.n, (_at, m, c) => imageNoise(m, size, o.seed, c), { ...o, chunk });
}

/**
 * 100 images [100, 1, S, S] for a 10×10 grid: with labels, row k holds the first (up to) ten samples
 * of digit k (empty cells stay gray); without, the first 100 samples.
 */
export function gridImages(pixels: Float32Array, labels: Int32Array | null, size: number): { images: Float32Array; count: number } {
  const d = size * size;
  const n = pixels.length / d;
  if (!labels) {
    const count = Math.min(100, n);
    return { images: pixels.slice(0, count * d), count };
  }
  const images = new Float32Array(100 * d).fill(NaN);
  const used = new Array<number>(10).fill(0);
  for (let i = 0; i < n; i++) {
    const k = labels[i];
    if (k < 0 || k > 9 || used[k] >= 10) continue;
    images.set(pixels.subarray(i * d, (i + 1) * d), (k * 10 + used[k]) * d);
    used[k]++;
  }
  return { images, count: 100 };
}

/** The 10×10 PNG grid of samples in [0, 1] (see gridImages). */
export function sampleGrid(pixels: Float32Array, labels: Int32Array | null, size: number): RasterImage {
  const { images, count } = gridImages(pixels, labels, size);
  const img = imageGrid(images, count, size, size, { cols: 10, scale: size <= 16 ? 3 : 2, gap: 2 });
  return img;
}

/** s.npy → s.labels.npy (DESIGN.md: labels in a sibling .npy). */
export function labelsPath(npy: string): string {
  return npy.endsWith('.npy') ? npy.slice(0, -4) + '.labels.npy' : npy + '.labels.npy';
}

/** Writes images [N, 1, S, S] in [0, 1] (f32) and, when given, their labels (int32 [N]). */
export function writeImageSamples(path: string, pixels: Float32Array, size: number, labels: Int32Array | null): string[] {
  const n = pixels.length / (size * size);
  writeNpy(path, pixels, [n, 1, size, size]);
  if (!labels) return [path];
  writeNpy(labelsPath(path), labels, [n]);
  return [path, labelsPath(path)];
}

// ------------------------------------------------------------------ train mnist

export function trainMnist(argv: string[]): Promise<number> {
  const opts = mnistConfig(argv);
  return withGpu(() => runMnist(opts));
}

/** Trains, samples and writes the run's files (the GPU runtime must be initialised). */
export async function runMnist(opts: MnistRunOptions): Promise<{ history: History; pixels: Float32Array; labels: Int32Array | null }> {
  const { cfg, out, resume, ckptEvery } = opts;
  mkdirSync(out, { recursive: true });
  const host = readMnist('train');
  const data = new MnistDataset(host, { size: cfg.size, limit: cfg.limit ?? undefined });
  const batches = new EpochSampler(data.count, cfg.batch, cfg.seed);
  const net = mnistNet(cfg, cfg.seed);
  const model = net.module;
  const trainer = makeOptimizer(model, cfg);
  const { opt, ema, lrAt } = trainer;
  const scheduler = condOT();
  const stepModel = { forward: net.forward, parameters: () => model.parameters(), zeroGrad: () => model.zeroGrad() };
  try {
    const result = await trainLoop({
      ...opts,
      ...trainer,
      config: cfg,
      model,
      header:
        `flowgpu train mnist: ${cfg.size}×${cfg.size} ${cfg.arch}${cfg.cond ? ' (class-conditional)' : ''}, ${model.parameterCount()} parameters, ` +
        `${data.count} images, batch ${cfg.batch}, ${cfg.steps} steps on ${adapterName()}`,
      start: (s) => batches.seek(s),
      step: (s) => {
        const { x, labels } = data.batch(batches.next());
        try {
          return flowMatchingStep(stepModel, x, {
            scheduler,
            seed: cfg.seed,
            step: s,
            update: () => opt.step(lrAt(s)),
            cond: cfg.cond ? labels : undefined,
            labelDropout: cfg.cond && cfg.labelDropout > 0 ? { p: cfg.labelDropout, nullLabel: -1 } : null,
          });
        } finally {
          x.dispose();
          labels.dispose();
        }
      },
    });
    data.dispose();

    const labels = cfg.cond ? sampleLabels(opts.samples, { kind: 'per-class' }, cfg.seed) : null;
    const t0 = Date.now();
    const res = await withSamplingWeights(ema, () =>
      sampleImages(net, cfg.size, { n: opts.samples, solver: opts.solver, nfe: opts.nfe, seed: cfg.seed, labels, guidance: opts.guidance }),
    );
    const sampleSeconds = (Date.now() - t0) / 1000;
    const pixels = modelToPixels(res.x);
    writeImageSamples(join(out, 'samples.npy'), pixels, cfg.size, labels);
    writePng(join(out, 'grid.png'), sampleGrid(pixels, labels, cfg.size));
    await finishRun({
      out,
      config: cfg,
      model,
      ema,
      result,
      resume,
      lossTitle: `CFM loss (MNIST ${cfg.size}×${cfg.size} ${cfg.arch})`,
      head: { size: cfg.size, model: cfg.arch, cond: cfg.cond },
      tail: { sampler: { solver: opts.solver, nfe: res.nfe, n: opts.samples, guidance: opts.guidance, seconds: sampleSeconds } },
    });
    const files = ['model.safetensors', 'checkpoint.safetensors', 'samples.npy', ...(labels ? ['samples.labels.npy'] : []), 'grid.png', 'loss.png', 'metrics.json'];
    process.stdout.write(`wrote ${out}/{${files.join(', ')}}\njudge them with: flowgpu eval mnist ${join(out, 'samples.npy')}\n`);
    return { history: result.history, pixels, labels };
  } finally {
    data.dispose();
    model.dispose();
    opt.dispose();
    ema?.dispose();
  }
}

// ------------------------------------------------------------------ flowgpu sample (MNIST checkpoints)

export interface ImageSampleFlags {
  n: number;
  solver: SolverName;
  nfe: number;
  seed: number;
  out: string;
  png?: string;
  classK?: number;
  perClass: boolean;
  guidance: number;
}

/** `flowgpu sample CKPT` for a checkpoint whose config kind is 'mnist'. */
export async function sampleMnistModel(m: LoadedModel, f: ImageSampleFlags): Promise<void> {
  const cfg = m.config as unknown as MnistConfig;
  if (!cfg.cond && (f.classK !== undefined || f.perClass || f.guidance !== 1)) {
    throw new UsageError(`${m.path} is an unconditional model: --class, --per-class and --guidance need one trained with --cond`);
  }
  if (f.classK !== undefined && f.perClass) throw new UsageError('give --class k or --per-class, not both');
  const mode: LabelMode = f.classK !== undefined ? { kind: 'class', k: f.classK } : f.perClass ? { kind: 'per-class' } : { kind: 'random' };
  const labels = cfg.cond ? sampleLabels(f.n, mode, f.seed) : null;
  const net: ImageVelocity = { module: m.module, forward: m.forward };
  const res = await sampleImages(net, cfg.size, { n: f.n, solver: f.solver, nfe: f.nfe, seed: f.seed, labels, guidance: f.guidance });
  const pixels = modelToPixels(res.x);
  const written = writeImageSamples(f.out, pixels, cfg.size, labels);
  if (f.png) {
    writePng(f.png, sampleGrid(pixels, labels, cfg.size));
    written.push(f.png);
  }
  const how = labels ? `, ${mode.kind === 'class' ? `class ${mode.k}` : mode.kind === 'per-class' ? `${f.n / 10} per class` : 'random classes'}, guidance ${f.guidance}` : '';
  process.stdout.write(`wrote ${f.n} ${cfg.size}×${cfg.size} samples (${f.solver}, ${res.nfe} velocity evaluations${how}) to ${written.join(', ')}\n`);
}
