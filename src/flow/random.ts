/**
 * Counter-based random numbers (Philox4x32-10, kernels/random.wgsl) and their CPU mirror.
 *
 * A draw is a pure function of (key, counter): key = the run's seed, counter = (step, index,
 * stream). Kernels draw their own randomness (x0 and t inside the interpolation kernel, Gumbel
 * noise inside the Sinkhorn pairing) with no state carried between dispatches, so a training step
 * needs no random tensor uploaded from the host, and a run with the same seed is reproducible on
 * any launch geometry. The TypeScript functions here reproduce the GPU's raw words and uniforms
 * bit for bit (normals to the last bits of log/sin/cos).
 */
import randomSrc from '../../kernels/random.wgsl';
import { FlowGpuError } from '../gpu/errors.js';
import { kernel, registerKernel } from '../tensor/primitives.js';
import { withTrig } from '../tensor/wgsl-lib.js';
import { empty, gpu, run, tensor, type Shape, type Tensor } from '../tensor/tensor.js';

registerKernel('random', withTrig(randomSrc));

/** The line that ends the library part of random.wgsl (alone on its line). */
const LIBRARY_END = /^\/\/ ==== entry points ====$/m;

/**
 * The generator's functions without random.wgsl's own bindings, to prepend to another family,
 * followed by the stream ids of `STREAM` as WGSL constants (`STREAM_SOURCE`, `STREAM_LABEL_DROP`,
 * …: the key in upper snake case), so a kernel and the host never disagree on a stream.
 */
export function randomLibrary(): string {
  const at = randomSrc.search(LIBRARY_END);
  if (at < 0) throw new FlowGpuError('internal: kernels/random.wgsl lost its entry-point marker');
  return withTrig(randomSrc.slice(0, at)) + streamConstants();
}

/** `const STREAM_<KEY>: u32 = <id>u;` for every entry of STREAM. */
export function streamConstants(): string {
  const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
  return Object.entries(STREAM).map(([k, v]) => `const STREAM_${snake(k)}: u32 = ${v}u;\n`).join('');
}

/**
 * Stream ids (the third counter word). Each quantity drawn in a step has its own stream, so the
 * source noise of element i and the time of row i never share bits.
 */
export const STREAM = {
  /** x0 ~ N(0, I) of the interpolation kernel (and drawSource). */
  source: 0,
  /** t of each row. */
  time: 1,
  /** Label dropout for classifier-free guidance. */
  labelDrop: 2,
  /** Gumbel noise of the Sinkhorn pairing. */
  pairing: 3,
  /** Euler–Maruyama noise of sampleSDE (the counter's step word is the SDE step). */
  sde: 4,
  /** Hutchinson probes of logLikelihood (the counter's step word is the probe index). */
  hutchinson: 5,
  /** Uniform dequantisation of pixels (likelihood.ts, dequantize). */
  dequantize: 6,
  /** The path noise σ·ε of data-to-data flows (kernels/flow.wgsl, `noise`). */
  pathNoise: 7,
  /** Discrete flows: each token's keep test and source token (kernels/discrete.wgsl). */
  discretePath: 256,
  /** Discrete flows: the Euler step's categorical draw and jump test (kernels/discrete.wgsl). */
  discreteEuler: 257,
  /** First id free for callers (randNormal / randUniform default). */
  user: 16,
} as const;

const TWO32 = 4294967296;

/** Splits a non-negative integer below 2⁵³ into (low, high) 32-bit words. */
export function splitU64(v: number, what = 'value'): [number, number] {
  if (!(Number.isSafeInteger(v) && v >= 0)) throw new FlowGpuError(`${what} must be a non-negative integer below 2^53, got ${v}`);
  return [v % TWO32, Math.floor(v / TWO32)];
}

// ------------------------------------------------------------------ CPU mirror

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32 (16-bit halves, as in the WGSL). */
function mulhi(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (p11 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 65536)) >>> 0;
}

/** Philox4x32-10 on a counter (4 words) and key (2 words); returns 4 words. */
export function philox4x32(ctr: ArrayLike<number>, key: ArrayLike<number>): Uint32Array {
  let c0 = ctr[0] >>> 0, c1 = ctr[1] >>> 0, c2 = ctr[2] >>> 0, c3 = ctr[3] >>> 0;
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return Uint32Array.of(c0, c1, c2, c3);
}

/** The 4 words the kernels draw for (seed, step, index, stream). */
export function philoxAt(seed: number, step: number, index: number, stream: number): Uint32Array {
  const [s0, s1] = splitU64(seed, 'seed');
  const [t0, t1] = splitU64(step, 'step');
  return philox4x32([t0, index >>> 0, stream >>> 0, t1], [s0, s1]);
}

