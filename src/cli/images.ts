/**
 * `flowgpu train images --data DIR|FILE`: a flow on the user's own images (a folder of PNGs, an
 * .npy [N, C, H, W] or an IDX file; node.readImages), class-conditional with label dropout and
 * guidance when the images have labels. `trainImages` is the one training path for images:
 * `flowgpu train mnist` (src/cli/train.ts) is this with the built-in MNIST set.
 * Into --out DIR: model.safetensors, checkpoint.safetensors, samples.npy ([N, C, H, W] in [0, 1]),
 * samples.labels.npy (conditional runs), grid.png (gray or RGB), loss.png, metrics.json.
 */
import { join } from 'node:path';
import { data, flow, io, metrics, nn, node, train } from '../node.js';
import { LOOP_OPTIONS, RUN_DIR_HELP, loopSettings, num, oneOf, pairsArgs, parse, UsageError, type LoopSettings, type RunFlags } from './args.js';
import { adapterName, finishRun, inRunDir, runTraining, trainerOptions } from './run.js';

export const IMAGES_HELP = `flowgpu train images --data DIR|FILE [options]

  --data DIR|FILE        the images: a folder of PNGs (gray or RGB, all one size; one sub-folder per
                         class labels them, sorted names = classes 0, 1, …; or a labels.npy beside
                         them, one label per PNG in file-name order), an .npy [N, C, H, W] (or
                         [N, H, W]) of uint8 0…255 or float32 in [0, 1] (labels: X.labels.npy beside
                         it), or an IDX file (MNIST's format)
  --labels FILE          class labels (.npy or IDX, one integer per image): a class-conditional run
  --source DIR|FILE      flow from this image set (same C×H×W) instead of N(0, I): a data-to-data flow
  --pairs X0 X1          train on given pairs: image i of X0 flows to image i of X1 (X1 replaces
                         --data); \`flowgpu sample RUN --from NEW_X0\` then maps new images
  --sigma-min X          with --source or --pairs: the width σ of the path around each straight line,
                         x_t ~ N(t·x1 + (1 − t)·x0, σ²) in model units [−1, 1] (default 0.01)
  --holdout F            fraction of the images held out for the metrics (default 0.1)
  --model unet|mlp       velocity network (default unet: square images; mlp: any shape, flattened)
  --hidden N             UNet base channels, a multiple of 8 (default 32) | MLP width (default 1024)
  --layers N             UNet residual blocks per level (default 2) | MLP hidden layers (default 3)
  --label-dropout P      conditional runs: probability of the null class in training (default 0.1)
  --guidance W           classifier-free guidance scale of the final samples (default 1)
  --steps N              training steps (default 5000)
  --batch N              batch size (default 64, at most the training images)
  --lr X                 AdamW learning rate (default 2e-4 for the UNet, 1e-3 for the MLP)
  --warmup N             warm-up steps, then cosine decay (default 0 = constant lr)
  --ema D                EMA decay of the sampling weights (default 0.999; 0 = off)
  --weight-decay X --grad-clip X (default 1) --seed N --log-every K --ckpt-every N --profile   as for train mnist
  --out DIR              output directory (default runs/images-<name>)
${RUN_DIR_HELP}
  --samples N            images to sample at the end (default 100; conditional: 10 per class, and a
                         multiple of the class count)
  --solver NAME --nfe N  the final sampler (default midpoint, 40 evaluations)

Pixels are scaled to [−1, 1] for the model (x = 2p − 1, p = byte/255) and back for the outputs.
The UNet has three levels (two halvings) when the side is a multiple of 4, fewer otherwise. Writes
model.safetensors, checkpoint.safetensors, samples.npy ([N, C, H, W] float32 in [0, 1]),
samples.labels.npy (conditional runs), grid.png (ten per row; one row per class when conditional;
RGB for 3 channels), loss.png and metrics.json: sliced W2 and MMD² of the samples against the
held-out images in pixel space, beside the same figures for held-out vs training images (the floor).
Sample again with \`flowgpu sample DIR\`.
`;

