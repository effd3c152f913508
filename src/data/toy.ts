/**
 * The five 2-D toy distributions, with the exact definitions of DESIGN.md (taken from the libraries
 * people compare against), drawn on the host with a seeded generator: the same seed gives the same
 * points. Each sampler returns `Float32Array [n·2]`, row-major (x, y) pairs.
 *
 * U = uniform, N(m, s) = Gaussian with std s, every draw independent per point:
 *
 * | name           | definition |
 * |----------------|------------|
 * | `checkerboard` | facebookresearch/flow_matching's 2-D example: u ~ U(−2, 2); v ~ U(0, 1) − 2·B, B ~ Bernoulli(½); v += floor(u) mod 2; x = (u, v)/0.45. Points fill the 8 squares of a 4×4 board with floor(u) + floor(v) even; both marginals are U(−2/0.45, 2/0.45). |
 * | `moons`        | sklearn's make_moons: a ~ U(0, π); w.p. ½ (cos a, sin a), else (1 − cos a, ½ − sin a); add N(0, 0.05) per coordinate; x = 3·(m − (0.5, 0.25)) (mean 0). |
 * | `8gaussians`   | torchcfm: centres 5·(cos kπ/4, sin kπ/4), k uniform in 0..7, plus N(0, 0.1^¼ ≈ 0.5623) per coordinate (torchcfm's covariance √0.1·I). |
 * | `2spirals`     | FFJORD: r = √U(0, 1)·3π; p = (−cos r·r + U(0, ½), sin r·r + U(0, ½)); p ·= ±1 w.p. ½; x = p/3 + N(0, 0.1). |
 * | `circles`      | a ~ U(0, 2π), radius 1 or ½ w.p. ½; x = 3·(radius·(cos a, sin a) + N(0, 0.08)) (radii 3 and 1.5, noise std 0.24). |
 *
 * Cost: a few host random draws per point (about 10 ms per 100 000 points); the data go to the GPU
 * once per batch or once per run.
 */
import { FlowGpuError } from '../gpu/errors.js';
import { HostRng } from '../nn/module.js';
import { tensor, type Tensor } from '../tensor/tensor.js';

/** A source of U[0, 1) and N(0, 1) draws (HostRng, or any generator with the same two methods). */
export interface UniformNormalRng {
  uniform(): number;
  normal(): number;
}

/** A 2-D toy distribution: 'checkerboard', 'moons', '8gaussians', '2spirals' or 'circles'. */
export type ToyName = 'checkerboard' | 'moons' | '8gaussians' | '2spirals' | 'circles';

/** The names of all 2-D toy distributions. */
export const TOY_NAMES: readonly ToyName[] = ['checkerboard', 'moons', '8gaussians', '2spirals', 'circles'];

/** A seed, or a generator to draw from (advanced in place, so successive calls give fresh points). */
export type SeedOrRng = number | UniformNormalRng;

function rngOf(seed: SeedOrRng): UniformNormalRng {
  return typeof seed === 'number' ? new HostRng(seed) : seed;
}

function checkCount(n: number, name: string): void {
  if (!Number.isInteger(n) || n < 0) throw new FlowGpuError(`${name}: the number of points must be a non-negative integer, got ${n}`);
}

/** facebookresearch/flow_matching's checkerboard. */
export function checkerboard(n: number, seed: SeedOrRng = 0): Float32Array {
  checkCount(n, 'checkerboard');
  const rng = rngOf(seed);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const u = 4 * rng.uniform() - 2;
    const b = rng.uniform() < 0.5 ? 1 : 0;
    let v = rng.uniform() - 2 * b;
    // floor(u) mod 2 with Python's (and torch's) sign convention: the result is 0 or 1.
    v += ((Math.floor(u) % 2) + 2) % 2;
    out[2 * i] = u / 0.45;
    out[2 * i + 1] = v / 0.45;
  }
  return out;
}

/** sklearn's two moons, centred and scaled by 3. */
export function moons(n: number, seed: SeedOrRng = 0): Float32Array {
  checkCount(n, 'moons');
  const rng = rngOf(seed);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const a = Math.PI * rng.uniform();
    const outer = rng.uniform() < 0.5;
    const mx = outer ? Math.cos(a) : 1 - Math.cos(a);
    const my = outer ? Math.sin(a) : 0.5 - Math.sin(a);
    out[2 * i] = 3 * (mx + 0.05 * rng.normal() - 0.5);
    out[2 * i + 1] = 3 * (my + 0.05 * rng.normal() - 0.25);
  }
  return out;
}

