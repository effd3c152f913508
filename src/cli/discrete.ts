/**
 * `flowgpu train discrete` and `flowgpu eval discrete CKPT`: discrete flow matching on the 2-D token
 * data sets (K = 128, d = 2) — flags → a config (stored whole in the run's files) → the library's
 * Trainer with discrete's objective → CTMC samples, pictures and metrics. Into --out DIR:
 * model.safetensors, checkpoint.safetensors, samples.npy (i32 [n, 2]), samples.png (the sample
 * histogram beside the data's), loss.png, metrics.json.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { discrete, io, nn, node, noGrad, tensor, train, type Tensor } from '../node.js';
import { LOOP_OPTIONS, RUN_DIR_HELP, loopSettings, num, oneOf, parse, UsageError, type LoopSettings, type RunFlags } from './args.js';
import { adapterName, finishRun, inRunDir, runTraining, trainerOptions, withGpu } from './run.js';

const K = 128;

export const DISCRETE_HELP = `flowgpu train discrete [options]

  --dataset NAME         checkerboard | moons (default checkerboard): 2 tokens of K = 128
  --source NAME          mask | uniform (default mask): x0 all mask (id 128) or uniform tokens
  --exponent N           the scheduler κ_t = tⁿ (default 1)
  --loss NAME            gkl (generalized KL, an ELBO) | ce (cross-entropy) (default gkl)
  --steps N              training steps (default 3000)
  --batch N              batch size (default 1024)
  --lr X                 AdamW peak learning rate (default 2e-3)
  --warmup N             linear warm-up steps, then cosine decay to 1% (default 100; 0 = constant)
  --embed N              token embedding width (default 64)
  --hidden N             hidden width (default 256)
  --layers N             hidden layers (default 3)
  --ema D                EMA decay of the sampling weights (default 0: off)
  --weight-decay X --grad-clip X --seed N --log-every K --ckpt-every N --profile
  --out DIR              output directory (default runs/discrete-<dataset>-<source>)
${RUN_DIR_HELP}
  --samples N            sequences to sample at the end (default 50000)
  --sample-steps N       discrete Euler steps (default 64)
  --div-free A           divergence-free term with c(t) = A·t²·(1−t)^¼ (default 0: off)
  --elbo N               sequences of fresh data for the ELBO estimate (default 2000; 0: skip)
  --strata N             strata of t for the ELBO (default 32)

metrics.json: the fraction of samples on the data support, the TV distance between the sample
histogram and the data pmf beside the same for a fresh data draw of equal size (the floor), the
ELBO in nats beside the data entropy (checkerboard: ln 8192 = 9.011).

Ctrl-C (or SIGTERM) finishes the step, writes a checkpoint and exits with 130; --resume continues.
`;

export const DISCRETE_EVAL_HELP = `flowgpu eval discrete CKPT [options]
flowgpu eval discrete --exact --dataset NAME --source mask|uniform [options]

  CKPT                   a model.safetensors or checkpoint.safetensors of flowgpu train discrete
  --exact                sample (and bound) with the exact posterior of the data pmf instead of a
                         network: what the sampler itself does at these steps (the calibration)
  --dataset, --source    the data set and source of --exact without CKPT (default checkerboard, mask)
  --samples N            sequences to sample (default 50000)
  --sample-steps N       discrete Euler steps (default 64)
  --div-free A           divergence-free term with c(t) = A·t²·(1−t)^¼ (default 0: off)
  --elbo N               sequences of fresh data for the ELBO estimate (default 2000; 0: skip)
  --strata N             strata of t for the ELBO (default 32)
  --seed N               sampling seed (default 1)
  --out DIR              where eval-samples.npy, eval-samples.png and eval.json go (default: beside CKPT,
                         or the current directory)
`;

const OPTIONS = {
  ...LOOP_OPTIONS, dataset: { type: 'string' }, source: { type: 'string' }, exponent: { type: 'string' }, loss: { type: 'string' },
  embed: { type: 'string' }, 'sample-steps': { type: 'string' }, 'div-free': { type: 'string' }, elbo: { type: 'string' }, strata: { type: 'string' },
} as const;

/** Everything that defines a discrete run; stored in the checkpoints' metadata. */
export interface DiscreteConfig extends LoopSettings {
  kind: 'discrete-2d';
  dataset: string;
  source: discrete.DiscreteSource;
  exponent: number;
  loss: discrete.DiscreteLoss;
  net: nn.NetSpec;
}

