/**
 * `flowgpu train toy` and `flowgpu train mnist` (`train images` on the built-in set, src/cli/images.ts): flags → a config (stored whole in the run's files)
 * → the library's Trainer → samples and pictures. Into --out DIR: model.safetensors,
 * checkpoint.safetensors, samples.npy, pictures, loss.png, metrics.json. Scripts rely on these
 * names and on the flags: keep them stable.
 */
import { join } from 'node:path';
import { data, flow, initGpu, io, metrics, nn, node, noGrad, tensor, train } from '../node.js';
import { LOOP_OPTIONS, RUN_DIR_HELP, loopSettings, num, oneOf, parse, UsageError, type LoopSettings, type RunFlags } from './args.js';
import { imagesConfig, runImages, trainImages } from './images.js';
import { pointsConfig, runPoints } from './points.js';

export { writeImageSamples } from './images.js';
import { adapterName, finishRun, inRunDir, runTraining, trainerOptions, withGpu } from './run.js';

export const TOY_HELP = `flowgpu train toy [options]

  --dataset NAME         ${data.TOY_NAMES.join(' | ')} (default checkerboard)
  --steps N              training steps (default 7000)
  --batch N              batch size (default 512)
  --lr X                 AdamW peak learning rate (default 1e-2)
  --warmup N             linear warm-up steps, then cosine decay to 1% (default 200; 0 = constant lr)
  --hidden N             hidden width (default 128)
  --layers N             hidden layers (default 3)
  --path NAME            condot | polynomial | cosine | vp (default condot)
  --sigma-min X          CondOT σ_min (default 0)
  --time-sampler NAME    uniform | logit-normal (default uniform)
  --time-m X --time-s X  logit-normal location and scale (default 0, 1)
  --coupling NAME        independent | ot (exact, one read-back per step) | sinkhorn (default independent)
  --time-embedding KIND  raw | sinusoidal (default raw: the net is Linear(3,H), SiLU, …, Linear(H,2))
  --ema D                EMA decay of the weights used for sampling (default 0 = off: the cosine decay
                         already settles the weights; a slow EMA blurs a short run)
  --weight-decay X       AdamW weight decay (default 0)
  --grad-clip X          clip gradients to this global norm (default off; 0 = off)
  --seed N               seed (default 0): same seed, same adapter → same run
  --out DIR              output directory (default runs/toy-<dataset>)
${RUN_DIR_HELP}
  --log-every K          read the loss back every K steps (default 50)
  --ckpt-every N         checkpoint every N steps, a multiple of --log-every (default 500)
  --profile              time every kernel of 10 steps on the GPU and print where a step's time goes
  --samples N            points to sample at the end (default 8192)
  --solver NAME          euler | midpoint | heun | rk4 | dopri5 (default midpoint)
  --nfe N                velocity evaluations for the final samples (default 40: midpoint, h = 0.05)
  --preset standard      the common reference config: 4×512 SiLU, batch 4096, constant lr 1e-3, EMA 0.999,
                         20 000 steps (a GPU job)

The defaults draw the checkerboard with sharp-edged cells in about two minutes on 2 CPU cores with
the software driver (measured on lavapipe: 7000 steps in 119 s at 62 steps/s, sliced W2 0.124 against a floor of 0.115).

Ctrl-C (or SIGTERM) finishes the step, writes a checkpoint and exits with 130; --resume continues.
`;

const TOY_OPTIONS = {
  ...LOOP_OPTIONS, dataset: { type: 'string' }, path: { type: 'string' }, 'sigma-min': { type: 'string' }, 'time-sampler': { type: 'string' },
  'time-m': { type: 'string' }, 'time-s': { type: 'string' }, coupling: { type: 'string' }, 'time-embedding': { type: 'string' }, preset: { type: 'string' },
} as const;

/** Everything that defines a toy run; stored in the checkpoints' metadata. */
export interface ToyConfig extends LoopSettings {
  kind: 'toy';
  dataset: string;
  path: string;
  sigmaMin: number;
  timeSampler: string;
  timeM: number;
  timeS: number;
  coupling: train.CouplingName;
  model: nn.VelocityMLPConfig;
}

