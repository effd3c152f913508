/**
 * Reductions: sum, mean and max over axes (single, several, negative, none, keepDims), on random
 * shapes of rank 0–4 and on long axes that take the two-pass path (R > 512 with few outputs).
 *
 * Error bounds (EPS = 2⁻²⁴):
 * - sum (Neumaier-compensated): one pass over R values errs by ≤ EPS·|S| + O(R·EPS²)·Σ|x|. The
 *   two-pass path (R → ⌈√R⌉ partials → 1) rounds each partial once more, so in general
 *   |err| ≤ EPS·|S| + EPS·Σ|partials| ≤ 2·EPS·Σ|x|. We allow rtol 2·EPS and atol 2·EPS·Σ|x| per
 *   output (a plain f32 loop has a worst case of (R − 1)·EPS·Σ|x|). The compensation itself is
 *   tested separately on data where an uncompensated sum is off by 100%.
 * - mean: the sum's bound plus one multiplication by 1/n (1 ulp more).
 * - max: exact (it selects an input).
 * - gradients: sum/mean broadcast the upstream gradient (exact, ·1/n for mean: 1 ulp); max sends it
 *   to the arg-max (exact) or splits it evenly over ties (one division).
 */
import { describe, expect, it } from 'vitest';
import { backward, max, mean, param, raw, sum, tensor, tidy, FlowGpuError } from '../src/internal.js';
import { checkOp, expectClose, Rng, useGpu } from './helpers.js';
import { axesOf, EPS, reduceRef, size } from './reference.js';

useGpu();

/** atol for a sum: 2·EPS·(largest Σ|x| over one output). */
function sumAtol(x: Float64Array, shape: number[], axes: number[]): number {
  const s = reduceRef(x.map(Math.abs), shape, axes, 'sum');
  return 2 * EPS * Math.max(...s, 0) + 1e-30;
}

interface Case {
  shape: number[];
  axes?: number | number[];
  keepDims: boolean;
}

const CASES: Case[] = [
  { shape: [], keepDims: false }, // rank 0: all axes = none
  { shape: [7], keepDims: false },
  { shape: [7], axes: 0, keepDims: true },
  { shape: [3, 5], axes: 1, keepDims: false },
  { shape: [3, 5], axes: -2, keepDims: true },
  { shape: [3, 5], axes: [], keepDims: false }, // no axes: a copy
  { shape: [2, 3, 4], axes: [0, 2], keepDims: false }, // non-adjacent
  { shape: [2, 3, 4], axes: [-1, -3], keepDims: true },
  { shape: [2, 3, 4], axes: [1, 2], keepDims: false }, // adjacent run
  { shape: [3, 1, 5, 2], axes: [1, 3], keepDims: true }, // size-1 axis reduced
  { shape: [3, 1, 5, 2], keepDims: false },
  { shape: [2, 5, 3, 7], axes: [0, 1, 3], keepDims: false },
  { shape: [1, 1, 1, 1], axes: [2], keepDims: false },
  { shape: [5, 3, 1, 4], axes: -2, keepDims: false },
];

function randomCase(rng: Rng): Case {
  const r = rng.int(1, 4);
  const shape = rng.shape(r, 1, 6).map((d) => (rng.uniform() < 0.2 ? 1 : d));
  const axes = [...Array(r).keys()].filter(() => rng.uniform() < 0.5).map((a) => (rng.uniform() < 0.5 ? a - r : a));
  return { shape, axes, keepDims: rng.uniform() < 0.5 };
}