interface SampleFlags {
  samples: number;
  sampleSteps: number;
  divFree: number;
  elbo: number;
  strata: number;
}

function sampleFlags(v: Record<string, string | undefined>): SampleFlags {
  return {
    samples: num(v.samples ?? 50000, 'samples', { int: true, min: 1 }),
    sampleSteps: num(v['sample-steps'] ?? 64, 'sample-steps', { int: true, min: 1 }),
    divFree: num(v['div-free'] ?? 0, 'div-free', { min: 0 }),
    elbo: num(v.elbo ?? 2000, 'elbo', { int: true, min: 0 }),
    strata: num(v.strata ?? 32, 'strata', { int: true, min: 1 }),
  };
}

export function discreteConfig(argv: string[]): { cfg: DiscreteConfig; run: RunFlags; s: SampleFlags } {
  const { v, flag } = parse(argv, OPTIONS, DISCRETE_HELP);
  const dataset = oneOf(v.dataset ?? 'checkerboard', 'dataset', ['checkerboard', 'moons'] as const);
  const source = oneOf(v.source ?? 'mask', 'source', ['mask', 'uniform'] as const);
  const { loop, run } = loopSettings(v, flag, { steps: 3000, batch: 1024, lr: 2e-3, warmup: 100, ema: 0, gradClip: null, samples: 50000, out: join('runs', `discrete-${dataset}-${source}`) });
  const model = discrete.tokenMLPConfig({
    length: 2, categories: K, vocabulary: K + (source === 'mask' ? 1 : 0),
    embed: num(v.embed ?? 64, 'embed', { int: true, min: 1, max: 4096 }),
    hidden: num(v.hidden ?? 256, 'hidden', { int: true, min: 1, max: 65536 }),
    hiddenLayers: num(v.layers ?? 3, 'layers', { int: true, min: 1, max: 64 }),
  });
  const cfg: DiscreteConfig = {
    kind: 'discrete-2d', dataset, source, ...loop,
    exponent: num(v.exponent ?? 1, 'exponent', { gt: 0, max: 8 }),
    loss: oneOf(v.loss ?? 'gkl', 'loss', ['gkl', 'ce'] as const),
    net: { arch: 'tokenmlp', model },
  };
  return { cfg, run, s: sampleFlags(v) };
}

/** The data pmf over the K×K cells: exact for the checkerboard, 2·10⁶ draws for moons. */
function dataPmf(dataset: string): Float64Array {
  if (dataset === 'checkerboard') return discrete.checkerboardPmf();
  return discrete.histogramPmf(discrete.tokenHistogram(discrete.sampleTokens2D(dataset, 2_000_000, 987654), K));
}

/** Two K×K histograms side by side (darker = more mass), each scaled to its own 99th percentile. */
function histogramPicture(samples: Int32Array, data: Int32Array): io.RasterImage {
  const img = new Float32Array(2 * K * K);
  [samples, data].forEach((s, p) => {
    const h = discrete.tokenHistogram(s, K);
    const top = [...h].sort((a, b) => a - b)[Math.floor(0.99 * h.length)] || 1;
    // x1 along the horizontal axis, x2 upwards
    for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) img[p * K * K + (K - 1 - b) * K + a] = 1 - Math.min(1, h[a * K + b] / top);
  });
  return io.imageGrid(img, 2, K, K, { cols: 2, scale: 3, gap: 8, gapValue: 255 });
}

