/** `flowgpu sample`, `flowgpu nll`, `flowgpu eval toy|mnist`: a checkpoint or samples file in, files and figures out. */
import { existsSync } from 'node:fs';
import { data, flow, io, metrics, node, tensor } from '../node.js';
import { num, oneOf, optNum, parse, SOLVERS, UsageError } from './args.js';
import { imageSampleGrid, pairGrid, writeImageSamples } from './images.js';
import { withGpu } from './run.js';

export const SAMPLE_HELP = `flowgpu sample CKPT [options]     (CKPT: a run directory, its model.safetensors or checkpoint.safetensors)
  --pretrained NAME      instead of CKPT, a model shipped with flowgpu: ${io.PRETRAINED_NAMES.join(' | ')}
                         (its own solver, steps and guidance unless given)
  --n N                  number of samples (default 10000 for 2-D toys, 1000 for MNIST)
  --solver NAME          euler | midpoint | heun | rk4 | dopri5 (default midpoint)
  --nfe N                velocity evaluations for fixed-step solvers (default 40)
  --rtol X --atol X      dopri5 tolerances (default 1e-5)
  --sde                  2-D toys: Euler–Maruyama with the score from the velocity (steps = --nfe, g = σ_t)
  --seed N               seed of the source noise (default 0)
  --weights ema|raw      a checkpoint's EMA average (default, when it has one) or its raw parameters
  --out FILE.npy         where to write the samples (default samples.npy); MNIST: images
                         [N, 1, H, W] in [0, 1], and class labels (int32 [N]) in FILE.labels.npy
  --png FILE.png         also draw them (MNIST: a 10×10 grid, one row per class when conditional;
                         a map from data: inputs beside or above where they land)
  --from FILE|DIR        a run trained with --source or --pairs maps these instead of N(0, I): rows
                         (.npy/.csv [N, D], data units) for point models, images (a PNG folder, .npy
                         or IDX) for image models; N = their count. Without it such a run starts
                         from its own source set, when it is a toy or its file is still there
 point models (flowgpu train points):
  --cond FILE            a conditioned run's condition per sample (.npy/.csv [N, C])
  --cond-value V[,V…]    one condition for every sample (C numbers)
  --guidance W           classifier-free guidance scale on the condition (default 1)
 conditional MNIST models:
  --class K              every sample of digit K (default: random digits)
  --per-class            N/10 samples of each digit, in order
  --guidance W           classifier-free guidance: v = v(x,t,∅) + W·(v(x,t,c) − v(x,t,∅)) (default 1)
`;

/** Loads a model and says which weights it holds (a checkpoint's EMA average, by default). */
export function loadForSampling(path: string, weights?: 'ema' | 'raw') {
  const m = node.loadModelFile(path, { weights });
  const what = m.weights === 'ema' ? 'EMA weights' : weights === 'raw' ? 'raw weights' : 'raw weights (the run kept no EMA average)';
  process.stderr.write(`using the ${what} of ${m.path}${m.step !== null ? ` (step ${m.step})` : ''}\n`);
  return m;
}

