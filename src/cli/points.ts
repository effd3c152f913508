/**
 * `flowgpu train points --data FILE|TOY`: a flow on the rows of a file (or a built-in 2-D toy), any
 * dimension D ≥ 1 — from N(0, I), from another data set (`--source`), from given pairs
 * (`--pairs X0 X1`), optionally conditioned on a number or vector per row (`--cond-data`).
 * Every set is standardised per dimension (stored in the config, undone when sampling), a seeded
 * part is held out for the metrics, and the run writes what `train toy` writes.
 */
import { join } from 'node:path';
import { data, flow, io, metrics, nn, node, train } from '../node.js';
import { LOOP_OPTIONS, RUN_DIR_HELP, loopSettings, num, oneOf, pairsArgs, optNum, parse, UsageError, type LoopSettings, type RunFlags } from './args.js';
import { adapterName, finishRun, inRunDir, runTraining, trainerOptions } from './run.js';

export const POINTS_HELP = `flowgpu train points --data FILE|TOY [options]

  --data FILE|TOY        the points: .npy float32 [N, D] (or [N]), .csv (a header line is optional),
                         or a 2-D toy (${data.TOY_NAMES.join(', ')}: 20 000 points drawn)
  --source FILE|TOY      flow from this data set instead of N(0, I) (same D; a data-to-data flow);
                         the coupling (--coupling) pairs its rows with the data's per batch
  --pairs X0 X1          train on given pairs: row i of X0 flows to row i of X1 (X1 replaces --data);
                         \`flowgpu sample RUN --from NEW_X0.npy\` then maps new inputs
  --sigma-min X          noise source: CondOT σ_min (default 0). Data source or pairs: the width σ of
                         the path around each straight line, x_t ~ N(t·x1 + (1 − t)·x0, σ²) in
                         standardised units (default 0.01), which keeps the flow non-degenerate
  --cond-data FILE       a condition per row: .npy/.csv [N, C] (or [N]); the net takes it (standardised)
                         with a present flag, dropped to ∅ with --cond-dropout P (default 0.1) for
                         classifier-free guidance
  --guidance W           guidance scale of the final samples of a conditioned run (default 1)
  --holdout F            fraction of the rows held out for the metrics (default 0.1)
  --steps N              training steps (default 5000)
  --batch N              batch size (default 512, at most the training rows)
  --lr X                 AdamW peak learning rate (default 3e-3)
  --warmup N             linear warm-up steps, then cosine decay to 1% (default 200; 0 = constant lr)
  --hidden N             hidden width (default 128)
  --layers N             hidden layers (default 3)
  --path NAME            condot | polynomial | cosine | vp (default condot; vp needs the noise source)
  --coupling NAME        independent | ot | sinkhorn (default independent; pairs: independent only)
  --ema D                EMA decay of the sampling weights (default 0 = off)
  --weight-decay X --grad-clip X --seed N --log-every K --ckpt-every N --profile   as for train toy
  --out DIR              output directory (default runs/points-<file name>)
${RUN_DIR_HELP}
  --samples N            points to sample at the end (default: as many as held out, at least 2000)
  --solver NAME --nfe N  the final sampler (default midpoint, 40 evaluations)

Each set (data, source, conditions) is standardised per dimension — z = (x − mean)/scale, scale
the standard deviation rounded to a power of two — before training; the means and scales are
stored in the checkpoints and every sample (here and in \`flowgpu sample\`) is mapped back to the
data's units. The final samples start from held-out source rows (data or paired sources), or
N(0, I); a conditioned run samples at the held-out rows' conditions. Writes model.safetensors,
checkpoint.safetensors, samples.npy ([N, D] float32, data units), samples.png (D = 2: held-out
data beside samples; otherwise a corner plot of the first four dimensions, pairs below the
diagonal and each dimension's marginal on it), loss.png and metrics.json (sliced W2 and MMD² of the
samples against the held-out rows, beside the same figures for held-out vs training rows: the
floor; pairs: also the RMS error of each mapped point against its partner).
`;

