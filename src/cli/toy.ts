/**
 * `flowgpu train toy`: trains a flow on a 2-D distribution and writes, into --out DIR:
 * model.safetensors, checkpoint.safetensors, samples.npy, samples.png, trajectories.png, loss.png,
 * metrics.json. Scripts rely on these names and on the flags below: keep them stable.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad } from '../autograd/tape.js';
import { sampleToy, TOY_NAMES } from '../data/toy.js';
import { exactOTCouple, type Coupling } from '../flow/coupling.js';
import { schedulerByName, type Scheduler } from '../flow/schedulers.js';
import { sample, timeAsTensor, type SolverName } from '../flow/solvers.js';
import { timeSamplerByName, type TimeSampler } from '../flow/time.js';
import { flowMatchingStep } from '../flow/train.js';
import { writeNpy, writePng } from '../io/node-files.js';
import { scatterPlot, trajectoryPlot } from '../io/plot.js';
import { formatQuality, sampleQualityAgainst, type QualityReport } from '../metrics/twod.js';
import { mlpConfig, VelocityMLP, type VelocityMLPConfig } from '../nn/mlp.js';
import { HostRng } from '../nn/module.js';
import { keep, tensor, type Tensor } from '../tensor/tensor.js';
import { num, oneOf, parse } from './args.js';
import { HelpRequest, UsageError } from './errors.js';
import { adapterName, finishRun, LOOP_OPTIONS, loopSettings, type LoopSettings, makeOptimizer, trainLoop, withGpu, withSamplingWeights } from './loop.js';
import type { History } from './runstate.js';

export const TOY_HELP = `flowgpu train toy [options]

  --dataset NAME         ${TOY_NAMES.join(' | ')} (default checkerboard)
  --steps N              training steps (default 3000)
  --batch N              batch size (default 512)
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
  --grad-clip X          clip gradients to this global norm (default off; 0 = off)
  --warmup N             learning-rate warm-up steps, then cosine decay (default 0 = constant lr)
  --seed N               seed (default 0): same seed, same adapter → same run
  --out DIR              output directory (default runs/toy-<dataset>)
  --resume               continue the run in --out from its checkpoint
  --log-every K          read the loss back every K steps (default 50)
  --ckpt-every N         checkpoint every N steps, a multiple of --log-every (default 500)
  --profile              time every kernel of 10 steps on the GPU and print where a step's time goes
  --samples N            points to sample at the end (default 8192)
  --solver NAME          euler | midpoint | heun | rk4 | dopri5 (default midpoint)
  --nfe N                velocity evaluations for the final samples (default 40: midpoint, h = 0.05)
  --preset standard      the common reference config: 4×512 SiLU, batch 4096, lr 1e-3, 20 000 steps
`;

const OPTIONS = {
  ...LOOP_OPTIONS,
  dataset: { type: 'string' },
  path: { type: 'string' },
  'sigma-min': { type: 'string' },
  'time-sampler': { type: 'string' },
  'time-m': { type: 'string' },
  'time-s': { type: 'string' },
  coupling: { type: 'string' },
  'time-embedding': { type: 'string' },
  preset: { type: 'string' },
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
  coupling: 'independent' | 'ot' | 'sinkhorn';
  model: VelocityMLPConfig;
}

export function toyConfig(argv: string[]): {
  cfg: ToyConfig;
  out: string;
  resume: boolean;
  profile: boolean;
  samples: number;
  solver: SolverName;
  nfe: number;
  ckptEvery: number;
} {
  const { values: v } = parse(argv, OPTIONS) as { values: Record<string, string | undefined> & { resume?: boolean; help?: boolean } };
  if (v.help) throw new HelpRequest(TOY_HELP);
  const standard = v.preset !== undefined;
  if (standard && v.preset !== 'standard') throw new UsageError(`--preset takes 'standard', got '${v.preset}'`);
  const d = standard ? { steps: 20000, batch: 4096, hidden: 512, layers: 4 } : { steps: 3000, batch: 512, hidden: 256, layers: 3 };
  const dataset = v.dataset ?? 'checkerboard';
  if (!(TOY_NAMES as readonly string[]).includes(dataset)) throw new UsageError(`--dataset takes one of ${TOY_NAMES.join(', ')}, got '${dataset}'`);
  const timeEmbedding = oneOf(v['time-embedding'] ?? 'raw', 'time-embedding', ['raw', 'sinusoidal'] as const);
  const hidden = num(v.hidden ?? d.hidden, 'hidden', { int: true, min: 1 });
  const { loop, ckptEvery, resume, profile, samples, solver, nfe } = loopSettings(v, { steps: d.steps, batch: d.batch, lr: 1e-3, gradClip: null, samples: 8192, minBatch: 2 });
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
    resume,
    profile,
    samples,
    solver,
    nfe,
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

export function trainToy(argv: string[]): Promise<number> {
  const opts = toyConfig(argv);
  return withGpu(() => runToy(opts));
}

/** Trains, samples and writes the run's files (the GPU runtime must be initialised). */
export async function runToy(opts: ReturnType<typeof toyConfig>): Promise<{ history: History; quality: QualityReport }> {
  const { cfg, out, resume, samples, solver, nfe, ckptEvery } = opts;
  mkdirSync(out, { recursive: true });
  const model = new VelocityMLP(cfg.model, cfg.seed);
  const trainer = makeOptimizer(model, cfg);
  const { opt, ema, lrAt } = trainer;
  const sched = schedulerOf(cfg);
  const time = timeOf(cfg);
  const coupling: Coupling | undefined = cfg.coupling === 'sinkhorn' ? { kind: 'ot-sinkhorn' } : undefined;
  try {
    const result = await trainLoop({
      ...opts,
      ...trainer,
      config: cfg,
      model,
      header: `flowgpu train toy: ${cfg.dataset}, ${model.parameterCount()} parameters, batch ${cfg.batch}, ${cfg.steps} steps on ${adapterName()}`,
      step: async (s) => {
        // The data of step s: a fresh batch from a generator seeded by (seed, s), so resume replays it.
        const x1 = tensor(sampleToy(cfg.dataset, cfg.batch, batchSeed(cfg.seed, s)), [cfg.batch, 2]);
        const x0 = cfg.coupling === 'ot' ? await exactOTCouple(x1, { seed: cfg.seed, step: s }) : undefined;
        const loss = flowMatchingStep(model, x1, { scheduler: sched, time, seed: cfg.seed, step: s, x0, coupling, update: () => opt.step(lrAt(s)) });
        x0?.dispose();
        x1.dispose();
        return loss;
      },
    });

    // Sampling with the EMA weights.
    const v = timeAsTensor((x, t) => model.forward(x, t));
    const { sampled, res, traj } = await withSamplingWeights(ema, async () => {
      const x0 = noGrad(() => keep(normalSource(samples, cfg.seed)));
      const res = await noGrad(() => sample(v, x0, { solver, nfe }));
      const sampled = await res.x.f32();
      const xs = noGrad(() => keep(normalSource(Math.min(512, samples), cfg.seed + 1)));
      const traj = await noGrad(() => sample(v, xs, { solver: 'midpoint', steps: 20, returnTrajectory: true }));
      for (const t of [x0, xs, res.x, traj.x]) t.dispose();
      return { sampled, res, traj };
    });

    const quality: QualityReport = sampleQualityAgainst(sampled, (n, seed) => sampleToy(cfg.dataset, n, seed), 2, { n: Math.min(2000, samples) });
    writeNpy(join(out, 'samples.npy'), sampled, [samples, 2]);
    const data = sampleToy(cfg.dataset, samples, 12345);
    writePng(join(out, 'samples.png'), scatterPlot(data, sampled, { titles: [`${cfg.dataset} data`, `flowgpu samples (${solver}, ${res.nfe} NFE)`], caption: formatQuality(quality) }));
    writePng(join(out, 'trajectories.png'), trajectoryPlot(traj.trajectory!, { title: 'trajectories x0 → x1 (midpoint, 20 steps)', data }));
    await finishRun({
      out,
      config: cfg,
      model,
      ema,
      result,
      resume,
      lossTitle: `CFM loss (${cfg.dataset})`,
      head: { dataset: cfg.dataset },
      tail: { sampler: { solver, nfe: res.nfe, n: samples }, ...quality },
    });
    process.stdout.write(`${formatQuality(quality)}\nwrote ${out}/{model.safetensors, checkpoint.safetensors, samples.npy, samples.png, trajectories.png, loss.png, metrics.json}\n`);
    return { history: result.history, quality };
  } finally {
    model.dispose();
    opt.dispose();
    ema?.dispose();
  }
}

/** N(0, I) source points [n, 2] from a seeded host generator. */
export function normalSource(n: number, seed: number, dim = 2): Tensor {
  const rng = new HostRng(seed ^ 0x2545f491);
  const v = new Float32Array(n * dim);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  return tensor(v, [n, dim]);
}