/** `flowgpu sample CKPT`: toy models give points, image models images (the GPU must be up). */
export async function sampleCkpt(argv: string[]): Promise<void> {
  const { v, flag, pos } = parse(argv, {
    n: { type: 'string' }, solver: { type: 'string' }, nfe: { type: 'string' }, rtol: { type: 'string' }, atol: { type: 'string' },
    sde: { type: 'boolean' }, seed: { type: 'string' }, out: { type: 'string' }, png: { type: 'string' }, weights: { type: 'string' },
    class: { type: 'string' }, 'per-class': { type: 'boolean' }, guidance: { type: 'string' }, pretrained: { type: 'string' },
    from: { type: 'string' }, cond: { type: 'string' }, 'cond-value': { type: 'string' },
  }, SAMPLE_HELP, 1);
  if (pos.length !== (v.pretrained === undefined ? 1 : 0)) throw new UsageError(`flowgpu sample takes one checkpoint path, or --pretrained NAME\n\n${SAMPLE_HELP}`);
  const pre = v.pretrained === undefined ? null : io.pretrainedInfo(v.pretrained);
  const solver = oneOf(v.solver ?? pre?.solver ?? 'midpoint', 'solver', SOLVERS);
  const nfe = num(v.nfe ?? pre?.nfe ?? 40, 'nfe', { int: true, min: 1 });
  const seed = num(v.seed ?? 0, 'seed', { int: true, min: 0 });
  const weights = v.weights === undefined ? undefined : oneOf(v.weights, 'weights', ['ema', 'raw'] as const);
  const out = v.out ?? 'samples.npy';
  const m = pre ? node.pretrained(v.pretrained!) : loadForSampling(pos[0], weights);
  const { net, config: cfg } = m;
  try {
    const image = net.sampleShape.length === 3;
    if (image && (v.cond || v['cond-value'])) throw new UsageError('--cond and --cond-value are for point models (flowgpu train points --cond-data)');
    const n = num(v.n ?? (image ? 1000 : 10000), 'n', { int: true, min: 1 });
    if (image) {
      if (flag('sde') || v.rtol || v.atol) throw new UsageError('--sde, --rtol and --atol are for 2-D toy checkpoints');
      const [c, h, size] = net.sampleShape;
      const classes = net.numClasses || 10;
      const k = optNum(v.class, 'class', { int: true, min: 0, max: classes - 1 });
      const guidance = num(v.guidance ?? pre?.guidance ?? 1, 'guidance');
      if (!net.numClasses && (k !== undefined || flag('per-class') || guidance !== 1)) {
        throw new UsageError(`${m.path} is an unconditional model: --class, --per-class and --guidance need one trained with --cond`);
      }
      if (k !== undefined && flag('per-class')) throw new UsageError('give --class k or --per-class, not both');
      const mode: flow.LabelMode = k !== undefined ? { class: k } : flag('per-class') ? 'per-class' : 'random';
      if (mode === 'per-class' && n % classes !== 0) throw new UsageError(`--per-class needs --n to be a multiple of ${classes} (the model's classes), got ${n}`);
      const starts = imageStart(cfg, v.from, net.sampleShape, n, m.path);
      const count = starts ? starts.length / (c * h * size) : n;
      if (starts && v.n !== undefined && count !== n) throw new UsageError(`--n ${n} and --from ${v.from} (${count} images) disagree: leave out --n`);
      const labels = net.numClasses ? flow.classLabels(count, mode, { classes: net.numClasses, seed }) : null;
      const res = await flow.generate(net, { n: count, solver, nfe, seed, labels, guidance, ...(starts ? { source: starts } : {}) });
      const pixels = data.modelToPixels(res.x);
      const written = writeImageSamples(out, pixels, net.sampleShape, labels);
      if (v.png) {
        written.push(v.png);
        node.writePng(v.png, starts ? pairGrid(data.modelToPixels(starts), pixels, net.sampleShape) : imageSampleGrid(pixels, labels, net.sampleShape));
      }
      const how = labels ? `, ${k !== undefined ? `class ${k}` : mode === 'per-class' ? `${n / classes} per class` : 'random classes'}, guidance ${guidance}` : '';
      process.stdout.write(`wrote ${count} ${c > 1 ? `${c}×` : ''}${h}×${size} samples (${solver}, ${res.nfe} velocity evaluations${how}${starts ? ', mapped from the given images' : ''}) to ${written.join(', ')}\n`);
      return;
    }
    if (v.class !== undefined || flag('per-class')) throw new UsageError('--class and --per-class are for conditional MNIST checkpoints');
    const dim = net.sampleShape[0];
    const start = pointStart(cfg, v.from, n, seed, dim, m.path);
    const cond = pointConditions(cfg, net.condVector ?? 0, v.cond, v['cond-value'], start.n, m.path);
    if (v.guidance !== undefined && !cond) throw new UsageError(`--guidance needs a conditioned point model and --cond FILE or --cond-value V (${m.path} ${net.condVector ? 'is conditioned: give the condition' : 'takes no condition'})`);
    const guidance = num(v.guidance ?? 1, 'guidance');
    if (start.n !== n && v.n !== undefined) throw new UsageError(`--n ${n} and --from ${v.from} (${start.n} rows) disagree: leave out --n`);
    let x: Float32Array;
    let evals: number;
    const x0 = start.x0;
    if (flag('sde')) {
      if (start.fromData || cond) throw new UsageError('--sde samples from N(0, I) without conditions: leave out --sde');
      const xt = tensor(x0, [n, dim]);
      const r = await flow.sampleSDE(flow.timeAsTensor((x, t) => net.forward(x, t)), xt, {
        steps: nfe, seed, scheduler: flow.schedulerByName(String(cfg.path ?? 'condot'), { sigmaMin: Number(cfg.sigmaMin ?? 0) }),
      });
      x = await r.x.f32();
      evals = r.nfe;
      const bad = flow.nonFiniteRows(x, dim);
      if (bad.length) throw new UsageError(`the SDE ${flow.describeRows(bad, 'sample')} went non-finite: use more --nfe steps`);
      r.x.dispose();
      xt.dispose();
    } else {
      ({ x, nfe: evals } = await flow.generate(net, {
        n: start.n, solver, nfe, source: x0, conditions: cond, guidance, rtol: optNum(v.rtol, 'rtol', { gt: 0 }), atol: optNum(v.atol, 'atol', { gt: 0 }),
      }));
    }
    const st = cfg.standardization as data.Standardization | undefined; // train points: back to the data's units
    if (st) x = data.unstandardize(x, st);
    node.writeNpy(out, x, [start.n, dim]);
    process.stdout.write(`wrote ${start.n} samples to ${out} (${flag('sde') ? 'euler-maruyama' : solver}, ${evals} velocity evaluations${start.fromData ? `, from ${start.fromData}` : ''}${cond ? `, guidance ${guidance}` : ''})\n`);
    const dataset = typeof cfg.dataset === 'string' && data.isToyName(cfg.dataset) ? cfg.dataset : null;
    if (v.png && dim !== 2) throw new UsageError(`--png draws 2-D point models; this one has ${dim} dimensions (train points draws a corner plot of its run)`);
    if (v.png && start.fromData) {
      // a map from data: its inputs beside their images, on shared axes
      const inputs = data.unstandardize(x0, sideStandardization(cfg.source)!);
      node.writePng(v.png, io.scatterPlot(inputs, x, { titles: [`inputs (${start.fromData})`, 'mapped'], limits: io.squareLimits([inputs, x]) }));
    } else if (v.png && dataset) node.writePng(v.png, io.scatterPlot(data.sampleToy(dataset, n, 12345), x, { titles: [`${dataset} data`, 'samples'] }));
    else if (v.png) node.writePng(v.png, io.scatterPlot(x0, x, { titles: ['N(0, I) inputs', `samples${cond ? ` (guidance ${guidance})` : ''}`], limits: io.squareLimits([x0, x]) }));
  } finally {
    net.module.dispose();
  }
}