export function toyConfig(argv: string[]): { cfg: ToyConfig; run: RunFlags } {
  const { v, flag } = parse(argv, TOY_OPTIONS, TOY_HELP);
  const standard = v.preset !== undefined;
  if (standard && v.preset !== 'standard') throw new UsageError(`--preset takes 'standard', got '${v.preset}'`);
  const d = standard
    ? { steps: 20000, batch: 4096, hidden: 512, layers: 4, lr: 1e-3, warmup: 0, ema: 0.999 }
    : { steps: 7000, batch: 512, hidden: 128, layers: 3, lr: 1e-2, warmup: 200, ema: 0 };
  const dataset = oneOf(v.dataset ?? 'checkerboard', 'dataset', data.TOY_NAMES);
  const { loop, run } = loopSettings(v, flag, { ...d, gradClip: null, samples: 8192, minBatch: 2, out: join('runs', `toy-${dataset}`) });
  const cfg: ToyConfig = {
    kind: 'toy',
    dataset,
    ...loop,
    path: oneOf(v.path ?? 'condot', 'path', ['condot', 'polynomial', 'cosine', 'vp'] as const),
    sigmaMin: num(v['sigma-min'] ?? 0, 'sigma-min', { min: 0, max: 0.999 }),
    timeSampler: oneOf(v['time-sampler'] ?? 'uniform', 'time-sampler', ['uniform', 'logit-normal'] as const),
    timeM: num(v['time-m'] ?? 0, 'time-m'),
    timeS: num(v['time-s'] ?? 1, 'time-s', { gt: 0 }),
    coupling: oneOf(v.coupling ?? 'independent', 'coupling', ['independent', 'ot', 'sinkhorn'] as const),
    model: nn.mlpConfig({
      dim: 2,
      hidden: num(v.hidden ?? d.hidden, 'hidden', { int: true, min: 1, max: 65536 }),
      hiddenLayers: num(v.layers ?? d.layers, 'layers', { int: true, min: 1 }),
      timeEmbedding: oneOf(v['time-embedding'] ?? 'raw', 'time-embedding', ['raw', 'sinusoidal'] as const),
    }),
  };
  if (cfg.coupling === 'ot' && cfg.batch > 2048) throw new UsageError(`--coupling ot solves an exact assignment per step: use it for batches ≤ 2048 (got ${cfg.batch}), or --coupling sinkhorn`);
  return { cfg, run };
}