/** Standard deviation of each 8gaussians cluster per coordinate: torchcfm's covariance √0.1·I. */
export const EIGHT_GAUSSIANS_STD = Math.pow(0.1, 0.25);

/** torchcfm's eight Gaussians on a circle of radius 5. */
export function eightGaussians(n: number, seed: SeedOrRng = 0): Float32Array {
  checkCount(n, '8gaussians');
  const rng = rngOf(seed);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const k = Math.min(7, Math.floor(8 * rng.uniform()));
    const a = (k * Math.PI) / 4;
    out[2 * i] = 5 * Math.cos(a) + EIGHT_GAUSSIANS_STD * rng.normal();
    out[2 * i + 1] = 5 * Math.sin(a) + EIGHT_GAUSSIANS_STD * rng.normal();
  }
  return out;
}

/** FFJORD's two spirals. */
export function twoSpirals(n: number, seed: SeedOrRng = 0): Float32Array {
  checkCount(n, '2spirals');
  const rng = rngOf(seed);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const r = Math.sqrt(rng.uniform()) * 3 * Math.PI;
    let px = -Math.cos(r) * r + 0.5 * rng.uniform();
    let py = Math.sin(r) * r + 0.5 * rng.uniform();
    if (rng.uniform() < 0.5) {
      px = -px;
      py = -py;
    }
    out[2 * i] = px / 3 + 0.1 * rng.normal();
    out[2 * i + 1] = py / 3 + 0.1 * rng.normal();
  }
  return out;
}

/** Two concentric circles of radii 3 and 1.5. */
export function circles(n: number, seed: SeedOrRng = 0): Float32Array {
  checkCount(n, 'circles');
  const rng = rngOf(seed);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const a = 2 * Math.PI * rng.uniform();
    const radius = rng.uniform() < 0.5 ? 1 : 0.5;
    out[2 * i] = 3 * (radius * Math.cos(a) + 0.08 * rng.normal());
    out[2 * i + 1] = 3 * (radius * Math.sin(a) + 0.08 * rng.normal());
  }
  return out;
}

const SAMPLERS: Record<ToyName, (n: number, seed?: SeedOrRng) => Float32Array> = {
  checkerboard,
  moons,
  '8gaussians': eightGaussians,
  '2spirals': twoSpirals,
  circles,
};

/** Whether `name` is one of the 2-D toy distributions. */
export function isToyName(name: string): name is ToyName {
  return Object.prototype.hasOwnProperty.call(SAMPLERS, name);
}

/** Draws `n` points of the named toy distribution: Float32Array [n·2]. */
export function sampleToy(name: string, n: number, seed: SeedOrRng = 0): Float32Array {
  if (!isToyName(name)) {
    throw new FlowGpuError(`unknown 2-D data set '${name}': choose one of ${TOY_NAMES.join(', ')}`);
  }
  return SAMPLERS[name](n, seed);
}

/**
 * A training data source (the trainer's DataSource) of fresh toy points: the batch of step s is
 * drawn from a generator seeded by (seed, s), so a resumed run replays it.
 */
export function toyBatches(name: string, batch: number, seed = 0): { batch(step: number): { x1: Tensor } } {
  if (!isToyName(name)) sampleToy(name, 0); // the unknown-name error
  return { batch: (step) => ({ x1: tensor(sampleToy(name, batch, toyBatchSeed(seed, step)), [batch, 2]) }) };
}

/** The generator seed of step `step`'s batch in a run seeded `seed`. */
export function toyBatchSeed(seed: number, step: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(step + 1, 0x85ebca6b)) >>> 0;
}

/**
 * Rejects data with a NaN or an infinity, naming the first bad row and column:
 * "data row 17 (of 4096) has NaN in column 1". `values` is row-major [rows·dim].
 */
export function validateFinite(values: ArrayLike<number>, dim: number, what = 'data'): void {
  if (!Number.isInteger(dim) || dim < 1) throw new FlowGpuError(`${what}: dimension must be a positive integer, got ${dim}`);
  if (values.length % dim !== 0) {
    throw new FlowGpuError(`${what}: ${values.length} values do not form rows of ${dim}`);
  }
  const rows = values.length / dim;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      const row = Math.floor(i / dim);
      const col = i % dim;
      const kind = Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
      throw new FlowGpuError(`${what} row ${row} (of ${rows}) has ${kind} in column ${col}: remove or fix that row`);
    }
  }
}
