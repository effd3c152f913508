/**
 * `flowgpu train points --data X.npy|X.csv`: a flow on the rows of a file, any dimension D ≥ 1.
 * The rows are standardised per dimension (stored in the config, undone when sampling), a seeded
 * part is held out for the metrics, and the run writes what `train toy` writes.
 */
import { join } from 'node:path';
import { data, flow, io, metrics, nn, node, train } from '../node.js';
import { LOOP_OPTIONS, RUN_DIR_HELP, loopSettings, num, oneOf, parse, UsageError, type LoopSettings, type RunFlags } from './args.js';
import { adapterName, finishRun, inRunDir, runTraining, trainerOptions } from './run.js';

export const POINTS_HELP = `flowgpu train points --data FILE [options]

  --data FILE            the points: .npy float32 [N, D] (or [N]) or .csv (a header line is optional)
  --holdout F            fraction of the rows held out for the metrics (default 0.1)
  --steps N              training steps (default 5000)
  --batch N              batch size (default 512, at most the training rows)
  --lr X                 AdamW peak learning rate (default 3e-3)
  --warmup N             linear warm-up steps, then cosine decay to 1% (default 200; 0 = constant lr)
  --hidden N             hidden width (default 128)
  --layers N             hidden layers (default 3)
  --path NAME            condot | polynomial | cosine | vp (default condot)
  --sigma-min X          CondOT σ_min (default 0)
  --coupling NAME        independent | ot | sinkhorn (default independent)
  --ema D                EMA decay of the sampling weights (default 0 = off)
  --weight-decay X --grad-clip X --seed N --log-every K --ckpt-every N --profile   as for train toy
  --out DIR              output directory (default runs/points-<file name>)
${RUN_DIR_HELP}
  --samples N            points to sample at the end (default: as many as held out, at least 2000)
  --solver NAME --nfe N  the final sampler (default midpoint, 40 evaluations)

The data are standardised per dimension — z = (x − mean)/scale, scale the standard deviation
rounded to a power of two — before training; the mean and scale are stored in the checkpoints and
every sample (here and in \`flowgpu sample\`) is mapped back to the data's units. Writes
model.safetensors, checkpoint.safetensors, samples.npy ([N, D] float32, data units), samples.png
(D = 2: held-out data beside samples; otherwise a corner plot of the first four dimensions, pairs
below the diagonal and each dimension's marginal on it), loss.png and metrics.json (sliced W2 and
MMD² of the samples against the held-out rows, beside the same figures for held-out vs training
rows: the floor).
`;

const OPTIONS = {
  ...LOOP_OPTIONS, data: { type: 'string' }, holdout: { type: 'string' }, path: { type: 'string' }, 'sigma-min': { type: 'string' },
  coupling: { type: 'string' },
} as const;

/** Everything that defines a points run; stored in the checkpoints (nn.netSpecOf reads `model`). */
export interface PointsConfig extends LoopSettings {
  kind: 'points';
  data: string;
  dim: number;
  holdout: number;
  path: string;
  sigmaMin: number;
  coupling: train.CouplingName;
  standardization: data.Standardization;
  model: nn.VelocityMLPConfig;
}