/** Samples, the picture and the figures of item 4 of issue 13 (the GPU must be up). */
async function evaluate(net: discrete.DiscreteModel, space: discrete.TokenSpace, dataset: string, s: SampleFlags, seed: number, out: string, prefix = ''): Promise<Record<string, number>> {
  const t0 = performance.now();
  const samples = await discrete.discreteSample(net, {
    ...space, n: s.samples, length: 2, steps: s.sampleSteps, seed,
    divFree: s.divFree > 0 ? discrete.divergenceFreeWeight(s.divFree) : null,
  });
  const sampleSeconds = (performance.now() - t0) / 1000;
  const pmf = dataPmf(dataset);
  const fresh = discrete.sampleTokens2D(dataset, s.samples, seed + 7777);
  const q = discrete.supportAndTV(samples, pmf, K);
  const floor = discrete.supportAndTV(fresh, pmf, K);
  node.writeNpy(join(out, `${prefix}samples.npy`), samples, [s.samples, 2]);
  node.writePng(join(out, `${prefix}samples.png`), histogramPicture(samples, fresh));
  const m: Record<string, number> = {
    samples: s.samples, sampleSteps: s.sampleSteps, divFree: s.divFree, sampleSeconds,
    support: q.support, tv: q.tv, tvFloor: floor.tv, dataEntropyNats: discrete.entropy(pmf),
  };
  if (s.elbo > 0) {
    const x1: Tensor = tensor(discrete.sampleTokens2D(dataset, s.elbo, seed + 4242), [s.elbo, 2], 'i32');
    try {
      const e = await noGrad(() => discrete.discreteElbo(net, x1, { ...space, strata: s.strata, seed }));
      const mean = e.reduce((a, b) => a + b, 0) / e.length;
      const sd = Math.sqrt(e.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, e.length - 1));
      m.elboNats = mean;
      m.elboStdErr = sd / Math.sqrt(e.length);
    } finally {
      x1.dispose();
    }
  }
  return m;
}

function report(m: Record<string, number>): string {
  const f = (v: number, d = 4) => (v === undefined ? '-' : v.toFixed(d));
  return (
    `samples ${m.samples} (${m.sampleSteps} Euler steps${m.divFree ? `, divergence-free A = ${m.divFree}` : ''}, ${f(m.sampleSeconds, 1)} s): ` +
    `on the support ${(100 * m.support).toFixed(2)}%, TV ${f(m.tv)} (fresh data of equal size: ${f(m.tvFloor)})` +
    (m.elboNats !== undefined ? `; ELBO ${f(m.elboNats, 3)} ± ${f(m.elboStdErr, 3)} nats (data entropy ${f(m.dataEntropyNats, 3)})` : '') +
    '\n'
  );
}

/** Trains, samples, evaluates and writes the run's files (the GPU must be up); metrics null when cancelled. */
export async function runDiscrete({ cfg, run, s }: ReturnType<typeof discreteConfig>): Promise<{ history: train.History; metrics: Record<string, number> | null }> {
  const net = nn.buildNet(cfg.net, cfg.seed);
  const trainer = new train.Trainer({
    ...trainerOptions(cfg, run),
    net,
    data: discrete.tokenBatches(cfg.dataset, cfg.batch, cfg.seed),
    objective: discrete.discreteObjective({ source: cfg.source, exponent: cfg.exponent, loss: cfg.loss }),
    config: { ...cfg, objective: { kind: 'discrete', source: cfg.source, exponent: cfg.exponent, loss: cfg.loss, eps: 1e-3 } },
  });
  return inRunDir(run, trainer, async () => {
    const head = `flowgpu train discrete: ${cfg.dataset}, ${cfg.source} source, ${cfg.loss} loss, ${net.module.parameterCount()} parameters, batch ${cfg.batch}, ${cfg.steps} steps on ${await adapterName()}`;
    const r = await runTraining(trainer, run, head);
    if (r.cancelled) return { history: r.history, metrics: null };
    const space = discrete.discreteSpaceOf(trainer.config, K)!;
    const m = await trainer.withSamplingWeights(() => evaluate(net, space, cfg.dataset, s, cfg.seed + 1, run.out));
    process.stdout.write(report(m));
    const lossName = cfg.loss === 'gkl' ? 'generalized-KL loss per token' : 'cross-entropy per token';
    await finishRun(trainer, r, run, { lossTitle: `${lossName} (${cfg.dataset}, ${cfg.source} source)`, head: { dataset: cfg.dataset, source: cfg.source, loss: cfg.loss }, tail: m });
    process.stdout.write(`wrote ${run.out}/{model,checkpoint}.safetensors, samples.npy, samples.png, loss.png, metrics.json\n`);
    return { history: r.history, metrics: m };
  });
}

