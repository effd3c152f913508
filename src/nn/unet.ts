/**
 * A small UNet for the velocity field of image flow matching (MNIST 28×28 or 16×16): v_θ(x, t, c).
 *
 *   emb  = time_embed(sinusoid(t)) [+ label_emb(c)]          sinusoid: guided-diffusion's
 *                                                             timestep_embedding(1000·t, base)
 *   h    = conv_in(x)
 *   down: per level i (channels base·mult[i]): numResBlocks ResBlocks, each output kept as a skip;
 *         then a 3×3 stride-2 convolution (not after the last level)       28 → 14 → 7, 16 → 8 → 4
 *   mid:  two ResBlocks
 *   up:   per level from the deepest: numResBlocks ResBlocks on concat([h, skip], channels);
 *         then nearest 2× up-sampling and a 3×3 convolution (not after the top level)
 *   out  = conv_out(SiLU(norm_out(h)))
 *   ResBlock(x, emb) = skip(x) + conv2(SiLU(norm2(conv1(SiLU(norm1(x))) + emb_proj(SiLU(emb))[:, :, None, None])))
 *         (skip = 1×1 convolution when the channel count changes, identity otherwise)
 *
 * Class conditioning: label_emb has num_classes + 1 rows; row num_classes is the null class ∅
 * (label dropout in training, the unconditional branch of classifier-free guidance). Any label
 * outside 0…num_classes−1 selects ∅ (num_classes itself, or −1 as flow's `dropLabels` writes by
 * default); omitting the labels means ∅ for every sample.
 *
 * Parameter names and layouts are those of this PyTorch module, so `load_state_dict` accepts a
 * flowgpu checkpoint (state-dict order included):
 *
 *   class ResBlock(nn.Module):
 *       def __init__(s, cin, cout, temb, g):
 *           super().__init__()
 *           s.norm1 = nn.GroupNorm(g, cin); s.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
 *           s.emb_proj = nn.Linear(temb, cout)
 *           s.norm2 = nn.GroupNorm(g, cout); s.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
 *           s.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
 *       def forward(s, x, e):              # e = F.silu(emb)
 *           h = s.conv1(F.silu(s.norm1(x))) + s.emb_proj(e)[:, :, None, None]
 *           return s.skip(x) + s.conv2(F.silu(s.norm2(h)))
 *   class UNet(nn.Module):
 *       def __init__(s, cfg):              # cfg as UNetConfig (camelCase keys)
 *           super().__init__()
 *           b, M, R, g = cfg.baseChannels, cfg.channelMults, cfg.numResBlocks, cfg.groups
 *           temb = 4 * b
 *           s.time_embed = nn.Sequential(nn.Linear(b, temb), nn.SiLU(), nn.Linear(temb, temb))
 *           if cfg.numClasses > 0: s.label_emb = nn.Embedding(cfg.numClasses + 1, temb)
 *           s.conv_in = nn.Conv2d(cfg.inChannels, b, 3, padding=1)
 *           s.down, ch, skips = nn.ModuleList(), b, []
 *           for i, m in enumerate(M):
 *               lvl = nn.Module(); lvl.res = nn.ModuleList()
 *               for _ in range(R): lvl.res.append(ResBlock(ch, b * m, temb, g)); ch = b * m; skips.append(ch)
 *               if i < len(M) - 1: lvl.downsample = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
 *               s.down.append(lvl)
 *           s.mid = nn.ModuleList([ResBlock(ch, ch, temb, g), ResBlock(ch, ch, temb, g)])
 *           s.up = nn.ModuleList()                  # up.0 is the deepest level
 *           for i in reversed(range(len(M))):
 *               lvl = nn.Module(); lvl.res = nn.ModuleList()
 *               for _ in range(R): lvl.res.append(ResBlock(ch + skips.pop(), b * M[i], temb, g)); ch = b * M[i]
 *               if i > 0: lvl.upsample = nn.Conv2d(ch, ch, 3, padding=1)   # after F.interpolate(×2, nearest)
 *               s.up.append(lvl)
 *           s.norm_out = nn.GroupNorm(g, ch); s.conv_out = nn.Conv2d(ch, cfg.outChannels, 3, padding=1)
 *
 * Every layer starts from PyTorch's default initialisation (drawn from a seeded host generator).
 */