const OPTIONS = {
  ...LOOP_OPTIONS, data: { type: 'string' }, holdout: { type: 'string' }, path: { type: 'string' }, 'sigma-min': { type: 'string' },
  coupling: { type: 'string' }, source: { type: 'string' }, 'pairs-x0': { type: 'string' }, 'cond-data': { type: 'string' },
  'cond-dropout': { type: 'string' }, guidance: { type: 'string' },
} as const;

/** A standardised side set of a run: where it came from, its columns and its standardisation. */
export interface SideSet {
  file: string;
  dim: number;
  standardization: data.Standardization;
}

/** Everything that defines a points run; stored in the checkpoints (nn.netSpecOf reads `net`). */
export interface PointsConfig extends LoopSettings {
  kind: 'points';
  data: string;
  dim: number;
  holdout: number;
  path: string;
  sigmaMin: number;
  /** Path noise σ of a data source or pairs (standardised units; 0 for the noise source). */
  pathNoise: number;
  coupling: train.CouplingName;
  standardization: data.Standardization;
  /** Where x0 comes from: N(0, I), another set, or the rows paired with the data. */
  source: ({ kind: 'set' } & SideSet) | ({ kind: 'pairs' } & SideSet) | null;
  cond: (SideSet & { dropout: number }) | null;
  guidance: number;
  net: nn.NetSpec;
}

const TOY_ROWS = 20000;

/** Rows from a file, or drawn from a built-in toy (seeded; another stream for a source set). */
export function readSet(spec: string, seed: number): { data: Float32Array; dim: number } {
  if (data.isToyName(spec)) return { data: data.sampleToy(spec, TOY_ROWS, seed), dim: 2 };
  const p = node.readPoints(spec);
  return { data: p.data, dim: p.dim };
}