describe('sum and mean over axes', () => {
  const rng = new Rng(21);
  const cases = [...CASES, ...Array.from({ length: 8 }, () => randomCase(rng))];

  it('sum: forward within 2·EPS·Σ|x|, backward broadcasts the gradient', async () => {
    for (const c of cases) {
      const ax = axesOf(c.axes, c.shape.length);
      const x = rng.array(size(c.shape));
      await checkOp({
        name: `sum [${c.shape}] axes ${JSON.stringify(c.axes)} keepDims=${c.keepDims}`,
        inputs: [{ shape: c.shape, data: x }],
        gpu: (t) => sum(t, c.axes, c.keepDims),
        ref: (t) => reduceRef(t, c.shape, ax, 'sum'),
        tol: { rtol: 2 * EPS, atol: sumAtol(x, c.shape, ax) },
        gradTol: { rtol: 0, atol: 1e-9 }, // the gradient is the upstream value, copied
        h: 1, // sum is linear: central differences are exact for any h; a large one keeps float64 noise out
        fdSamples: 16,
      }, rng);
    }
  });

  it('mean: forward within the sum bound + 1 ulp, backward g/n', async () => {
    for (const c of cases) {
      const ax = axesOf(c.axes, c.shape.length);
      const n = ax.reduce((p, a) => p * c.shape[a], 1);
      const x = rng.array(size(c.shape));
      await checkOp({
        name: `mean [${c.shape}] axes ${JSON.stringify(c.axes)} keepDims=${c.keepDims}`,
        inputs: [{ shape: c.shape, data: x }],
        gpu: (t) => mean(t, c.axes, c.keepDims),
        ref: (t) => reduceRef(t, c.shape, ax, 'sum').map((v) => v / n),
        tol: { rtol: 4 * EPS, atol: sumAtol(x, c.shape, ax) / n },
        gradTol: { rtol: 4 * EPS, atol: 1e-9 },
        h: 1, // linear, as for sum
        fdSamples: 16,
      }, rng);
    }
  });

  it('the result of a reduction over no axes is a copy, not a view of its input', async () => {
    const x = tensor([1, 2, 3]);
    const y = sum(x, []);
    raw.fill(y, 7);
    expect([...(await x.data())]).toEqual([1, 2, 3]);
    expect(x.disposed).toBe(false);
    x.dispose();
    y.dispose();
  });

  it('rejects bad axes with a clear error', () => {
    tidy(() => {
      const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      expect(() => sum(x, 2)).toThrow(FlowGpuError);
      expect(() => sum(x, 2)).toThrow(/axis 2 is out of range for rank 2/);
      expect(() => mean(x, [0, -2])).toThrow(/repeated axis/);
      expect(() => max(x, -3)).toThrow(/out of range/);
    });
  });
});

describe('long axes (two-pass path)', () => {
  const rng = new Rng(33);
  // values of mixed sign with a few large ones, so rounding actually matters
  const mixed = (n: number) => rng.array(n, () => (rng.uniform() < 0.01 ? 1e4 : 1) * rng.normal());

  for (const c of [
    { shape: [5000], axes: undefined },
    { shape: [3, 5000], axes: 1 },
    { shape: [5000, 3], axes: 0 },
    { shape: [2, 1200, 3], axes: -2 },
    { shape: [4099], axes: 0 }, // a prime-ish length: the last chunk is partial
  ] as { shape: number[]; axes?: number }[]) {
    it(`sum over [${c.shape}] axis ${c.axes ?? 'all'}: within 2·EPS·Σ|x|`, async () => {
      const ax = axesOf(c.axes, c.shape.length);
      const x = mixed(size(c.shape));
      await checkOp({
        name: `long sum [${c.shape}]`,
        inputs: [{ shape: c.shape, data: x }],
        gpu: (t) => sum(t, c.axes),
        ref: (t) => reduceRef(t, c.shape, ax, 'sum'),
        tol: { rtol: 2 * EPS, atol: sumAtol(x, c.shape, ax) },
        gradTol: { rtol: 0, atol: 1e-9 },
        h: 1, // linear: exact central differences, float64 noise ≈ 2⁻⁵²·Σ|x|/h
        fdSamples: 8,
      }, rng);
      await checkOp({
        name: `long max [${c.shape}]`,
        inputs: [{ shape: c.shape, data: x }],
        gpu: (t) => (c.axes === undefined ? raw.reduceRaw('max', t) : max(t, c.axes)),
        ref: (t) => reduceRef(t, c.shape, ax, 'max'),
        tol: { rtol: 0, atol: 0 },
        skipGrad: c.axes === undefined,
        // exact gradient; float64 central-difference noise ≈ 2⁻⁵²·|y|/h ≲ 1e-8 with h = 1e-7·max(1, |x|)
        gradTol: { rtol: 0, atol: 1e-8 },
        h: 1e-7,
        fdSamples: 8,
      }, rng);
    });
  }

  it('the sum is compensated: 2²⁴ + 1 + 1 + … − 2²⁴ is exact on both paths', async () => {
    // An uncompensated f32 loop returns 0 here (2²⁴ + 1 rounds back to 2²⁴), an error of 100%.
    for (const n of [500, 5000]) {
      const x = new Float32Array(n).fill(1);
      x[0] = 2 ** 24;
      x[n - 1] = -(2 ** 24);
      const y = tidy(() => sum(tensor(x)));
      // one pass: exact; two passes: each partial and the final sum exact too (integers < 2²⁴)
      expect(await y.item()).toBe(n - 2);
      y.dispose();
    }
  });
});