import { upsample2x } from '../autograd/resample.js';
import { add, affine, concat, matmul, mul, reshape, silu, slice, sum } from '../autograd/ops.js';
import * as raw from '../tensor/primitives.js';
import { FlowGpuError } from '../gpu/errors.js';
import { keep, tensor, type Tensor } from '../tensor/tensor.js';
import { Conv2d } from './conv.js';
import { Embedding, SinusoidalEmbedding } from './embedding.js';
import { Linear, Sequential, SiLU } from './layers.js';
import { HostRng, Module } from './module.js';
import { GroupNorm } from './norm.js';

/**
 * A `UNet`'s architecture as plain JSON: channels in and out, image size, channel multipliers,
 * residual blocks per level, groups and classes.
 */
export interface UNetConfig {
  /** Image channels in and out (1 for MNIST). */
  inChannels: number;
  outChannels: number;
  /** Height = width of the images (28 or 16 for MNIST); must divide by 2^(levels − 1). */
  imageSize: number;
  /** Channels at the top level; level i has baseChannels·channelMults[i]. */
  baseChannels: number;
  channelMults: number[];
  numResBlocks: number;
  /** GroupNorm groups (must divide every channel count). */
  groups: number;
  /** Number of classes; 0 for an unconditional model. The null class is index numClasses. */
  numClasses: number;
  /** t is multiplied by this before the sinusoidal embedding (default 1000). */
  timeScale?: number;
}

/** Defaults for MNIST: 28×28 → 14 → 7 or 16×16 → 8 → 4, 32·[1, 2, 2] channels: 1 255 169 parameters with 10 classes (base 64 would give 5.0 M). */
export function defaultUNetConfig(imageSize: 16 | 28 = 28, numClasses = 10): UNetConfig {
  return { inChannels: 1, outChannels: 1, imageSize, baseChannels: 32, channelMults: [1, 2, 2], numResBlocks: 2, groups: 8, numClasses, timeScale: 1000 };
}

/** Children named 0, 1, … (torch.nn.ModuleList). */
class ModuleList<M extends Module> extends Module {
  readonly items: M[] = [];
  push(m: M): void {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
  }
}

/**
 * The UNet's residual block: two GroupNorm–SiLU–3×3 conv stages with the projected time/label
 * embedding added between them, plus a skip (a 1×1 conv when the channel count changes).
 */
export class ResBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly embProj: Linear;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly skip: Conv2d | null;
  constructor(cin: number, cout: number, temb: number, groups: number, rng: HostRng) {
    super();
    this.norm1 = this.registerModule('norm1', new GroupNorm(groups, cin));
    this.conv1 = this.registerModule('conv1', new Conv2d(cin, cout, 3, { padding: 1, rng }));
    this.embProj = this.registerModule('emb_proj', new Linear(temb, cout, { rng }));
    this.norm2 = this.registerModule('norm2', new GroupNorm(groups, cout));
    this.conv2 = this.registerModule('conv2', new Conv2d(cout, cout, 3, { padding: 1, rng }));
    this.skip = cin !== cout ? this.registerModule('skip', new Conv2d(cin, cout, 1, { rng })) : null;
  }
  /** x [N, cin, H, W], e = SiLU(emb) [N, temb] → [N, cout, H, W]. */
  forward(x: Tensor, e: Tensor): Tensor {
    const h1 = this.conv1.forward(silu(this.norm1.forward(x)));
    const pe = this.embProj.forward(e);
    const h2 = add(h1, reshape(pe, [pe.shape[0], pe.shape[1], 1, 1]));
    const h3 = this.conv2.forward(silu(this.norm2.forward(h2)));
    return add(this.skip ? this.skip.forward(x) : x, h3);
  }
}

class Level extends Module {
  readonly res = new ModuleList<ResBlock>();
  resample: Conv2d | null = null;
  constructor() {
    super();
    this.registerModule('res', this.res);
  }
  setResample(name: 'downsample' | 'upsample', conv: Conv2d): void {
    this.resample = this.registerModule(name, conv);
  }
}

