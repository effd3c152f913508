/**
 * `flowgpu train toy`: trains a flow on a 2-D distribution and writes, into --out DIR:
 * model.safetensors, checkpoint.safetensors, samples.npy, samples.png, trajectories.png, loss.png,
 * metrics.json. Scripts rely on these names and on the flags below: keep them stable.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mseLoss } from '../autograd/ops.js';
import { backward, noGrad } from '../autograd/tape.js';
import { sampleToy, TOY_NAMES } from '../data/toy.js';
import { exactOTCouple, sinkhornCouple } from '../flow/coupling.js';
import { interpolateWithTarget } from '../flow/paths.js';
import { schedulerByName, type Scheduler } from '../flow/schedulers.js';
import { sample, timeAsTensor, type SolverName } from '../flow/solvers.js';
import { timeSamplerByName, type TimeSampler } from '../flow/time.js';
import { destroyGpu, initGpu } from '../index.js';
import { writeNpy, writePng } from '../io/node-files.js';
import { lossPlot, scatterPlot, trajectoryPlot } from '../io/plot.js';
import { formatQuality, sampleQualityAgainst, type QualityReport } from '../metrics/twod.js';
import { mlpConfig, VelocityMLP, type VelocityMLPConfig } from '../nn/mlp.js';
import { HostRng } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { EMA } from '../optim/ema.js';
import { learningRate, type LrScheduleConfig } from '../optim/schedule.js';
import { axpby, fill } from '../tensor/primitives.js';
import { empty, gpu, keep, tensor, tidy, type Tensor } from '../tensor/tensor.js';
import { num, oneOf, parse } from './args.js';
import { UsageError } from './errors.js';
import { Progress } from './progress.js';
import { loadRun, saveModel, saveRun, type History } from './runstate.js';
import { writeFileSync } from 'node:fs';

export const TOY_HELP = `flowgpu train toy [options]

  --dataset NAME         ${TOY_NAMES.join(' | ')} (default checkerboard)
  --steps N              training steps (default 3000)
  --batch N              batch size (default 1024)
  --lr X                 AdamW learning rate (default 1e-3)
  --hidden N             hidden width (default 256)
  --layers N             hidden layers (default 3)
  --path NAME            condot | polynomial | cosine | vp (default condot)
  --sigma-min X          CondOT σ_min (default 0)
  --time-sampler NAME    uniform | logit-normal (default uniform)
  --time-m X --time-s X  logit-normal location and scale (default 0, 1)
  --coupling NAME        independent | ot (exact, one read-back per step) | sinkhorn (default independent)
  --time-embedding KIND  raw | sinusoidal (default raw: the net is Linear(3,H), SiLU, …, Linear(H,2))
  --ema D                EMA decay of the weights used for sampling (default 0.999; 0 = off)
  --weight-decay X       AdamW weight decay (default 0)
  --grad-clip X          clip gradients to this global norm (default off)
  --warmup N             learning-rate warm-up steps, then cosine decay (default 0 = constant lr)
  --seed N               seed (default 0): same seed, same adapter → same run
  --out DIR              output directory (default runs/toy-<dataset>)
  --resume               continue the run in --out from its checkpoint
  --log-every K          read the loss back every K steps (default 50)
  --ckpt-every N         checkpoint every N steps, a multiple of --log-every (default 500)
  --samples N            points to sample at the end (default 8192)
  --solver NAME          euler | midpoint | heun | rk4 | dopri5 (default midpoint)
  --nfe N                velocity evaluations for the final samples (default 40: midpoint, h = 0.05)
  --preset standard      the common reference config: 4×512 SiLU, batch 4096, lr 1e-3, 20 000 steps
`;

const OPTIONS = {
  dataset: { type: 'string' },
  steps: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  hidden: { type: 'string' },
  layers: { type: 'string' },
  path: { type: 'string' },
  'sigma-min': { type: 'string' },
  'time-sampler': { type: 'string' },
  'time-m': { type: 'string' },
  'time-s': { type: 'string' },
  coupling: { type: 'string' },
  'time-embedding': { type: 'string' },
  ema: { type: 'string' },
  'weight-decay': { type: 'string' },
  'grad-clip': { type: 'string' },
  warmup: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  'log-every': { type: 'string' },
  'ckpt-every': { type: 'string' },
  samples: { type: 'string' },
  solver: { type: 'string' },
  nfe: { type: 'string' },
  preset: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Everything that defines a toy run; stored in the checkpoints' metadata. */