/** Trains, samples and writes the run's files (the GPU must be up). */
export async function runToy({ cfg, run }: ReturnType<typeof toyConfig>): Promise<{ history: train.History; quality: metrics.QualityReport | null }> {
  // the final samples go through the net in one batch (dopri5's steps are shared by all rows):
  // check that its widest activation fits one buffer now, not after the training
  const most = (await initGpu()).limits.maxStorageBufferBindingSize ?? 134217728;
  const need = run.samples * cfg.model.hidden * 4;
  if (need > most) {
    throw new UsageError(`--samples ${run.samples} needs ${(need / 2 ** 20).toFixed(0)} MiB for one hidden activation; this adapter's buffers hold ${(most / 2 ** 20).toFixed(0)} MiB: use --samples ≤ ${Math.floor(most / (4 * cfg.model.hidden))}`);
  }
  const net = nn.buildNet({ arch: 'mlp', model: cfg.model }, cfg.seed);
  const trainer = new train.Trainer({
    ...trainerOptions(cfg, run),
    net,
    data: data.toyBatches(cfg.dataset, cfg.batch, cfg.seed),
    scheduler: flow.schedulerByName(cfg.path, { sigmaMin: cfg.sigmaMin }),
    time: flow.timeSamplerByName(cfg.timeSampler, { m: cfg.timeM, s: cfg.timeS }),
    coupling: cfg.coupling,
    config: { ...cfg },
  });
  return inRunDir(run, trainer, async () => {
    const head = `flowgpu train toy: ${cfg.dataset}, ${net.module.parameterCount()} parameters, batch ${cfg.batch}, ${cfg.steps} steps on ${await adapterName()}`;
    const result = await runTraining(trainer, run, head);
    if (result.cancelled) return { history: result.history, quality: null };
    const { samples: n, solver } = run;
    const { sampled, nfe, traj } = await trainer.withSamplingWeights(async () => {
      const { x: sampled, nfe } = await flow.generate(net, { n, solver, nfe: run.nfe, source: flow.hostNormals(n * 2, cfg.seed) });
      const m = Math.min(512, n);
      const xs = tensor(flow.hostNormals(m * 2, cfg.seed + 1), [m, 2]);
      const traj = await noGrad(() => flow.sample(flow.timeAsTensor((x, t) => net.forward(x, t)), xs, { solver: 'midpoint', steps: 20, returnTrajectory: true }));
      xs.dispose();
      traj.x.dispose();
      return { sampled, nfe, traj };
    });
    const quality = metrics.sampleQualityAgainst(sampled, (k, seed) => data.sampleToy(cfg.dataset, k, seed), 2, { n: Math.min(2000, n) });
    node.writeNpy(join(run.out, 'samples.npy'), sampled, [n, 2]);
    const real = data.sampleToy(cfg.dataset, n, 12345);
    node.writePng(join(run.out, 'samples.png'), io.scatterPlot(real, sampled, { titles: [`${cfg.dataset} data`, `flowgpu samples (${solver}, ${nfe} NFE)`], caption: metrics.formatQuality(quality) }));
    node.writePng(join(run.out, 'trajectories.png'), io.trajectoryPlot(traj.trajectory!, { title: 'trajectories x0 → x1 (midpoint, 20 steps)', data: real }));
    await finishRun(trainer, result, run, { lossTitle: `CFM loss (${cfg.dataset})`, head: { dataset: cfg.dataset }, tail: { sampler: { solver, nfe, n }, ...quality } });
    process.stdout.write(`${metrics.formatQuality(quality)}\nwrote ${run.out}/{model.safetensors, checkpoint.safetensors, samples.npy, samples.png, trajectories.png, loss.png, metrics.json}\n`);
    return { history: result.history, quality };
  });
}

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
${RUN_DIR_HELP}
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
This is \`flowgpu train images\` on the built-in MNIST set (train images --help: your own images).

The defaults are for a real GPU. On a software driver (lavapipe on 2 cores) a 16×16 UNet step takes
about 2 s at batch 16 (3.5 s at batch 32); see the README for an unconditional UNet trained that
way. The conditional MLP gives readable 16×16 digits there in under half an hour
(measured: 8000 steps in 23 min on 2 cores; sampling FD 10.6, 97.6% of digits read as the
requested class by \`flowgpu eval mnist\`; 3000 steps at batch 64 take 6 min, FD ≈ 16–33):
  flowgpu train mnist --size 16 --model mlp --cond --hidden 512 --layers 3 --batch 128 --steps 8000 --warmup 200 --guidance 2
Keep the MLP's --hidden above the image's 256 pixels (it must carry the noise through to remove
it): --hidden 256, batch 128, 3000 steps left speckled samples (FD 81 against 54 at 512, guidance 1).
`;

const MNIST_OPTIONS = {
  ...LOOP_OPTIONS, size: { type: 'string' }, model: { type: 'string' }, cond: { type: 'boolean' }, 'label-dropout': { type: 'string' },
  limit: { type: 'string' }, guidance: { type: 'string' },
} as const;

/** Everything that defines an MNIST run; stored in the checkpoints' metadata (nn.netSpecOf reads arch, size, model). */
export interface MnistConfig extends LoopSettings {
  kind: 'mnist';
  size: 16 | 28;
  arch: 'mlp' | 'unet';
  cond: boolean;
  labelDropout: number;
  /** Train on the first `limit` training images (null: all). */
  limit: number | null;
  model: nn.VelocityMLPConfig | nn.UNetConfig;
}