/**
 * A small, optionally class-conditional UNet velocity field v(x, t, labels?) for images [N, C, H,
 * W], with the parameter names of its PyTorch twin.
 */
export class UNet extends Module {
  readonly config: UNetConfig;
  private readonly timeSinusoid: SinusoidalEmbedding;
  private readonly timeEmbed: Sequential;
  private readonly labelEmb: Embedding | null;
  private readonly convIn: Conv2d;
  private readonly down = new ModuleList<Level>();
  private readonly mid = new ModuleList<ResBlock>();
  private readonly up = new ModuleList<Level>();
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;
  private readonly nullLabels = new Map<number, Tensor>();

  constructor(config: UNetConfig, opts: { seed?: number } = {}) {
    super();
    const c = (this.config = { ...config, channelMults: [...config.channelMults] });
    validate(c);
    const rng = new HostRng(opts.seed ?? 0);
    const b = c.baseChannels;
    const temb = 4 * b;
    const g = c.groups;
    this.timeSinusoid = new SinusoidalEmbedding(b, { scale: c.timeScale ?? 1000 });
    this.timeEmbed = this.registerModule('time_embed', new Sequential(new Linear(b, temb, { rng }), new SiLU(), new Linear(temb, temb, { rng })));
    this.labelEmb = c.numClasses > 0 ? this.registerModule('label_emb', new Embedding(c.numClasses + 1, temb, { rng })) : null;
    this.convIn = this.registerModule('conv_in', new Conv2d(c.inChannels, b, 3, { padding: 1, rng }));
    this.registerModule('down', this.down);
    let ch = b;
    const skips: number[] = [];
    c.channelMults.forEach((m, i) => {
      const lvl = new Level();
      for (let j = 0; j < c.numResBlocks; j++) {
        lvl.res.push(new ResBlock(ch, b * m, temb, g, rng));
        ch = b * m;
        skips.push(ch);
      }
      if (i < c.channelMults.length - 1) lvl.setResample('downsample', new Conv2d(ch, ch, 3, { stride: 2, padding: 1, rng }));
      this.down.push(lvl);
    });
    this.registerModule('mid', this.mid);
    this.mid.push(new ResBlock(ch, ch, temb, g, rng));
    this.mid.push(new ResBlock(ch, ch, temb, g, rng));
    this.registerModule('up', this.up);
    for (let i = c.channelMults.length - 1; i >= 0; i--) {
      const lvl = new Level();
      for (let j = 0; j < c.numResBlocks; j++) {
        lvl.res.push(new ResBlock(ch + skips.pop()!, b * c.channelMults[i], temb, g, rng));
        ch = b * c.channelMults[i];
      }
      if (i > 0) lvl.setResample('upsample', new Conv2d(ch, ch, 3, { padding: 1, rng }));
      this.up.push(lvl);
    }
    this.normOut = this.registerModule('norm_out', new GroupNorm(g, ch));
    this.convOut = this.registerModule('conv_out', new Conv2d(ch, c.outChannels, 3, { padding: 1, rng }));
  }

  /** The index of the null class ∅ (label dropout, unconditional branch of guidance). */
  get nullClass(): number {
    return this.config.numClasses;
  }