/** u01 of random.wgsl: (⌊x/2⁹⌋ + ½)·2⁻²³, in (0, 1), exact in f32. */
export function uniformFromWord(x: number): number {
  return ((x >>> 9) + 0.5) * 1.1920928955078125e-7;
}

/** Box–Muller as in random.wgsl (θ = 2πu2 − π), evaluated in float64. */
export function boxMuller(u1: number, u2: number): [number, number] {
  const r = Math.sqrt(-2 * Math.log(u1));
  const th = 2 * Math.PI * u2 - Math.PI;
  return [r * Math.cos(th), r * Math.sin(th)];
}

/** The four normals one Philox call gives (normal4 in random.wgsl). */
export function normalsFromWords(w: ArrayLike<number>): [number, number, number, number] {
  const [a, b] = boxMuller(uniformFromWord(w[0]), uniformFromWord(w[1]));
  const [c, d] = boxMuller(uniformFromWord(w[2]), uniformFromWord(w[3]));
  return [a, b, c, d];
}

/** CPU mirror of fill_normal (mean 0, std 1): element i of a fill of n values. */
export function normalsCpu(n: number, seed: number, step: number, stream: number): Float64Array {
  const out = new Float64Array(n);
  for (let q = 0; 4 * q < n; q++) {
    const z = normalsFromWords(philoxAt(seed, step, q, stream));
    for (let k = 0; k < 4 && 4 * q + k < n; k++) out[4 * q + k] = z[k];
  }
  return out;
}

/** CPU mirror of fill_uniform on (0, 1) (bit-exact). */
export function uniformsCpu(n: number, seed: number, step: number, stream: number): Float64Array {
  const out = new Float64Array(n);
  for (let q = 0; 4 * q < n; q++) {
    const w = philoxAt(seed, step, q, stream);
    for (let k = 0; k < 4 && 4 * q + k < n; k++) out[4 * q + k] = uniformFromWord(w[k]);
  }
  return out;
}

// ------------------------------------------------------------------ GPU fills

/**
 * Where GPU random numbers come from: the seed, the step word (default 0) and the stream id
 * (default STREAM.user).
 */
export interface RandomOptions {
  seed: number;
  /** The counter's step word (default 0). */
  step?: number;
  /** Stream id (default STREAM.user). */
  stream?: number;
}

const WG = 256;

function fillRandom(entry: 'fill_uniform' | 'fill_normal', shape: Shape, o: RandomOptions, a: number, b: number): Tensor {
  const out = empty(shape);
  if (out.size === 0) return out;
  if (out.size >= TWO32) throw new FlowGpuError(`${entry}: too many elements (${out.size}; at most 2^32 − 1)`);
  const stream = o.stream ?? STREAM.user;
  if (!(Number.isInteger(stream) && stream >= 0 && stream < TWO32)) throw new FlowGpuError(`random: stream must be a u32, got ${stream}`);
  run(kernel('random'), entry, {
    inputs: {},
    outputs: { rnd_out: out },
    params: { n: out.size, stream, seed: splitU64(o.seed, 'seed'), step: splitU64(o.step ?? 0, 'step'), a, b },
    workgroups: gpu().grid(Math.ceil(out.size / 4), WG),
    label: entry,
  });
  return out;
}

/** Uniform values in (lo, hi) (default (0, 1); never exactly 0 or 1 on the default interval). */
export function randUniform(shape: Shape, o: RandomOptions & { lo?: number; hi?: number }): Tensor {
  return fillRandom('fill_uniform', shape, o, o.lo ?? 0, o.hi ?? 1);
}

/** Normal values N(mean, std²) (default N(0, 1)). */
export function randNormal(shape: Shape, o: RandomOptions & { mean?: number; std?: number }): Tensor {
  return fillRandom('fill_normal', shape, o, o.mean ?? 0, o.std ?? 1);
}

/**
 * Raw Philox4x32-10 on the GPU for arbitrary counters and keys (known-answer tests): `items` holds
 * per item c0, c1, c2, c3, k0, k1; the result holds 4 words per item (as i32 bit patterns).
 */
export function philoxWordsGpu(items: ArrayLike<number>): Tensor {
  if (items.length % 6 !== 0 || items.length === 0) throw new FlowGpuError('philoxWordsGpu: 6 words per item');
  const n = items.length / 6;
  const ctr = tensor(Int32Array.from(items, (v) => v | 0), [items.length], 'i32');
  const words = empty([4 * n], 'i32');
  run(kernel('random'), 'philox_words', {
    inputs: { rnd_ctr: ctr },
    outputs: { rnd_words: words },
    params: { n, stream: 0, seed: [0, 0], step: [0, 0], a: 0, b: 0 },
    workgroups: gpu().grid(n, WG),
    label: 'philox_words',
  });
  ctr.dispose();
  return words;
}
