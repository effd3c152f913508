/**
 * The velocity networks flowgpu trains, as one interface and one registry: a `NetSpec` (plain JSON,
 * stored in every checkpoint's config) rebuilds the network, so a checkpoint is enough to sample
 * from (src/io/models.ts's `loadModel`).
 *
 *   { arch: 'mlp',  model: VelocityMLPConfig, sampleShape?: [C, H, W] }   2-D points, or images
 *                                                                         flattened to C·H·W
 *   { arch: 'unet', model: UNetConfig }                                   images [N, C, H, W]
 *   { arch: 'tokenmlp', model: TokenMLPConfig }                           tokens i32 [N, d] → logits
 *                                                                         [N, d, K] (discrete flows)
 *
 * Every network is v(x, t, labels?) with x [N, ...sampleShape], t [N] and, for conditional ones,
 * i32 labels [N] where −1 (or any label outside 0…numClasses−1) is the null class ∅ of
 * classifier-free guidance.
 *
 * `netSpecOf(config)` also reads the configs `flowgpu train toy` and `train mnist` store
 * ({ kind: 'toy', model } and { kind: 'mnist', arch, size, model }), so every checkpoint written so
 * far loads.
 */
import { reshape } from '../autograd/ops.js';
import { FlowGpuError } from '../gpu/errors.js';
import { gpu, type Tensor } from '../tensor/tensor.js';
import { VelocityMLP, mlpConfig, type VelocityMLPConfig } from './mlp.js';
import type { Module } from './module.js';
import { UNet, type UNetConfig } from './unet.js';
import { TokenMLP, type TokenMLPConfig } from '../discrete/model.js';

/**
 * A velocity network's plain-JSON description, stored in checkpoints: an MLP config (with an
 * optional image shape) or a UNet config.
 */
export type NetSpec =
  | {
      arch: 'mlp';
      model: VelocityMLPConfig;
      /** Images [C, H, W] the MLP sees flattened (absent: vectors [dim]). */
      sampleShape?: number[];
      /**
       * Width W of a continuous condition (absent or 0: the MLP's condDim counts classes). The MLP
       * reads it as W + 1 columns (values and a present flag), so model.condDim is W + 1.
       */
      condVector?: number;
    }
  | { arch: 'unet'; model: UNetConfig }
  | { arch: 'tokenmlp'; model: TokenMLPConfig };

/** A network architecture's name: 'mlp', 'unet' or 'tokenmlp'. */
export type NetArch = NetSpec['arch'];

/** A velocity network with what sampling and training need to know of it. */
export interface VelocityNet {
  readonly module: Module;
  readonly spec: NetSpec;
  /** The shape of one sample: [dim] for points, [C, H, W] for images. */
  readonly sampleShape: number[];
  /** Classes it is conditioned on (0: none). */
  readonly numClasses: number;
  /**
   * Width W of the continuous condition it takes (0 or absent: none): forward's third argument is
   * then f32 [N, W + 1] (flow's `flagConditions`, nn's `GuidanceConditions`).
   */
  readonly condVector?: number;
  /** Rows per solver run when sampling (bounds GPU memory; flow's `generate` uses it). */
  readonly sampleChunk: number;
  /**
   * v(x, t, cond?) with x [N, ...sampleShape], t [N], cond i32 labels [N] or f32 conditions
   * [N, W + 1] (ignored when unconditional).
   */
  forward(x: Tensor, t: Tensor, labels?: Tensor): Tensor;
}

type Builder<A extends NetArch> = (spec: Extract<NetSpec, { arch: A }>, seed: number) => VelocityNet;

/** One builder per architecture; a new arch without a builder does not compile. */
const BUILDERS: { [A in NetArch]: Builder<A> } = {
  mlp: (spec, seed) => {
    const m = new VelocityMLP(spec.model, seed);
    const vector = spec.condVector ?? 0;
    if (!(Number.isInteger(vector) && vector >= 0)) throw new FlowGpuError(`mlp: condVector must be a non-negative integer, got ${vector}`);
    if (vector > 0 && spec.model.condDim !== vector + 1) {
      throw new FlowGpuError(`mlp: a condition of width ${vector} needs condDim ${vector + 1} (values and a present flag), got ${spec.model.condDim}`);
    }
    const classes = vector > 0 ? 0 : spec.model.condDim;
    const shape = spec.sampleShape ?? [spec.model.dim];
    const width = shape.reduce((a, b) => a * b, 1);
    if (width !== spec.model.dim) throw new FlowGpuError(`mlp: sampleShape [${shape.join(', ')}] has ${width} values but the MLP's dim is ${spec.model.dim}`);
    const flat = shape.length > 1;
    return {
      module: m,
      spec,
      sampleShape: shape,
      numClasses: classes,
      condVector: vector,
      sampleChunk: flat ? 1000 : Infinity,
      forward: (x, t, labels) => {
        const c = classes > 0 || vector > 0 ? labels : undefined;
        return flat ? reshape(m.forward(reshape(x, [x.shape[0], width]), t, c), x.shape) : m.forward(x, t, c);
      },
    };
  },
  unet: (spec, seed) => {
    const m = new UNet(spec.model, { seed });
    const c = spec.model;
    return {
      module: m,
      spec,
      sampleShape: [c.inChannels, c.imageSize, c.imageSize],
      numClasses: c.numClasses,
      sampleChunk: 100,
      forward: (x, t, labels) => m.forward(x, t, c.numClasses > 0 ? labels : undefined),
    };
  },
  tokenmlp: (spec, seed) => {
    const m = new TokenMLP(spec.model, seed);
    const c = m.config;
    return { module: m, spec: { arch: 'tokenmlp', model: c }, sampleShape: [c.length], numClasses: c.classes, sampleChunk: 10000, forward: (x, t, labels) => m.forward(x, t, labels) };
  },
};