describe('max over an axis', () => {
  const rng = new Rng(44);

  it('random shapes, negative axes, keepDims: exact forward, gradient to the arg-max', async () => {
    for (const [shape, axis, keepDims] of [
      [[7], 0, false],
      [[3, 5], 1, true],
      [[3, 5], -2, false],
      [[2, 3, 4, 5], 2, false],
      [[2, 3, 4, 5], -1, true],
      [[4, 1, 3], 1, false], // size-1 axis: the max is the element
      [[6, 65, 3], 1, false],
    ] as [number[], number, boolean][]) {
      // continuous values: no ties, so the derivative exists and central differences see it
      await checkOp({
        name: `max [${shape}] axis ${axis} keepDims=${keepDims}`,
        inputs: [{ shape, data: rng.array(size(shape)) }],
        gpu: (t) => max(t, axis, keepDims),
        ref: (t) => reduceRef(t, shape, axesOf(axis, shape.length), 'max'),
        tol: { rtol: 0, atol: 0 },
        // exact gradient; float64 central-difference noise ≈ 2⁻⁵²·|y|/h ≲ 1e-8
        gradTol: { rtol: 0, atol: 1e-8 },
        h: 1e-7, // smaller than the gap between the two largest entries of every row here
        fdSamples: 24,
      }, rng);
    }
  });

  it('ties: forward exact, the gradient is split evenly among the tied entries', async () => {
    const x = param(tensor([1, 3, 3, 2, 2, 2, 5, 1, 0, -4, -4, -7], [4, 3]));
    const g = [0.5, -2, 1, 3];
    const y = tidy(() => {
      const m = max(x, 1);
      backward(m, tensor(g));
      return m;
    });
    expect([...(await y.data())]).toEqual([3, 2, 5, -4]);
    const want = [0, 0.25, 0.25, -2 / 3, -2 / 3, -2 / 3, 1, 0, 0, 1.5, 1.5, 0];
    expectClose(await x.grad!.data(), want, { rtol: 2 * EPS, atol: 0 }, 'max tie gradient');
    x.grad!.dispose();
    x.dispose();
    y.dispose();
  });

  it('raw max over several axes and a NaN propagates', async () => {
    const shape = [3, 4, 5];
    const data = rng.array(60);
    await checkOp({
      name: 'raw max [3,4,5] axes [0,2]',
      inputs: [{ shape, data }],
      gpu: (t) => raw.reduceRaw('max', t, [0, 2]),
      ref: (t) => reduceRef(t, shape, [0, 2], 'max'),
      tol: { rtol: 0, atol: 0 },
      skipGrad: true,
    });
    const y = tidy(() => raw.reduceRaw('max', tensor([1, NaN, 3, 4, 5, 6], [2, 3]), 1));
    const d = await y.data();
    expect(Number.isNaN(d[0])).toBe(true);
    expect(d[1]).toBe(6);
    y.dispose();
  });
});