/**
 * Where an image model's samples start: all images of --from, or (a run trained from data) n of
 * its source set's if it is still there; null: N(0, I). In model space, [N·C·H·W].
 */
function imageStart(cfg: Record<string, unknown>, from: string | undefined, shape: number[], n: number, where: string): Float32Array | null {
  const src = cfg.source as { kind: string; file: string } | null | undefined;
  if (from && !src) throw new UsageError(`--from: ${where} was trained from N(0, I), not from images (train it with --source or --pairs to map images)`);
  const file = from ?? src?.file;
  if (!file) return null;
  if (!from && !existsSync(file)) throw new UsageError(`${where} flows from ${file}, which is not there: give the start images with --from DIR|FILE`);
  const s = node.readImages(file);
  if ([s.channels, s.height, s.width].join() !== shape.join()) {
    throw new UsageError(`--from ${file}: ${s.channels}×${s.height}×${s.width} images; this model maps ${shape.join('×')} images`);
  }
  const x = data.imagesToModel(s);
  return from ? x : data.cycleRows(x, x.length / s.count, n); // the run's own source: n of its images
}

/** A run's standardisation of a side set (source or condition), if it has one. */
function sideStandardization(side: unknown): data.Standardization | null {
  const st = (side as { standardization?: data.Standardization } | null)?.standardization;
  return st && Array.isArray(st.mean) && Array.isArray(st.scale) ? st : null;
}