/**
 * The parameter count of an MLP spec, or an upper bound for a UNet's (3×3 convolutions at the
 * widest level throughout): enough to refuse absurd sizes before anything is allocated.
 */
export function parameterBound(spec: NetSpec): number {
  if (spec.arch === 'tokenmlp') {
    const c = spec.model;
    const h = c.hidden;
    return c.vocabulary * c.embed + (c.length * c.embed + 1 + c.classes + 1) * h + (c.hiddenLayers - 1) * (h + 1) * h + (h + 1) * c.length * c.categories;
  }
  if (spec.arch === 'mlp') {
    const c = spec.model;
    const h = c.hidden;
    return (c.dim + c.timeDim + c.condDim + 1) * h + (c.hiddenLayers - 1) * (h + 1) * h + (h + 1) * c.outDim;
  }
  const c = spec.model;
  const w = c.baseChannels * Math.max(...c.channelMults);
  return 2 * 9 * w * w * (c.channelMults.length * (2 * c.numResBlocks + 1) + 2) * 2 + 16 * w * w;
}

/** Builds the network a spec describes, initialised (PyTorch defaults) from `seed`. */
export function buildNet(spec: NetSpec, seed = 0): VelocityNet {
  const build = BUILDERS[spec.arch] as Builder<NetArch> | undefined;
  if (!build) throw new FlowGpuError(`unknown network architecture '${String(spec.arch)}' (known: ${Object.keys(BUILDERS).join(', ')})`);
  const bound = parameterBound(spec);
  // all parameters live in one flat buffer (AdamW updates them in one dispatch): it must be one binding
  const most = Math.floor((gpu().limits.maxStorageBufferBindingSize ?? 134217728) / 4);
  if (bound > most) {
    // (NaN from a malformed field falls through to the constructor's validation, which names it)
    throw new FlowGpuError(
      `${spec.arch}: this network would have ${Number.isFinite(bound) ? `about ${bound.toExponential(2)}` : 'too many'} parameters; ` +
        `this adapter holds at most ${most.toExponential(2)} in one buffer: use a smaller width or fewer layers`,
    );
  }
  try {
    return build(spec, seed);
  } catch (e) {
    if (e instanceof RangeError) throw new FlowGpuError(`${spec.arch}: the network's configuration is out of range (${e.message})`);
    throw e;
  }
}

/**
 * An MLP's spec, e.g. `mlpSpec({ dim: 2, hidden: 256, hiddenLayers: 3 })`; `condVector: W` makes it
 * take a continuous condition of width W (condDim is set to W + 1).
 */
export function mlpSpec(o: Parameters<typeof mlpConfig>[0], sampleShape?: number[], extra: { condVector?: number } = {}): NetSpec {
  const w = extra.condVector ?? 0;
  const model = mlpConfig(w > 0 ? { ...o, condDim: w + 1 } : o);
  return { arch: 'mlp', model, ...(sampleShape ? { sampleShape } : {}), ...(w > 0 ? { condVector: w } : {}) };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The network spec inside a stored config: `config.net`, or the `{ arch, model }` / `{ model: {kind:
 * 'mlp'} }` forms `flowgpu train mnist` / `train toy` write. Null when the config describes none.
 */
export function netSpecOf(config: unknown): NetSpec | null {
  if (!isObject(config)) return null;
  if (isObject(config.net) && (config.net.arch === 'mlp' || config.net.arch === 'unet' || config.net.arch === 'tokenmlp') && isObject(config.net.model)) return config.net as NetSpec;
  const model = config.model;
  if (!isObject(model)) return null;
  if (config.arch === 'unet') return { arch: 'unet', model: model as unknown as UNetConfig };
  if (config.arch === 'mlp' || model.kind === 'mlp') {
    const size = config.size;
    if (typeof size === 'number') return { arch: 'mlp', model: model as unknown as VelocityMLPConfig, sampleShape: [1, size, size] };
    return { arch: 'mlp', model: model as unknown as VelocityMLPConfig };
  }
  return null;
}
