/**
 * Token data for discrete flow matching: the 2-D discrete checkerboard and discrete moons of
 * flow_matching's `2d_discrete_flow_matching` notebook (K = 128, d = 2), the checkerboard's pmf, and
 * a training data source of fresh token batches.
 */
import { toyBatchSeed } from '../data/toy.js';
import { FlowGpuError } from '../gpu/errors.js';
import { HostRng } from '../nn/module.js';
import { tensor, type Tensor } from '../tensor/tensor.js';

/** The categories of the 2-D token data sets. */
export const TOKEN_2D_CATEGORIES = 128;

/** A 2-D token data set's name. */
export type Token2DName = 'checkerboard' | 'moons';

const rngOf = (seed: number | HostRng) => (typeof seed === 'number' ? new HostRng(seed) : seed);

function count(n: number, what: string): void {
  if (!(Number.isInteger(n) && n >= 0)) throw new FlowGpuError(`${what}: the number of samples must be a non-negative integer, got ${n}`);
}

/**
 * The discrete checkerboard exactly as the notebook builds it: x1 = randint(0, 128),
 * s = randint(0, 32), x2 = s + 64 − 64·randint(0, 2) + 32·(⌊x1/32⌋ mod 2): 8192 equally likely cells.
 * Returns i32 [n, 2] row-major.
 */
export function discreteCheckerboard(n: number, seed: number | HostRng = 0): Int32Array {
  count(n, 'discrete checkerboard');
  const rng = rngOf(seed);
  const out = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const x1 = rng.int(128);
    const s = rng.int(32);
    out[2 * i] = x1;
    out[2 * i + 1] = s + 64 - 64 * rng.int(2) + 32 * (Math.floor(x1 / 32) % 2);
  }
  return out;
}

/** Discrete moons: make_moons (noise 0.05) ×35 + 50, rounded and clipped to [0, 127]. i32 [n, 2]. */
export function discreteMoons(n: number, seed: number | HostRng = 0): Int32Array {
  count(n, 'discrete moons');
  const rng = rngOf(seed);
  const out = new Int32Array(2 * n);
  const q = (v: number) => Math.min(127, Math.max(0, Math.round(v * 35 + 50)));
  for (let i = 0; i < n; i++) {
    const a = Math.PI * rng.uniform();
    const outer = rng.uniform() < 0.5;
    out[2 * i] = q((outer ? Math.cos(a) : 1 - Math.cos(a)) + 0.05 * rng.normal());
    out[2 * i + 1] = q((outer ? Math.sin(a) : 0.5 - Math.sin(a)) + 0.05 * rng.normal());
  }
  return out;
}

/** The checkerboard's pmf over the 128×128 cells, [x1·128 + x2]: 1/8192 on the support, else 0. */
export function checkerboardPmf(): Float64Array {
  const p = new Float64Array(128 * 128);
  for (let a = 0; a < 128; a++) {
    for (let b = 0; b < 128; b++) {
      // x2 − 32·(⌊a/32⌋ mod 2) ∈ [0, 32) or [64, 96)
      const r = b - 32 * (Math.floor(a / 32) % 2);
      if ((r >= 0 && r < 32) || (r >= 64 && r < 96)) p[a * 128 + b] = 1 / 8192;
    }
  }
  return p;
}

/** Samples of a 2-D token data set by name, i32 [n, 2]. */
export function sampleTokens2D(name: string, n: number, seed: number | HostRng = 0): Int32Array {
  if (name === 'checkerboard') return discreteCheckerboard(n, seed);
  if (name === 'moons') return discreteMoons(n, seed);
  throw new FlowGpuError(`unknown discrete 2-D data set '${name}': choose checkerboard or moons`);
}

/**
 * A training data source of fresh 2-D token batches (i32 [batch, 2]): the batch of step s comes from
 * a generator seeded by (seed, s), so a resumed run replays it.
 */
export function tokenBatches(name: string, batch: number, seed = 0): { batch(step: number): { x1: Tensor } } {
  sampleTokens2D(name, 0);
  count(batch, 'token batches');
  return { batch: (step) => ({ x1: tensor(sampleTokens2D(name, batch, toyBatchSeed(seed, step)), [batch, 2], 'i32') }) };
}