export function mnistConfig(argv: string[]): { cfg: MnistConfig; run: RunFlags; guidance: number } {
  const { v, flag } = parse(argv, MNIST_OPTIONS, MNIST_HELP);
  const size = Number(oneOf(v.size ?? '28', 'size', ['16', '28'] as const)) as 16 | 28;
  const arch = oneOf(v.model ?? 'unet', 'model', ['unet', 'mlp'] as const);
  const cond = flag('cond');
  const classes = cond ? 10 : 0;
  const hidden = num(v.hidden ?? (arch === 'mlp' ? 1024 : 32), 'hidden', { int: true, min: 1, max: 65536 });
  const layers = num(v.layers ?? (arch === 'mlp' ? 3 : 2), 'layers', { int: true, min: 1 });
  if (arch === 'unet' && hidden % 8 !== 0) throw new UsageError(`--hidden is the UNet's base channel count: a multiple of 8 (its GroupNorm groups), got ${hidden}`);
  const model = arch === 'mlp'
    ? nn.mlpConfig({ dim: size * size, hidden, hiddenLayers: layers, condDim: classes })
    : { ...nn.defaultUNetConfig(size, classes), baseChannels: hidden, numResBlocks: layers };
  const out = join('runs', `mnist-${size}-${arch}${cond ? '-cond' : ''}`);
  const { loop, run } = loopSettings(v, flag, { steps: 20000, batch: 128, lr: arch === 'mlp' ? 1e-3 : 2e-4, gradClip: 1, samples: 1000, out });
  const cfg: MnistConfig = {
    kind: 'mnist', size, arch, cond,
    labelDropout: cond ? num(v['label-dropout'] ?? 0.1, 'label-dropout', { min: 0, max: 1 }) : 0,
    ...loop,
    limit: v.limit === undefined ? null : num(v.limit, 'limit', { int: true, min: 1 }),
    model,
  };
  if (cfg.limit !== null && cfg.batch > cfg.limit) throw new UsageError(`--batch (${cfg.batch}) exceeds --limit (${cfg.limit}) training images`);
  if (cond && run.samples % 10 !== 0) throw new UsageError(`--samples must be a multiple of 10 for a conditional run (the same number of each digit), got ${run.samples}`);
  return { cfg, run, guidance: num(v.guidance ?? 1, 'guidance') };
}

/** Trains, samples and writes the run's files (the GPU must be up): `train images` with the built-in MNIST set. */
export async function runMnist({ cfg, run, guidance }: ReturnType<typeof mnistConfig>): Promise<{ history: train.History; pixels: Float32Array | null; labels: Int32Array | null }> {
  const images = data.mnistImageSet(node.readMnist('train'), { size: cfg.size, limit: cfg.limit ?? undefined });
  const spec = nn.netSpecOf(cfg)!;
  return trainImages({
    cfg, run, spec, guidance, heldOut: null,
    images: cfg.cond ? images : { ...images, labels: null, classes: 0 },
    head: `flowgpu train mnist: ${cfg.size}×${cfg.size}`,
    lossTitle: `CFM loss (MNIST ${cfg.size}×${cfg.size} ${cfg.arch})`,
    metricsHead: { size: cfg.size, model: cfg.arch, cond: cfg.cond },
    after: `judge them with: flowgpu eval mnist ${join(run.out, 'samples.npy')}\n`,
  });
}

export function trainCmd(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === 'toy') {
    const o = toyConfig(rest);
    return withGpu(() => runToy(o));
  }
  if (what === 'mnist') {
    const o = mnistConfig(rest);
    return withGpu(() => runMnist(o));
  }
  if (what === 'points') {
    return withGpu(() => runPoints(pointsConfig(rest)));
  }
  if (what === 'images') {
    const o = imagesConfig(rest);
    return withGpu(() => runImages(o));
  }
  throw new UsageError(`flowgpu train: say what to train: 'flowgpu train toy|mnist|points|images …' (each has --help)${what ? ` (got '${what}')` : ''}`);
}