export interface ToyConfig {
  kind: 'toy';
  dataset: string;
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  gradClip: number | null;
  path: string;
  sigmaMin: number;
  timeSampler: string;
  timeM: number;
  timeS: number;
  coupling: 'independent' | 'ot' | 'sinkhorn';
  ema: number;
  seed: number;
  logEvery: number;
  model: VelocityMLPConfig;
}

export function toyConfig(argv: string[]): { cfg: ToyConfig; out: string; resume: boolean; samples: number; solver: SolverName; nfe: number; ckptEvery: number } {
  const { values: v } = parse(argv, OPTIONS) as { values: Record<string, string | undefined> & { resume?: boolean; help?: boolean } };
  if (v.help) throw new UsageError(TOY_HELP);
  const standard = v.preset !== undefined;
  if (standard && v.preset !== 'standard') throw new UsageError(`--preset takes 'standard', got '${v.preset}'`);
  const d = standard ? { steps: 20000, batch: 4096, hidden: 512, layers: 4 } : { steps: 3000, batch: 1024, hidden: 256, layers: 3 };
  const dataset = v.dataset ?? 'checkerboard';
  if (!(TOY_NAMES as readonly string[]).includes(dataset)) throw new UsageError(`--dataset takes one of ${TOY_NAMES.join(', ')}, got '${dataset}'`);
  const timeEmbedding = oneOf(v['time-embedding'] ?? 'raw', 'time-embedding', ['raw', 'sinusoidal'] as const);
  const hidden = num(v.hidden ?? d.hidden, 'hidden', { int: true, min: 1 });
  const logEvery = num(v['log-every'] ?? 50, 'log-every', { int: true, min: 1 });
  const ckptEvery = num(v['ckpt-every'] ?? 500, 'ckpt-every', { int: true, min: 1 });
  if (ckptEvery % logEvery !== 0) throw new UsageError(`--ckpt-every (${ckptEvery}) must be a multiple of --log-every (${logEvery}) so a resumed run logs the same windows`);
  const cfg: ToyConfig = {
    kind: 'toy',
    dataset,
    steps: num(v.steps ?? d.steps, 'steps', { int: true, min: 1 }),
    batch: num(v.batch ?? d.batch, 'batch', { int: true, min: 2 }),
    lr: num(v.lr ?? 1e-3, 'lr', { gt: 0 }),
    warmup: num(v.warmup ?? 0, 'warmup', { int: true, min: 0 }),
    weightDecay: num(v['weight-decay'] ?? 0, 'weight-decay', { min: 0 }),
    gradClip: v['grad-clip'] === undefined ? null : num(v['grad-clip'], 'grad-clip', { gt: 0 }),
    path: oneOf(v.path ?? 'condot', 'path', ['condot', 'polynomial', 'cosine', 'vp'] as const),
    sigmaMin: num(v['sigma-min'] ?? 0, 'sigma-min', { min: 0, max: 0.999 }),
    timeSampler: oneOf(v['time-sampler'] ?? 'uniform', 'time-sampler', ['uniform', 'logit-normal'] as const),
    timeM: num(v['time-m'] ?? 0, 'time-m'),
    timeS: num(v['time-s'] ?? 1, 'time-s', { gt: 0 }),
    coupling: oneOf(v.coupling ?? 'independent', 'coupling', ['independent', 'ot', 'sinkhorn'] as const),
    ema: num(v.ema ?? 0.999, 'ema', { min: 0, max: 1 }),
    seed: num(v.seed ?? 0, 'seed', { int: true, min: 0 }),
    logEvery,
    model: mlpConfig({
      dim: 2,
      hidden,
      hiddenLayers: num(v.layers ?? d.layers, 'layers', { int: true, min: 1 }),
      timeEmbedding,
    }),
  };
  if (cfg.coupling === 'ot' && cfg.batch > 2048) throw new UsageError(`--coupling ot solves an exact assignment per step: use it for batches ≤ 2048 (got ${cfg.batch}), or --coupling sinkhorn`);
  return {
    cfg,
    out: v.out ?? join('runs', `toy-${dataset}`),
    resume: !!v.resume,
    samples: num(v.samples ?? 8192, 'samples', { int: true, min: 1 }),
    solver: oneOf(v.solver ?? 'midpoint', 'solver', ['euler', 'midpoint', 'heun', 'rk4', 'dopri5'] as const),
    nfe: num(v.nfe ?? 40, 'nfe', { int: true, min: 1 }),
    ckptEvery,
  };
}