const OPTIONS = {
  ...LOOP_OPTIONS, data: { type: 'string' }, labels: { type: 'string' }, holdout: { type: 'string' }, model: { type: 'string' },
  'label-dropout': { type: 'string' }, guidance: { type: 'string' }, source: { type: 'string' }, 'pairs-x0': { type: 'string' },
  'sigma-min': { type: 'string' },
} as const;

/** Everything that defines an images run; stored in the checkpoints (nn.netSpecOf reads `net`). */
export interface ImagesConfig extends LoopSettings {
  kind: 'images';
  data: string;
  labels: string | null;
  holdout: number;
  /** One image: [C, H, W]. */
  shape: number[];
  classes: number;
  classNames: string[] | null;
  labelDropout: number;
  /** Where x0 comes from: N(0, I) (null), another image set, or the images paired with the data. */
  source: { kind: 'set' | 'pairs'; file: string } | null;
  /** Path noise σ of a data source or pairs (model units; 0 for the noise source). */
  pathNoise: number;
  net: nn.NetSpec;
}

/** A UNet for C×S×S images: base·[1, 2, 2] channels over two halvings when S is a multiple of 4 (fewer otherwise). */
export function imageUNet(channels: number, size: number, classes: number, base = 32, resBlocks = 2): nn.UNetConfig {
  const mults = size % 4 === 0 && size >= 8 ? [1, 2, 2] : size % 2 === 0 && size >= 4 ? [1, 2] : [1];
  return { ...nn.defaultUNetConfig(28, classes), inChannels: channels, outChannels: channels, imageSize: size, baseChannels: base, channelMults: mults, numResBlocks: resBlocks };
}

/** The network flags of the image commands (--model, --hidden, --layers) → a spec for images [C, H, W]. */
export function imageNetSpec(v: Record<string, string | undefined>, shape: number[], classes: number, arch: 'unet' | 'mlp'): nn.NetSpec {
  const [c, h, w] = shape;
  const hidden = num(v.hidden ?? (arch === 'mlp' ? 1024 : 32), 'hidden', { int: true, min: 1, max: 65536 });
  const layers = num(v.layers ?? (arch === 'mlp' ? 3 : 2), 'layers', { int: true, min: 1 });
  if (arch === 'mlp') return nn.mlpSpec({ dim: c * h * w, hidden, hiddenLayers: layers, condDim: classes }, [c, h, w]);
  if (hidden % 8 !== 0) throw new UsageError(`--hidden is the UNet's base channel count: a multiple of 8 (its GroupNorm groups), got ${hidden}`);
  if (h !== w) throw new UsageError(`the images are ${w}×${h}: the UNet takes square images; crop or pad them to a square, or use --model mlp`);
  return { arch: 'unet', model: imageUNet(c, h, classes, hidden, layers) };
}