/**
 * Where a point model's samples start: rows of --from (standardised like the run's source), the
 * run's own source set (a toy, or its file if it is still there), or N(0, I).
 */
function pointStart(cfg: Record<string, unknown>, from: string | undefined, n: number, seed: number, dim: number, where: string): { x0: Float32Array; n: number; fromData: string | null } {
  const src = cfg.source as { kind: string; file: string } | null | undefined;
  const st = sideStandardization(src);
  let file = from;
  if (!file && src) {
    if (!data.isToyName(src.file) && !existsSync(src.file)) {
      throw new UsageError(`${where} flows from ${src.kind === 'pairs' ? 'paired inputs' : 'the data set'} ${src.file}, which is not there: give the start rows with --from FILE`);
    }
    file = src.file;
  }
  if (!file) return { x0: flow.hostNormals(n * dim, seed), n, fromData: null };
  if (!st) throw new UsageError(`--from: ${where} was trained from N(0, I), not from data (train it with --source or --pairs to map inputs)`);
  let rows: Float32Array;
  if (data.isToyName(file)) rows = data.sampleToy(file, n, seed);
  else {
    const p = node.readPoints(file);
    if (p.dim !== dim) throw new UsageError(`--from ${file}: rows of ${p.dim} values; this model maps rows of ${dim}`);
    rows = from ? p.data : data.cycleRows(p.data, dim, n);
  }
  return { x0: data.standardize(rows, st), n: rows.length / dim, fromData: file };
}

/** The conditions of a conditioned point model's samples (standardised like its training conditions), or null. */
function pointConditions(cfg: Record<string, unknown>, width: number, file: string | undefined, value: string | undefined, n: number, where: string): Float32Array | null {
  if (!file && value === undefined) return null;
  if (!width) throw new UsageError(`--cond/--cond-value: ${where} takes no condition (train with --cond-data to condition on a number)`);
  if (file && value !== undefined) throw new UsageError('give --cond FILE or --cond-value V, not both');
  const st = sideStandardization(cfg.cond);
  let c: Float32Array;
  if (value !== undefined) {
    const vals = value.split(',').map((t, j) => num(t.trim(), `cond-value (number ${j + 1})`));
    if (vals.length !== width) throw new UsageError(`--cond-value: ${vals.length} number${vals.length > 1 ? 's' : ''} for a condition of ${width}`);
    c = Float32Array.from({ length: n * width }, (_, i) => vals[i % width]);
  } else {
    const p = node.readPoints(file!);
    if (p.dim !== width) throw new UsageError(`--cond ${file}: rows of ${p.dim} values; this model's condition has ${width}`);
    if (p.rows !== n) throw new UsageError(`--cond ${file}: ${p.rows} conditions for ${n} samples: give one per sample (or set --n)`);
    c = p.data;
  }
  return st ? data.standardize(c, st) : c;
}