function schedulerOf(cfg: ToyConfig): Scheduler {
  return schedulerByName(cfg.path, { sigmaMin: cfg.sigmaMin });
}

function timeOf(cfg: ToyConfig): TimeSampler {
  return timeSamplerByName(cfg.timeSampler, { m: cfg.timeM, s: cfg.timeS });
}

/** The data of step `step`: a fresh batch from a generator seeded by (seed, step), so resume replays it. */
function batchSeed(seed: number, step: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(step + 1, 0x85ebca6b)) >>> 0;
}

export async function trainToy(argv: string[]): Promise<number> {
  const opts = toyConfig(argv);
  await initGpu();
  try {
    await runToy(opts);
    return 0;
  } finally {
    destroyGpu();
  }
}

/** Trains, samples and writes the run's files (the GPU runtime must be initialised). */
export async function runToy(opts: ReturnType<typeof toyConfig>): Promise<{ history: History; quality: QualityReport }> {
  const { cfg, out, resume, samples, solver, nfe, ckptEvery } = opts;
  mkdirSync(out, { recursive: true });
  const g = gpu();
  {
    const model = new VelocityMLP(cfg.model, cfg.seed);
    model.flatten();
    const ema = cfg.ema > 0 ? new EMA(model, { decay: cfg.ema, warmup: true }) : null;
    const opt = new AdamW(model, { lr: cfg.lr, weightDecay: cfg.weightDecay, maxGradNorm: cfg.gradClip, ema });
    const sched = schedulerOf(cfg);
    const time = timeOf(cfg);
    const lrCfg: LrScheduleConfig = cfg.warmup > 0
      ? { kind: 'cosine', lr: cfg.lr, warmupSteps: cfg.warmup, totalSteps: cfg.steps, minLr: cfg.lr * 0.01 }
      : { kind: 'constant', lr: cfg.lr, warmupSteps: 0 };
    let step = 0;
    let history: History = { loss: [], lossStep: [] };
    if (resume) {
      const st = loadRun(out, cfg as unknown as Record<string, unknown>, model, opt, ema, ['steps']);
      step = st.step;
      history = st.history;
      process.stderr.write(`resumed ${out} at step ${step}\n`);
    }
    process.stderr.write(
      `flowgpu train toy: ${cfg.dataset}, ${model.parameterCount()} parameters, batch ${cfg.batch}, ${cfg.steps} steps on ${g.info.vendor} ${g.info.device || g.info.architecture}\n`,
    );
    // Sum of the window's losses, accumulated on the GPU: one read-back per --log-every steps.
    const lossSum = keep(empty([1]));
    fill(lossSum, 0);
    const progress = new Progress(cfg.steps, 'train', step);
    const t0 = Date.now();
    while (step < cfg.steps) {
      const x1host = sampleToy(cfg.dataset, cfg.batch, batchSeed(cfg.seed, step));
      let x0: Tensor | undefined;
      if (cfg.coupling === 'ot') {
        const x1c = tensor(x1host, [cfg.batch, 2]);
        x0 = keep(await exactOTCouple(x1c, { seed: cfg.seed, step }));
        x1c.dispose();
      }
      const s = step;
      tidy(() => {
        const x1 = tensor(x1host, [cfg.batch, 2]);
        if (cfg.coupling === 'sinkhorn') x0 = sinkhornCouple(x1, { seed: cfg.seed, step: s });
        const { xt, t, ut } = interpolateWithTarget(x1, { seed: cfg.seed, step: s, scheduler: sched, time, x0 });
        const loss = mseLoss(model.forward(xt, t), ut);
        model.zeroGrad();
        backward(loss);
        opt.step(learningRate(lrCfg, s));
        axpby(lossSum, loss.view([1]), 1, 1);
      });
      x0?.dispose();
      step++;
      if (step % cfg.logEvery === 0 || step === cfg.steps) {
        const window = step % cfg.logEvery === 0 ? cfg.logEvery : step % cfg.logEvery;
        const mean = (await lossSum.item()) / window;
        fill(lossSum, 0);
        if (!Number.isFinite(mean)) {
          throw new UsageError(
            `training diverged: the mean loss of steps ${step - window + 1}–${step} is ${mean}. ` +
              'Lower --lr, add --grad-clip 1, or check the data. The last checkpoint is in ' + out,
          );
        }
        history.loss.push(mean);
        history.lossStep.push(step);
        progress.update(step, { loss: mean });
      }
      if (step % ckptEvery === 0 && step < cfg.steps) await saveRun(out, cfg, model, opt, ema, { step, history });
    }
    progress.finish(step, { loss: history.loss[history.loss.length - 1] ?? NaN });
    await saveRun(out, cfg, model, opt, ema, { step, history });
    const trainSeconds = (Date.now() - t0) / 1000;

    // Sampling with the EMA weights.
    if (ema) ema.swap();
    const v = timeAsTensor((x, t) => model.forward(x, t));
    const x0 = noGrad(() => keep(normalSource(samples, cfg.seed)));
    const res = await noGrad(() => sample(v, x0, { solver, nfe }));
    const sampled = await res.x.f32();
    const trajN = Math.min(512, samples);
    const xs = noGrad(() => keep(normalSource(trajN, cfg.seed + 1)));
    const traj = await noGrad(() => sample(v, xs, { solver: 'midpoint', steps: 20, returnTrajectory: true }));
    if (ema) ema.swap();
    x0.dispose();
    xs.dispose();
    res.x.dispose();
    traj.x.dispose();

    const quality: QualityReport = sampleQualityAgainst(sampled, (n, seed) => sampleToy(cfg.dataset, n, seed), 2, { n: Math.min(2000, samples) });
    writeNpy(join(out, 'samples.npy'), sampled, [samples, 2]);
    const data = sampleToy(cfg.dataset, samples, 12345);
    writePng(join(out, 'samples.png'), scatterPlot(data, sampled, { titles: [`${cfg.dataset} data`, `flowgpu samples (${solver}, ${res.nfe} NFE)`], caption: formatQuality(quality) }));
    writePng(join(out, 'trajectories.png'), trajectoryPlot(traj.trajectory!, { title: 'trajectories x0 → x1 (midpoint, 20 steps)', data }));
    writePng(join(out, 'loss.png'), lossPlot(history.loss, { steps: history.lossStep, title: `CFM loss (${cfg.dataset})` }));
    await saveModel(out, cfg, model, ema, { step });
    const metrics = {
      dataset: cfg.dataset,
      steps: step,
      parameters: model.parameterCount(),
      finalLoss: history.loss[history.loss.length - 1],
      trainSeconds,
      stepsPerSecond: resume ? undefined : cfg.steps / trainSeconds,
      adapter: `${g.info.vendor} ${g.info.device || g.info.architecture}`.trim(),
      sampler: { solver, nfe: res.nfe, n: samples },
      ...quality,
    };
    writeFileSync(join(out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
    process.stdout.write(`${formatQuality(quality)}\nwrote ${out}/{model.safetensors, checkpoint.safetensors, samples.npy, samples.png, trajectories.png, loss.png, metrics.json}\n`);
    model.dispose();
    opt.dispose();
    ema?.dispose();
    lossSum.dispose();
    return { history, quality };
  }
}

/** N(0, I) source points [n, 2] from a seeded host generator. */
export function normalSource(n: number, seed: number, dim = 2): Tensor {
  const rng = new HostRng(seed ^ 0x2545f491);
  const v = new Float32Array(n * dim);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  return tensor(v, [n, dim]);
}