export function pointsConfig(argv: string[]): { cfg: PointsConfig; run: RunFlags; x: Float32Array } {
  const { v, flag } = parse(argv, OPTIONS, POINTS_HELP);
  if (!v.data) throw new UsageError(`flowgpu train points needs --data FILE (.npy or .csv)\n\n${POINTS_HELP}`);
  const pts = node.readPoints(v.data);
  const name = v.data.replace(/^.*\//, '').replace(/\.[^.]+$/, '');
  const holdout = num(v.holdout ?? 0.1, 'holdout', { min: 0, max: 0.9 });
  const { loop, run } = loopSettings(v, flag, {
    steps: 5000, batch: 512, lr: 3e-3, warmup: 200, ema: 0, gradClip: null, samples: 2000, minBatch: 2, out: join('runs', `points-${name}`),
  });
  const cfg: PointsConfig = {
    kind: 'points',
    data: v.data,
    dim: pts.dim,
    holdout,
    ...loop,
    path: oneOf(v.path ?? 'condot', 'path', ['condot', 'polynomial', 'cosine', 'vp'] as const),
    sigmaMin: num(v['sigma-min'] ?? 0, 'sigma-min', { min: 0, max: 0.999 }),
    coupling: oneOf(v.coupling ?? 'independent', 'coupling', ['independent', 'ot', 'sinkhorn'] as const),
    standardization: data.standardization(pts.data, pts.dim),
    model: nn.mlpConfig({
      dim: pts.dim,
      hidden: num(v.hidden ?? 128, 'hidden', { int: true, min: 1, max: 65536 }),
      hiddenLayers: num(v.layers ?? 3, 'layers', { int: true, min: 1 }),
    }),
  };
  return { cfg, run, x: pts.data };
}

/** Trains, samples (in data units) and writes the run's files (the GPU must be up). */
export async function runPoints({ cfg, run, x }: ReturnType<typeof pointsConfig>): Promise<{ history: train.History; quality: metrics.QualityReport | null }> {
  const { dim, standardization: st } = cfg;
  const split = data.holdoutSplit(x.length / dim, cfg.holdout, cfg.seed);
  const trainRows = data.pickRows(x, dim, split.train);
  const heldOut = data.pickRows(x, dim, split.holdout);
  if (cfg.batch > split.train.length) throw new UsageError(`--batch ${cfg.batch} is larger than the ${split.train.length} training rows: use --batch ≤ ${split.train.length}`);
  const points = new data.PointDataset(data.standardize(trainRows, st), dim, cfg.data);
  const net = nn.buildNet({ arch: 'mlp', model: cfg.model }, cfg.seed);
  const trainer = new train.Trainer({
    ...trainerOptions(cfg, run), net, data: points.batches(cfg.batch, cfg.seed),
    scheduler: flow.schedulerByName(cfg.path, { sigmaMin: cfg.sigmaMin }), coupling: cfg.coupling, config: { ...cfg },
  });
  return inRunDir(run, trainer, async () => {
    const head = `flowgpu train points: ${cfg.data}, ${split.train.length} rows of ${dim} (${split.holdout.length} held out), ` +
      `${net.module.parameterCount()} parameters, batch ${cfg.batch}, ${cfg.steps} steps on ${await adapterName()}`;
    const result = await runTraining(trainer, run, head);
    if (result.cancelled) return { history: result.history, quality: null };
    const n = run.samples;
    const gen = await trainer.withSamplingWeights(() => flow.generate(net, { n, solver: run.solver, nfe: run.nfe, source: flow.hostNormals(n * dim, cfg.seed) }));
    const samples = data.unstandardize(gen.x, st);
    const reference = heldOut.length >= 2 ? heldOut : trainRows;
    const quality = metrics.sampleQuality(samples, reference, trainRows, dim);
    node.writeNpy(join(run.out, 'samples.npy'), samples, [n, dim]);
    const caption = metrics.formatQuality(quality);
    node.writePng(join(run.out, 'samples.png'), dim === 2
      ? io.scatterPlot(reference, samples, { titles: [`${cfg.data} (held out)`, `flowgpu samples (${run.solver}, ${gen.nfe} NFE)`], caption })
      : io.cornerPlot(reference, samples, dim, { title: `${cfg.data} (held out) vs samples (${run.solver}, ${gen.nfe} NFE)`, caption }));
    await finishRun(trainer, result, run, { lossTitle: `CFM loss (${cfg.data})`, head: { data: cfg.data, dim }, tail: { sampler: { solver: run.solver, nfe: gen.nfe, n }, ...quality } });
    process.stdout.write(`${metrics.formatQuality(quality)}\nwrote ${run.out}/{model.safetensors, checkpoint.safetensors, samples.npy, samples.png, loss.png, metrics.json}\n`);
    return { history: result.history, quality };
  });
}