const NLL_HELP = `flowgpu nll CKPT --data FILE.npy [options]     log-likelihood of points [N, D] under a point model
  --hutchinson           Hutchinson's divergence estimator instead of the exact divergence
  --probes K             Hutchinson probes (default 1)
  --steps N              solver steps of the backward integration (default 32)
  --solver NAME          euler | midpoint | heun | rk4 | dopri5 (default rk4)
  --seed N               seed of the probes (default 0)
  --out FILE.npy         also write each point's log-likelihood (float32 [N])
`;

export async function nll(argv: string[]): Promise<number> {
  const { v, flag, pos } = parse(argv, {
    data: { type: 'string' }, hutchinson: { type: 'boolean' }, probes: { type: 'string' }, steps: { type: 'string' },
    solver: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
  }, NLL_HELP, 1);
  if (pos.length !== 1 || !v.data) throw new UsageError(NLL_HELP);
  const m = loadForSampling(pos[0]);
  try {
    if (m.net.sampleShape.length !== 1) throw new UsageError(`flowgpu nll works on point models (2-D toys); ${m.path} is an image model`);
    if (m.config.source || m.net.condVector) throw new UsageError(`flowgpu nll needs a flow from N(0, I) without conditions; ${m.path} flows from data or takes a condition, whose density flowgpu does not know`);
    const dim = m.net.sampleShape[0];
    const arr = node.readNpy(v.data);
    if (arr.shape.length !== 2 || arr.shape[1] !== dim) throw new UsageError(`${v.data}: points must be an [N, ${dim}] array for this model, got [${arr.shape.join(', ')}]`);
    if (arr.shape[0] === 0) throw new UsageError(`${v.data}: no points (an empty array)`);
    data.validateFinite(arr.data, dim, v.data);
    // a model trained on standardised points: log p_x(x) = log p_z(z) − Σ_d log scale_d
    const st = m.config.standardization as data.Standardization | undefined;
    const x1 = tensor(st ? data.standardize(arr.data, st) : Float32Array.from(arr.data), arr.shape);
    const jacobian = st ? st.scale.reduce((a, s) => a + Math.log(s), 0) : 0;
    const res = await flow.logLikelihood(flow.timeAsTensor((x, t) => m.net.forward(x, t)), x1, {
      divergence: flag('hutchinson') ? 'hutchinson' : 'exact',
      probes: optNum(v.probes, 'probes', { int: true, min: 1 }),
      steps: num(v.steps ?? 32, 'steps', { int: true, min: 1 }),
      solver: oneOf(v.solver ?? 'rk4', 'solver', SOLVERS),
      seed: num(v.seed ?? 0, 'seed', { int: true, min: 0 }),
    });
    const lp = (await res.logp.f32()).map((v) => v - jacobian);
    const bad = flow.nonFiniteRows(lp, 1);
    if (bad.length) throw new UsageError(`the log-likelihood of ${flow.describeRows(bad, 'point')} is not finite: the model diverges there`);
    const mean = lp.reduce((a, x) => a + x, 0) / lp.length;
    if (v.out) node.writeNpy(v.out, lp, [lp.length]);
    process.stdout.write(`mean log-likelihood ${mean.toFixed(4)} nats over ${lp.length} points (${(-mean / dim / Math.LN2).toFixed(4)} bits/dim; ${res.nfe} velocity evaluations)\n`);
    return 0;
  } finally {
    m.net.module.dispose();
  }
}

const EVAL_TOY_HELP = `flowgpu eval toy SAMPLES.npy --dataset ${data.TOY_NAMES.join('|')} [--n 2000]
  sliced 2-Wasserstein and RBF MMD² between the samples [N, 2] and fresh data, beside the same
  figures for two independent data draws (the floor)
`;