export function trainDiscreteCmd(argv: string[]): Promise<number> {
  const o = discreteConfig(argv);
  return withGpu(() => runDiscrete(o));
}

export function evalDiscreteCmd(argv: string[]): Promise<number> {
  const o = evalDiscreteArgs(argv);
  return withGpu(() => evalDiscrete(o));
}

/** The flags of `flowgpu eval discrete`, checked before the GPU starts. */
export function evalDiscreteArgs(argv: string[]): { file: string | null; s: SampleFlags; seed: number; out?: string; exact: { dataset: string; source: discrete.DiscreteSource } | null } {
  const { v, pos, flag } = parse(argv, { ...OPTIONS, seed: { type: 'string' }, out: { type: 'string' }, exact: { type: 'boolean' } }, DISCRETE_EVAL_HELP, 1);
  const exact = flag('exact');
  if (pos.length > 1 || (pos.length === 0 && !exact)) throw new UsageError(`flowgpu eval discrete: give one checkpoint or model file, or --exact (got ${pos.length} files)`);
  const given = exact && pos.length === 0;
  return {
    file: pos[0] ?? null,
    s: sampleFlags(v),
    seed: num(v.seed ?? 1, 'seed', { int: true, min: 0 }),
    out: v.out,
    exact: given
      ? { dataset: oneOf(v.dataset ?? 'checkerboard', 'dataset', ['checkerboard', 'moons'] as const), source: oneOf(v.source ?? 'mask', 'source', ['mask', 'uniform'] as const) }
      : exact ? { dataset: '', source: 'mask' } : null,
  };
}

/**
 * Samples and evaluates a discrete run's model file or checkpoint, or the exact posterior of its
 * data (--exact) (the GPU must be up); returns the figures.
 */
export async function evalDiscrete({ file, s, seed, out: outFlag, exact }: ReturnType<typeof evalDiscreteArgs>): Promise<Record<string, number>> {
  const loaded = file ? io.loadModel(node.readCheckpoint(file), { where: file }) : null;
  try {
    let dataset = exact?.dataset ?? '';
    let space: discrete.TokenSpace = { categories: K, source: exact?.source ?? 'mask', scheduler: discrete.polynomialKappa(1) };
    if (loaded && file) {
      const cfg = loaded.config as unknown as Partial<DiscreteConfig>;
      const stored = discrete.discreteSpaceOf(loaded.config, K);
      if (!stored || cfg.kind !== 'discrete-2d' || typeof cfg.dataset !== 'string') {
        throw new UsageError(`${file} is not a run of flowgpu train discrete (its config has no discrete objective): use flowgpu sample/eval for continuous flows`);
      }
      dataset = cfg.dataset;
      space = stored;
    }
    const out = outFlag ?? (file ? dirname(file) : '.');
    const exactModel = exact ? discrete.exactPosteriorModel(dataPmf(dataset), 2, space) : null;
    try {
      const m = await evaluate(exactModel ?? loaded!.net, space, dataset, s, seed, out, exact ? 'exact-' : 'eval-');
      process.stdout.write((exact ? `exact posterior of ${dataset}, ${space.source} source: ` : '') + report(m));
      const name = exact ? 'exact.json' : 'eval.json';
      writeFileSync(join(out, name), JSON.stringify({ checkpoint: file, exact: exact !== null, dataset, source: space.source, ...m }, null, 2) + '\n');
      process.stdout.write(`wrote ${join(out, name)} and the samples and picture beside it\n`);
      return m;
    } finally {
      exactModel?.dispose();
    }
  } finally {
    loaded?.net.module.dispose();
  }
}