export function pointsConfig(argv: string[]): { cfg: PointsConfig; run: RunFlags; x: Float32Array; x0: Float32Array | null; c: Float32Array | null } {
  const { v, flag } = parse(pairsArgs(argv), OPTIONS, POINTS_HELP);
  if (!v.data) throw new UsageError(`flowgpu train points needs --data FILE (.npy or .csv, or a toy name) or --pairs X0 X1\n\n${POINTS_HELP}`);
  if (v.source && v['pairs-x0']) throw new UsageError('give --source (a data set to flow from) or --pairs (given pairs), not both');
  const holdout = num(v.holdout ?? 0.1, 'holdout', { min: 0, max: 0.9 });
  const seed = num(v.seed ?? 0, 'seed', { int: true, min: 0 });
  const pts = readSet(v.data, seed);
  const name = v.data.replace(/^.*\//, '').replace(/\.[^.]+$/, '');
  const { loop, run } = loopSettings(v, flag, {
    steps: 5000, batch: 512, lr: 3e-3, warmup: 200, ema: 0, gradClip: null, samples: 2000, minBatch: 2, out: join('runs', `points-${name}`),
  });
  const side = (file: string, s: { data: Float32Array; dim: number }): SideSet => ({ file, dim: s.dim, standardization: data.standardization(s.data, s.dim) });
  let x0: Float32Array | null = null;
  let source: PointsConfig['source'] = null;
  const srcSpec = v.source ?? v['pairs-x0'];
  if (srcSpec) {
    const s = readSet(srcSpec, (seed ^ 0x5bd1e995) >>> 0);
    const what = v.source ? '--source' : '--pairs X0';
    if (s.dim !== pts.dim) throw new UsageError(`${what} ${srcSpec} has ${s.dim} columns and the data ${pts.dim}: a flow maps between sets of the same dimension`);
    if (v['pairs-x0'] && s.data.length !== pts.data.length) {
      throw new UsageError(`--pairs: ${srcSpec} has ${s.data.length / s.dim} rows and ${v.data} ${pts.data.length / pts.dim}: row i of one pairs with row i of the other, so they need the same count`);
    }
    x0 = s.data;
    source = { kind: v.source ? 'set' : 'pairs', ...side(srcSpec, s) };
  }
  let c: Float32Array | null = null;
  let cond: PointsConfig['cond'] = null;
  if (v['cond-data']) {
    const s = readSet(v['cond-data'], seed);
    const rows = pts.data.length / pts.dim;
    if (s.data.length / s.dim !== rows) throw new UsageError(`--cond-data ${v['cond-data']} has ${s.data.length / s.dim} rows for ${rows} data rows: give one condition row per data row`);
    c = s.data;
    cond = { ...side(v['cond-data'], s), dropout: num(v['cond-dropout'] ?? 0.1, 'cond-dropout', { min: 0, max: 1 }) };
  } else if (v['cond-dropout'] !== undefined || v.guidance !== undefined) {
    throw new UsageError('--cond-dropout and --guidance are for conditioned runs (--cond-data FILE)');
  }
  const path = oneOf(v.path ?? 'condot', 'path', ['condot', 'polynomial', 'cosine', 'vp'] as const);
  if (source && path === 'vp') throw new UsageError('--path vp starts from noise (α_0 ≠ 0, σ_0 = 1): with --source or --pairs use condot, polynomial or cosine');
  const sigma = optNum(v['sigma-min'], 'sigma-min', { min: 0, max: source ? 10 : 0.999 });
  const coupling = oneOf(v.coupling ?? 'independent', 'coupling', ['independent', 'ot', 'sinkhorn'] as const);
  if (source?.kind === 'pairs' && coupling !== 'independent') throw new UsageError('--pairs are given pairs: they cannot be re-coupled, use --coupling independent');
  const cfg: PointsConfig = {
    kind: 'points',
    data: v.data,
    dim: pts.dim,
    holdout,
    ...loop,
    path,
    sigmaMin: source ? 0 : sigma ?? 0,
    pathNoise: source ? sigma ?? 0.01 : 0,
    coupling,
    standardization: data.standardization(pts.data, pts.dim),
    source,
    cond,
    guidance: cond ? num(v.guidance ?? 1, 'guidance') : 1,
    net: nn.mlpSpec({
      dim: pts.dim,
      hidden: num(v.hidden ?? 128, 'hidden', { int: true, min: 1, max: 65536 }),
      hiddenLayers: num(v.layers ?? 3, 'layers', { int: true, min: 1 }),
    }, undefined, { condVector: cond?.dim ?? 0 }),
  };
  return { cfg, run, x: pts.data, x0, c };
}

/** Trains, samples (in data units) and writes the run's files (the GPU must be up). */
export async function runPoints({ cfg, run, x, x0, c }: ReturnType<typeof pointsConfig>): Promise<{ history: train.History; quality: metrics.QualityReport | null }> {
  const { dim, standardization: st, source, cond } = cfg;
  const split = data.holdoutSplit(x.length / dim, cfg.holdout, cfg.seed);
  const rows = (v: Float32Array | null, w: number, idx: Int32Array) => (v ? data.pickRows(v, w, idx) : null);
  const trainRows = data.pickRows(x, dim, split.train);
  const heldOut = data.pickRows(x, dim, split.holdout);
  // a source set is split on its own; pairs and conditions follow the data's rows
  const srcSplit = source?.kind === 'set' ? data.holdoutSplit(x0!.length / dim, cfg.holdout, cfg.seed + 1) : split;
  const x0Train = rows(x0, dim, srcSplit.train);
  const x0Held = rows(x0, dim, srcSplit.holdout);
  const cTrain = rows(c, cond?.dim ?? 1, split.train);
  const cHeld = rows(c, cond?.dim ?? 1, split.holdout);
  if (cfg.batch > split.train.length) throw new UsageError(`--batch ${cfg.batch} is larger than the ${split.train.length} training rows: use --batch ≤ ${split.train.length}`);
  if (source?.kind === 'set' && cfg.batch > srcSplit.train.length) {
    throw new UsageError(`--batch ${cfg.batch} is larger than the ${srcSplit.train.length} training rows of --source ${source.file}: use --batch ≤ ${srcSplit.train.length}`);
  }
  const std = (v: Float32Array, s: SideSet) => data.standardize(v, s.standardization);
  const points = new data.PointDataset(data.standardize(trainRows, st), dim, cfg.data, {
    ...(source?.kind === 'pairs' ? { x0: std(x0Train!, source) } : {}),
    ...(cond ? { cond: std(cTrain!, cond), condDim: cond.dim } : {}),
  });
  const sourceSet = source?.kind === 'set' ? new data.PointDataset(std(x0Train!, source), dim, source.file) : undefined;
  const net = nn.buildNet(cfg.net, cfg.seed);
  const trainer = new train.Trainer({
    ...trainerOptions(cfg, run), net, data: points.batches(cfg.batch, cfg.seed, { source: sourceSet }),
    scheduler: flow.schedulerByName(cfg.path, { sigmaMin: cfg.sigmaMin }), coupling: cfg.coupling, pathNoise: cfg.pathNoise,
    labelDropout: cond?.dropout ?? 0, config: { ...cfg },
  });
  return inRunDir(run, trainer, async () => {
    const from = source ? `${source.kind === 'pairs' ? 'paired with' : 'from'} ${source.file}` : 'from N(0, I)';
    const head = `flowgpu train points: ${cfg.data}, ${split.train.length} rows of ${dim} (${split.holdout.length} held out), ${from}` +
      `${cond ? `, conditioned on ${cond.file} (${cond.dim} column${cond.dim > 1 ? 's' : ''})` : ''}, ` +
      `${net.module.parameterCount()} parameters, batch ${cfg.batch}, ${cfg.steps} steps on ${await adapterName()}`;
    const result = await runTraining(trainer, run, head);
    if (result.cancelled) return { history: result.history, quality: null };
    // start points: held-out source rows (cycled to n), else N(0, I); conditions: the held-out rows'
    const n = run.samples;
    const cycle = (v: Float32Array, w: number) => data.cycleRows(v, w, n);
    const start = x0Held && x0Held.length ? std(cycle(x0Held, dim), source!) : flow.hostNormals(n * dim, cfg.seed);
    const conditions = cond && cHeld?.length ? std(cycle(cHeld, cond.dim), cond) : null;
    const gen = await trainer.withSamplingWeights(() =>
      flow.generate(net, { n, solver: run.solver, nfe: run.nfe, source: start, conditions, guidance: cfg.guidance }));
    const samples = data.unstandardize(gen.x, st);
    const reference = heldOut.length >= 2 ? (cond || source?.kind === 'pairs' ? cycle(heldOut, dim) : heldOut) : trainRows;
    const quality = metrics.sampleQuality(samples, reference, trainRows, dim);
    // pairs: each sample is the image of a held-out x0 whose partner is known
    const pairError = source?.kind === 'pairs' && heldOut.length ? rmsRelative(samples, reference, dim) : null;
    node.writeNpy(join(run.out, 'samples.npy'), samples, [n, dim]);
    const caption = metrics.formatQuality(quality) + (pairError !== null ? `; paired RMS error ${pairError.toFixed(4)} of the spread` : '');
    const title = `flowgpu samples (${run.solver}, ${gen.nfe} NFE${source ? `, ${from}` : ''})`;
    node.writePng(join(run.out, 'samples.png'), dim === 2
      ? io.scatterPlot(reference, samples, { titles: [`${cfg.data} (held out)`, title], caption })
      : io.cornerPlot(reference, samples, dim, { title: `${cfg.data} (held out) vs ${title}`, caption }));
    await finishRun(trainer, result, run, {
      lossTitle: `CFM loss (${cfg.data})`, head: { data: cfg.data, dim },
      tail: { sampler: { solver: run.solver, nfe: gen.nfe, n }, ...quality, ...(pairError !== null ? { pairRmsRelative: pairError } : {}) },
    });
    process.stdout.write(`${caption}\nwrote ${run.out}/{model.safetensors, checkpoint.safetensors, samples.npy, samples.png, loss.png, metrics.json}\n`);
    return { history: result.history, quality };
  });
}

/** RMS of (got − want) over the RMS spread of want about its mean: 0 is a perfect map. */
function rmsRelative(got: Float32Array, want: Float32Array, dim: number): number {
  const mean = new Array<number>(dim).fill(0);
  const n = want.length / dim;
  for (let i = 0; i < want.length; i++) mean[i % dim] += want[i] / n;
  let e = 0;
  let s = 0;
  for (let i = 0; i < want.length; i++) {
    e += (got[i] - want[i]) ** 2;
    s += (want[i] - mean[i % dim]) ** 2;
  }
  return Math.sqrt(e / s);
}