export const EVAL_MNIST_HELP = `flowgpu eval mnist SAMPLES.npy [options]

  SAMPLES.npy            images [N, 1, H, W] (H = W = 16 or 28) with values in [0, 1]
  --labels FILE.npy      int32 [N] requested digits (default: SAMPLES.labels.npy when it exists)
  --cache DIR            where the classifier is cached (default $FLOWGPU_CACHE or ~/.cache/flowgpu)
  --json                 print the figures as JSON too

The first run at a size trains the classifier with flowgpu (about a minute or two on a software
driver) and caches it; later runs load it.
`;

export async function evalCmd(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === 'toy') {
    const { v, pos } = parse(rest, { dataset: { type: 'string' }, n: { type: 'string' } }, EVAL_TOY_HELP, 1);
    if (pos.length !== 1 || !v.dataset) throw new UsageError(EVAL_TOY_HELP);
    const dataset = oneOf(v.dataset, 'dataset', data.TOY_NAMES);
    const arr = node.readNpy(pos[0]);
    if (arr.shape.length !== 2 || arr.shape[1] !== 2) throw new UsageError(`${pos[0]}: expected [N, 2] samples, got [${arr.shape.join(', ')}]`);
    const q = metrics.sampleQualityAgainst(arr.data, (k, seed) => data.sampleToy(dataset, k, seed), 2, { n: num(v.n ?? 2000, 'n', { int: true, min: 2 }) });
    process.stdout.write(metrics.formatQuality(q) + '\n' + JSON.stringify(q) + '\n');
    return 0;
  }
  if (what === 'mnist') {
    const { v, flag, pos } = parse(rest, { labels: { type: 'string' }, cache: { type: 'string' }, json: { type: 'boolean' } }, EVAL_MNIST_HELP, 1);
    if (pos.length !== 1) throw new UsageError(EVAL_MNIST_HELP);
    return withGpu(() => evalMnist(pos[0], v.labels, v.cache, flag('json')));
  }
  throw new UsageError(`usage: flowgpu eval toy SAMPLES.npy --dataset NAME | flowgpu eval mnist SAMPLES.npy [--labels L.npy]${what ? ` (got '${what}')` : ''}`);
}

/** `flowgpu eval mnist` (the GPU must be up). */
export async function evalMnist(path: string, labelFile?: string, cacheDir?: string, json = false): Promise<metrics.MnistEvalReport> {
  const { pixels, n, size } = metrics.imageSamplesFrom(node.readNpy(path), path);
  if (!labelFile && existsSync(node.labelsPath(path))) {
    labelFile = node.labelsPath(path);
    process.stderr.write(`using the labels in ${labelFile}\n`);
  }
  const labels = labelFile ? metrics.digitLabelsFrom(node.readNpy(labelFile), n, labelFile) : null;
  const judge = await loadJudge(size, cacheDir);
  try {
    const r = await metrics.evaluateMnistSamples(pixels, size, labels, judge, node.readMnist('train'), path);
    process.stdout.write(metrics.formatMnistEval(r) + '\n');
    if (json) process.stdout.write(JSON.stringify(r) + '\n');
    return r;
  } finally {
    judge.classifier.dispose();
  }
}

/** The cached MNIST judge, with a note and a progress line while a missing one trains. */
export function loadJudge(size: number, cacheDir?: string, o: Omit<node.LoadJudgeOptions, 'cacheDir' | 'onNote' | 'onProgress'> = {}): Promise<metrics.MnistJudge> {
  return node.loadMnistJudge(size, {
    ...o,
    cacheDir,
    onNote: (s) => process.stderr.write(s + '\n'),
    onProgress: (p) => process.stderr.write(`classifier ${size}×${size}: step ${p.step}/${p.steps}, loss ${p.loss.toFixed(4)}${p.step === p.steps ? '\n' : '\r'}`),
  });
}

export function sampleCmd(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) return sampleCkpt(argv).then(() => 0);
  return withGpu(() => sampleCkpt(argv));
}

export function nllCmd(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) return nll(argv);
  return withGpu(() => nll(argv));
}