  /**
   * x [N, C, S, S] f32, t [N] f32 in [0, 1], labels i32 [N] in 0…numClasses (numClasses = ∅;
   * omitted: ∅ for all) → velocity [N, outChannels, S, S].
   */
  forward(x: Tensor, t: Tensor, labels?: Tensor): Tensor {
    const c = this.config;
    if (x.rank !== 4 || x.shape[1] !== c.inChannels || x.shape[2] !== c.imageSize || x.shape[3] !== c.imageSize) {
      throw new FlowGpuError(`UNet: input must be [N, ${c.inChannels}, ${c.imageSize}, ${c.imageSize}], got [${x.shape.join(', ')}]`);
    }
    const n = x.shape[0];
    if (t.size !== n) throw new FlowGpuError(`UNet: t must hold one time per sample (${n}), got [${t.shape.join(', ')}]`);
    let emb = this.timeEmbed.forward(this.timeSinusoid.forward(t.rank === 1 ? t : reshape(t, [n])));
    if (this.labelEmb) {
      const lab = labels ?? this.nullLabelTensor(n);
      if (lab.dtype !== 'i32' || lab.rank !== 1 || lab.shape[0] !== n) {
        throw new FlowGpuError(`UNet: labels must be i32 [${n}], got ${lab.dtype}[${lab.shape.join(', ')}]`);
      }
      emb = add(emb, this.labelEmbedding(lab));
    } else if (labels) {
      throw new FlowGpuError('UNet: this model is unconditional (numClasses = 0) but labels were given');
    }
    const e = silu(emb);
    let h = this.convIn.forward(x);
    const skips: Tensor[] = [];
    for (const lvl of this.down.items) {
      for (const blk of lvl.res.items) {
        h = blk.forward(h, e);
        skips.push(h);
      }
      if (lvl.resample) h = lvl.resample.forward(h);
    }
    for (const blk of this.mid.items) h = blk.forward(h, e);
    for (const lvl of this.up.items) {
      for (const blk of lvl.res.items) h = blk.forward(concat([h, skips.pop()!], 1), e);
      if (lvl.resample) h = lvl.resample.forward(upsample2x(h));
    }
    return this.convOut.forward(silu(this.normOut.forward(h)));
  }

  /**
   * label_emb(c) with every label outside 0…numClasses−1 read as ∅ (row numClasses): the null
   * index itself, and also −1 (flow's label dropout default) or any other out-of-range value, so
   * no convention can index outside the table. As a one-hot product (exact: each output is one
   * table entry times 1) plus the ∅ row where the one-hot row is empty:
   *   emb = onehot_C(c)·W[0:C] + (1 − Σ onehot_C(c))·W[C],  C = numClasses
   * which PyTorch writes label_emb(torch.where((c >= 0) & (c < C), c, C)).
   */
  private labelEmbedding(labels: Tensor): Tensor {
    const w = this.labelEmb!.weight;
    const k = this.config.numClasses;
    const d = w.shape[1];
    const oh = raw.oneHot(labels, k); // [N, k]; a zero row for ∅ and out-of-range labels
    const isNull = affine(sum(oh, 1, true), -1, 1);
    return add(matmul(oh, slice(w, [0, 0], [k, d])), mul(isNull, slice(w, [k, 0], [k + 1, d])));
  }

  private nullLabelTensor(n: number): Tensor {
    let t = this.nullLabels.get(n);
    if (!t || t.disposed) {
      t = keep(tensor(new Int32Array(n).fill(this.nullClass), [n], 'i32'));
      this.nullLabels.set(n, t);
    }
    return t;
  }

  override dispose(): void {
    for (const t of this.nullLabels.values()) t.dispose();
    this.nullLabels.clear();
    this.timeSinusoid.dispose();
    super.dispose();
  }
}

function validate(c: UNetConfig): void {
  const bad = (msg: string) => new FlowGpuError(`UNet config: ${msg}`);
  const posInt = (v: number) => Number.isInteger(v) && v >= 1;
  for (const k of ['inChannels', 'outChannels', 'imageSize', 'baseChannels', 'numResBlocks', 'groups'] as const) {
    if (!posInt(c[k])) throw bad(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (!(Number.isInteger(c.numClasses) && c.numClasses >= 0)) throw bad(`numClasses must be an integer ≥ 0, got ${c.numClasses}`);
  if (!c.channelMults.length || !c.channelMults.every(posInt)) throw bad(`channelMults must be positive integers, got [${c.channelMults.join(', ')}]`);
  const f = 2 ** (c.channelMults.length - 1);
  if (c.imageSize % f !== 0) {
    throw bad(`imageSize ${c.imageSize} does not halve cleanly ${c.channelMults.length - 1} times (needs a multiple of ${f})`);
  }
  for (const m of c.channelMults) {
    if ((c.baseChannels * m) % c.groups !== 0) throw bad(`${c.groups} groups do not divide ${c.baseChannels * m} channels`);
  }
  if (c.baseChannels % c.groups !== 0) throw bad(`${c.groups} groups do not divide ${c.baseChannels} channels`);
}