export function imagesConfig(argv: string[]): { cfg: ImagesConfig; run: RunFlags; guidance: number; images: data.ImageSet; heldOut: data.ImageSet | null; source: ImageSource | null } {
  const { v, flag } = parse(pairsArgs(argv), OPTIONS, IMAGES_HELP);
  if (!v.data) throw new UsageError(`flowgpu train images needs --data DIR|FILE (a folder of PNGs, an .npy or an IDX file)\n\n${IMAGES_HELP}`);
  const all = node.readImages(v.data, { labels: v.labels });
  const arch = oneOf(v.model ?? 'unet', 'model', ['unet', 'mlp'] as const);
  const shape = [all.channels, all.height, all.width];
  const net = imageNetSpec(v, shape, all.classes, arch);
  const holdout = num(v.holdout ?? 0.1, 'holdout', { min: 0, max: 0.9 });
  const cond = all.classes > 0;
  const name = v.data.replace(/\/+$/, '').replace(/^.*\//, '').replace(/\.[^.]+$/, '') || 'data';
  const { loop, run } = loopSettings(v, flag, {
    steps: 5000, batch: 64, lr: arch === 'mlp' ? 1e-3 : 2e-4, gradClip: 1, samples: cond ? 10 * all.classes : 100, out: join('runs', `images-${name}`),
  });
  if (cond && run.samples % all.classes !== 0) {
    throw new UsageError(`--samples must be a multiple of the ${all.classes} classes for a conditional run (the same number of each class), got ${run.samples}`);
  }
  const split = data.holdoutSplit(all.count, holdout, loop.seed);
  const images = data.pickImages(all, split.train);
  if (loop.batch > images.count) {
    throw new UsageError(`--batch ${loop.batch} is larger than the ${images.count} training images${split.holdout.length ? ` (${split.holdout.length} of ${all.count} are held out)` : ''}: use --batch ≤ ${images.count}, or more images`);
  }
  const srcFile = v.source ?? v['pairs-x0'];
  let source: ImageSource | null = null;
  if (srcFile) {
    if (v.source && v['pairs-x0']) throw new UsageError('give --source (an image set to flow from) or --pairs (given pairs), not both');
    const kind = v.source ? 'set' : 'pairs';
    const s = node.readImages(srcFile);
    const what = kind === 'set' ? `--source ${srcFile}` : `--pairs ${srcFile}`;
    if (s.channels !== all.channels || s.height !== all.height || s.width !== all.width) {
      throw new UsageError(`${what} holds ${s.channels}×${s.height}×${s.width} images and ${v.data} ${shape.join('×')}: a flow maps between images of one shape (resize one set)`);
    }
    if (kind === 'pairs' && s.count !== all.count) {
      throw new UsageError(`--pairs: ${srcFile} has ${s.count} images and ${v.data} ${all.count}: image i of one pairs with image i of the other, so they need the same count`);
    }
    // pairs follow the data's split; a source set is split on its own
    const ss = kind === 'pairs' ? split : data.holdoutSplit(s.count, holdout, loop.seed + 1);
    const train = data.pickImages(s, ss.train);
    if (kind === 'set' && loop.batch > train.count) throw new UsageError(`--batch ${loop.batch} is larger than the ${train.count} training images of --source ${srcFile}: use --batch ≤ ${train.count}`);
    source = { kind, file: srcFile, train, heldOut: ss.holdout.length ? data.pickImages(s, ss.holdout) : null };
  } else if (v['sigma-min'] !== undefined) throw new UsageError('--sigma-min is the path width of --source and --pairs runs');
  const cfg: ImagesConfig = {
    kind: 'images', data: v.data, labels: all.labelsFile, holdout, shape, classes: all.classes, classNames: all.classNames,
    labelDropout: cond ? num(v['label-dropout'] ?? 0.1, 'label-dropout', { min: 0, max: 1 }) : 0,
    source: source ? { kind: source.kind, file: source.file } : null,
    pathNoise: source ? num(v['sigma-min'] ?? 0.01, 'sigma-min', { min: 0, max: 10 }) : 0,
    ...loop, net,
  };
  const guidance = num(v.guidance ?? 1, 'guidance');
  if (!cond && (guidance !== 1 || v['label-dropout'] !== undefined)) throw new UsageError('--guidance and --label-dropout are for labelled images (class sub-folders, labels.npy or --labels)');
  return { cfg, run, guidance, images, heldOut: split.holdout.length >= 2 ? data.pickImages(all, split.holdout) : null, source };
}

/** The source side of an image run: another set, or the images paired with the data, split like the data. */
export interface ImageSource {
  kind: 'set' | 'pairs';
  file: string;
  train: data.ImageSet;
  heldOut: data.ImageSet | null;
}

/** What `trainImages` needs besides the images: the stored config, the network and the wording of its output. */
export interface ImageRun {
  cfg: LoopSettings & { labelDropout: number };
  run: RunFlags;
  spec: nn.NetSpec;
  guidance: number;
  /** Training images (labelled: a class-conditional run) and, for the metrics, held-out ones. */
  images: data.ImageSet;
  heldOut: data.ImageSet | null;
  /** A data source (another set, or pairs) and the path noise σ of its paths. */
  source?: ImageSource | null;
  pathNoise?: number;
  /** The progress header's start ("flowgpu train images: DIR, 3×16×16") and the loss plot's title. */
  head: string;
  lossTitle: string;
  /** Extra fields at the start of metrics.json. */
  metricsHead: object;
  /** A last line of the report (e.g. how to judge the samples). */
  after?: string;
}

/** Trains, samples and writes an image run's files (the GPU must be up): the one path of `train images` and `train mnist`. */
export async function trainImages(r: ImageRun): Promise<{ history: train.History; pixels: Float32Array | null; labels: Int32Array | null; quality: metrics.QualityReport | null }> {
  const { cfg, run, images } = r;
  const dataset = new data.ImageDataset(images, 'training images');
  const src = r.source ?? null;
  const other = src ? new data.ImageDataset(src.train, src.file) : undefined;
  const net = nn.buildNet(r.spec, cfg.seed);
  const trainer = new train.Trainer({
    ...trainerOptions(cfg, run), net, data: dataset.batches(cfg.batch, cfg.seed, src?.kind === 'pairs' ? { pairs: other } : { source: other }),
    labelDropout: cfg.labelDropout, pathNoise: r.pathNoise, config: { ...cfg },
  });
  return inRunDir(run, trainer, async () => {
    const cond = net.numClasses > 0;
    const from = src ? `, ${src.kind === 'pairs' ? 'paired with' : 'from'} ${src.file}` : '';
    const head = `${r.head}, ${images.count} images${cond ? ` in ${net.numClasses} classes (class-conditional)` : ''}${r.heldOut ? ` + ${r.heldOut.count} held out` : ''}${from}, ` +
      `${r.spec.arch}, ${net.module.parameterCount()} parameters, batch ${cfg.batch}, ${cfg.steps} steps on ${await adapterName()}`;
    const result = await runTraining(trainer, run, head);
    if (result.cancelled) return { history: result.history, pixels: null, labels: null, quality: null };
    const labels = cond ? flow.classLabels(run.samples, 'per-class', { classes: net.numClasses }) : null;
    const t0 = Date.now();
    // a data source: start from held-out source images (cycled), else the training ones
    const shape = net.sampleShape;
    const dim = shape.reduce((a, b) => a * b, 1);
    const starts = src ? src.heldOut ?? src.train : null;
    const inputs = starts ? data.cycleRows(data.imagesToModel(starts), dim, run.samples) : null;
    const res = await trainer.withSamplingWeights(() => flow.generate(net, { n: run.samples, solver: run.solver, nfe: run.nfe, seed: cfg.seed, labels, guidance: r.guidance, ...(inputs ? { source: inputs } : {}) }));
    const seconds = (Date.now() - t0) / 1000;
    const pixels = data.modelToPixels(res.x);
    const files = writeImageSamples(join(run.out, 'samples.npy'), pixels, shape, labels);
    node.writePng(join(run.out, 'grid.png'), inputs ? pairGrid(data.modelToPixels(inputs), pixels, shape) : imageSampleGrid(pixels, labels, shape));
    const quality = r.heldOut
      ? metrics.sampleQuality(pixels, data.imagePixels(r.heldOut), data.imagePixels(images), dim, { n: Math.min(500, run.samples, r.heldOut.count, images.count) })
      : null;
    // pairs: each sample is the image of a held-out x0 whose partner is known
    const partners = src?.kind === 'pairs' && src.heldOut && r.heldOut ? data.cycleRows(data.imagePixels(r.heldOut), dim, run.samples) : null;
    const pairRms = partners ? Math.sqrt(pixels.reduce((a, v, i) => a + (v - partners[i]) ** 2, 0) / pixels.length) : null;
    await finishRun(trainer, result, run, {
      lossTitle: r.lossTitle,
      head: r.metricsHead,
      tail: { sampler: { solver: run.solver, nfe: res.nfe, n: run.samples, guidance: r.guidance, seconds }, ...(quality ?? {}), ...(pairRms !== null ? { pairRmsPixels: pairRms } : {}) },
    });
    const names = ['model.safetensors', 'checkpoint.safetensors', ...files.map((f) => f.slice(run.out.length + 1)), 'grid.png', 'loss.png', 'metrics.json'];
    const report = (quality ? `${metrics.formatQuality(quality).replace(/points/, 'images, pixel space [0, 1]')}\n` : '') +
      (pairRms !== null ? `RMS pixel error of the mapped held-out inputs against their partners: ${pairRms.toFixed(4)} (pixels in [0, 1])\n` : '');
    process.stdout.write(`${report}wrote ${run.out}/{${names.join(', ')}}\n${r.after ?? ''}`);
    return { history: result.history, pixels, labels, quality };
  });
}

/** `flowgpu train images` (the GPU must be up). */
export function runImages(o: ReturnType<typeof imagesConfig>) {
  const { cfg } = o;
  const [c, h, w] = cfg.shape;
  return trainImages({
    ...o, spec: cfg.net, pathNoise: cfg.pathNoise,
    head: `flowgpu train images: ${cfg.data}, ${c}×${h}×${w}`,
    lossTitle: `CFM loss (${cfg.data}, ${c}×${h}×${w})`,
    metricsHead: { data: cfg.data, shape: cfg.shape, classes: cfg.classes, model: cfg.net.arch },
    after: `sample again with: flowgpu sample ${o.run.out}\n`,
  });
}

/** Writes images [N, C, H, W] in [0, 1] (`shape` [C, H, W], or the side of square gray images) and, when given, their labels (int32 [N]) beside them. */
export function writeImageSamples(path: string, pixels: Float32Array, shape: number | readonly number[], labels: Int32Array | null): string[] {
  const s = typeof shape === 'number' ? [1, shape, shape] : [...shape];
  const n = pixels.length / s.reduce((a, b) => a * b, 1);
  node.writeNpy(path, pixels, [n, ...s]);
  if (!labels) return [path];
  node.writeNpy(node.labelsPath(path), labels, [n]);
  return [path, node.labelsPath(path)];
}

/** Inputs above their images: rows of ten, an input row then its output row (pixels in [0, 1]). */
export function pairGrid(inputs: Float32Array, outputs: Float32Array, shape: readonly number[]) {
  const d = shape.reduce((a, b) => a * b, 1);
  const n = Math.min(inputs.length, outputs.length) / d;
  const rows = Math.min(5, Math.ceil(n / 10));
  const both = new Float32Array(rows * 20 * d);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < 10 && r * 10 + k < n; k++) {
      const i = r * 10 + k;
      both.set(inputs.subarray(i * d, (i + 1) * d), (r * 20 + k) * d);
      both.set(outputs.subarray(i * d, (i + 1) * d), (r * 20 + 10 + k) * d);
    }
  }
  return imageSampleGrid(both, null, shape);
}

/** The sample grid of images [N, C, H, W]: gray or RGB; other channel counts show their first channel. */
export function imageSampleGrid(pixels: Float32Array, labels: ArrayLike<number> | null, shape: readonly number[]) {
  const [c, h, w] = shape;
  if (c === 1 || c === 3) return io.sampleGrid(pixels, labels, shape);
  const n = pixels.length / (c * h * w);
  const first = new Float32Array(n * h * w);
  for (let i = 0; i < n; i++) first.set(pixels.subarray(i * c * h * w, i * c * h * w + h * w), i * h * w);
  return io.sampleGrid(first, labels, [1, h, w]);
}
