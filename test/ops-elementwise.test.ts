/**
 * Elementwise ops: broadcasting binary arithmetic and unary math, forward against float64 and
 * backward against float64 central differences (checkOp), on random shapes of rank 0–4 with odd
 * and size-1 dimensions. Outputs are poisoned with NaN before each kernel runs (useGpu), so an
 * element a kernel forgets to write fails the comparison; the last test proves that it does.
 *
 * Error bounds (EPS = 2⁻²⁴, the f32 unit roundoff; an ulp is at most 2·EPS relative):
 * - add, sub, mul: correctly rounded in f32 → |err| ≤ EPS·|ref|; we allow 2·EPS·|ref|.
 * - div: WGSL allows 2.5 ulp → 6·EPS·|ref|.
 * - Gradients that sum over broadcast dimensions (compensated sum): each term carries its own
 *   rounding (≤ u ulp) and the sum adds ≈ EPS·|S|, so |err| ≤ 2u·EPS·fanIn·max|term| + 2u·EPS·|ref|.
 * - unary: from WGSL's accuracy table for the builtin used (stated per op below); the largest
 *   errors measured on llvmpipe are well inside (exp 11·EPS, log 2⁻²¹·0.94 absolute near 1,
 *   gelu 70·EPS, sin/cos 1.3·EPS absolute, over 10⁵ random points each).
 * - Central differences in float64 (h = 1e-6·max(1,|x|)) err by ≈ h²·|f'''|/6 + 2⁻⁵²·|f|/h,
 *   about 1e-10 relative: negligible next to the f32 bounds.
 * Points are drawn away from kinks (|x| ≥ 0.01 for abs and relu) so the derivative exists there.
 */
import { describe, expect, it } from 'vitest';
import {
  abs, add, cos, div, exp, gelu, log, mul, neg, pow, raw, relu, sigmoid, silu, sin, sqrt, sub, tanh,
  tensor, tidy, backward, param, scale, affine, addScalar, square, sum, empty, type Tensor,
} from '../src/internal.js';
import { run } from '../src/tensor/tensor.js';
import { checkOp, expectClose, Rng, useGpu } from './helpers.js';
import { binaryRef, broadcastShape, EPS, size, UNARY_REF } from './reference.js';

useGpu();

/** A random pair of shapes that broadcast, with size-1 dimensions on both sides. */
function randomPair(rng: Rng): [number[], number[]] {
  const r = rng.int(0, 4);
  const out = rng.shape(r, 1, 6);
  const pick = (rank: number) => out.slice(r - rank).map((d) => (rng.uniform() < 0.35 ? 1 : d));
  const full = rng.uniform() < 0.5;
  const ra = full ? r : rng.int(0, r);
  const rb = full ? rng.int(0, r) : r;
  return [pick(ra), pick(rb)];
}

const FIXED_PAIRS: [number[], number[]][] = [
  [[3, 1, 5], [1, 4, 1]], // both directions at once
  [[5, 1], [1, 7]],
  [[], [3, 4]], // rank 0 against a matrix
  [[2, 3], []],
  [[2, 3, 4, 5], [5]],
  [[1], [2, 1, 3]],
  [[67], [1]],
  [[2, 1, 3, 1], [1, 5, 1, 4]],
  [[1, 1, 1], [1, 1, 1]],
  [[3, 1], [1, 3]],
];

function fanIn(inShape: number[], outShape: number[]): number {
  return size(outShape) / size(inShape);
}
const maxAbs = (x: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
};

describe('binary ops with NumPy broadcasting', () => {
  const rng = new Rng(11);
  const pairs = [...FIXED_PAIRS, ...Array.from({ length: 12 }, () => randomPair(rng))];

  it('add and sub: forward correctly rounded, gradients sum over broadcast dimensions', async () => {
    for (const [sa, sb] of pairs) {
      const so = broadcastShape(sa, sb);
      const f = Math.max(fanIn(sa, so), fanIn(sb, so));
      // terms are the upstream gradient w ~ N(0,1), |w| < 5, exact (u = 0); the sum adds ≈ EPS·|S|
      const gradTol = { rtol: 4 * EPS, atol: 4 * EPS * f * 5 + 1e-9 };
      for (const [name, op, fn] of [
        ['add', add, (u: number, v: number) => u + v],
        ['sub', sub, (u: number, v: number) => u - v],
      ] as const) {
        await checkOp({
          name: `${name} [${sa}] [${sb}]`,
          inputs: [{ shape: sa, data: rng.array(size(sa)) }, { shape: sb, data: rng.array(size(sb)) }],
          gpu: (a, b) => op(a, b),
          ref: (a, b) => binaryRef(fn, a, sa, b, sb),
          tol: { rtol: 2 * EPS, atol: 1e-30 },
          gradTol,
          fdSamples: 24,
        }, rng);
      }
    }
  });

  it('mul: forward correctly rounded, gradients g·b summed over broadcast dimensions', async () => {
    for (const [sa, sb] of pairs) {
      const so = broadcastShape(sa, sb);
      const a = rng.array(size(sa));
      const b = rng.array(size(sb));
      const f = Math.max(fanIn(sa, so), fanIn(sb, so));
      // term g·b: one rounding (u = 1 ulp), |g·b| ≤ 5·max(|a|,|b|)
      const term = 5 * Math.max(maxAbs(a), maxAbs(b), 1);
      await checkOp({
        name: `mul [${sa}] [${sb}]`,
        inputs: [{ shape: sa, data: a }, { shape: sb, data: b }],
        gpu: (x, y) => mul(x, y),
        ref: (x, y) => binaryRef((u, v) => u * v, x, sa, y, sb),
        tol: { rtol: 2 * EPS, atol: 1e-30 },
        gradTol: { rtol: 8 * EPS, atol: 8 * EPS * f * term + 1e-9 },
        fdSamples: 24,
      }, rng);
    }
  });

  it('div: forward within 2.5 ulp, gradients g/b and −g·a/b²', async () => {
    for (const [sa, sb] of pairs) {
      const so = broadcastShape(sa, sb);
      const a = rng.array(size(sa));
      // divisors away from 0: |b| ∈ [0.5, 2]
      const b = rng.array(size(sb), () => (rng.uniform() < 0.5 ? -1 : 1) * rng.uniform(0.5, 2));
      const f = Math.max(fanIn(sa, so), fanIn(sb, so));
      // −g·a/b² is three divisions/multiplications of ≤ 2.5 ulp each (u ≈ 8 ulp), |term| ≤ 5·4·max|a|
      const term = 20 * Math.max(maxAbs(a), 1);
      await checkOp({
        name: `div [${sa}] [${sb}]`,
        inputs: [{ shape: sa, data: a }, { shape: sb, data: b }],
        gpu: (x, y) => div(x, y),
        ref: (x, y) => binaryRef((u, v) => u / v, x, sa, y, sb),
        tol: { rtol: 6 * EPS, atol: 1e-30 },
        gradTol: { rtol: 32 * EPS, atol: 32 * EPS * f * term + 1e-9 },
        fdSamples: 24,
      }, rng);
    }
  });

  it('raw max, min, eq, gt and pow (forward only: used inside other ops)', async () => {
    const cases: [raw.BinaryOp, (u: number, v: number) => number][] = [
      ['max', Math.max],
      ['min', Math.min],
      ['eq', (u, v) => (u === v ? 1 : 0)],
      ['gt', (u, v) => (u > v ? 1 : 0)],
    ];
    for (const [sa, sb] of pairs.slice(0, 10)) {
      // values on a coarse grid so that eq and ties actually happen
      const a = rng.array(size(sa), () => rng.int(-3, 3));
      const b = rng.array(size(sb), () => rng.int(-3, 3));
      for (const [op, fn] of cases) {
        await checkOp({
          name: `${op} [${sa}] [${sb}]`,
          inputs: [{ shape: sa, data: a }, { shape: sb, data: b }],
          gpu: (x, y) => raw.binaryRaw(op, x, y),
          ref: (x, y) => binaryRef(fn, x, sa, y, sb),
          tol: { rtol: 0, atol: 0 }, // exact
          skipGrad: true,
        });
      }
      // pow(a, b) for a > 0: WGSL's exp2(b·log2 a), |b| ≤ 3, a ∈ [0.25, 4] → ≲ 1e-6 relative
      await checkOp({
        name: `pow [${sa}] [${sb}]`,
        inputs: [
          { shape: sa, data: rng.array(size(sa), () => rng.uniform(0.25, 4)) },
          { shape: sb, data: rng.array(size(sb), () => rng.uniform(-3, 3)) },
        ],
        gpu: (x, y) => raw.binaryRaw('pow', x, y),
        ref: (x, y) => binaryRef(Math.pow, x, sa, y, sb),
        tol: { rtol: 8e-6, atol: 1e-30 },
        skipGrad: true,
      });
    }
  });

  it('rejects shapes that do not broadcast, naming both', () => {
    tidy(() => {
      expect(() => add(tensor([1, 2, 3], [3, 1]), tensor([1, 2], [1, 2, 1]))).toThrow(/\[3, 1\] and \[1, 2, 1\] do not broadcast/);
      expect(() => mul(tensor([1, 2, 3]), tensor([1, 2, 3, 4]))).toThrow(/do not broadcast/);
    });
  });
});

// ---------------------------------------------------------------- unary

interface UnarySpec {
  name: string;
  gpu: (x: Tensor) => Tensor;
  ref: (x: number) => number;
  /** Input values (f32-rounded by rng.array). */
  gen: (rng: Rng) => number;
  tol: { rtol: number; atol: number };
  gradTol: { rtol: number; atol: number };
}

const awayFromZero = (rng: Rng) => {
  let v = 0;
  while (Math.abs(v) < 0.01) v = rng.normal() * 2;
  return v;
};
const logUniform = (lo: number, hi: number) => (rng: Rng) => Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));

const UNARY: UnarySpec[] = [
  // exact in f32; the gradient −g too (1e-9 is the float64 finite-difference noise)
  { name: 'neg', gpu: neg, ref: UNARY_REF.neg, gen: (r) => r.normal(), tol: { rtol: 0, atol: 0 }, gradTol: { rtol: 0, atol: 1e-9 } },
  { name: 'abs', gpu: abs, ref: UNARY_REF.abs, gen: awayFromZero, tol: { rtol: 0, atol: 0 }, gradTol: { rtol: 0, atol: 1e-9 } },
  { name: 'relu', gpu: relu, ref: UNARY_REF.relu, gen: awayFromZero, tol: { rtol: 0, atol: 0 }, gradTol: { rtol: 0, atol: 1e-9 } },
  // WGSL exp: 3 + 2|x| ulp; |x| ≤ 10 → 23 ulp = 46·EPS (+1 ulp for g·exp in the backward)
  { name: 'exp', gpu: exp, ref: UNARY_REF.exp, gen: (r) => r.uniform(-10, 10), tol: { rtol: 46 * EPS, atol: 0 }, gradTol: { rtol: 50 * EPS, atol: 0 } },
  // WGSL log: 2⁻²¹ absolute on [0.5, 2], 3 ulp elsewhere; the backward is g/x (2.5 ulp + 1)
  { name: 'log', gpu: log, ref: UNARY_REF.log, gen: logUniform(0.01, 100), tol: { rtol: 6 * EPS, atol: 2 ** -21 }, gradTol: { rtol: 8 * EPS, atol: 1e-9 } },
  // WGSL sqrt: inherited from 1/inverseSqrt (2 + 2.5 ulp); backward 0.5/sqrt(x)·g (≈ 8 ulp)
  { name: 'sqrt', gpu: sqrt, ref: UNARY_REF.sqrt, gen: logUniform(0.01, 100), tol: { rtol: 10 * EPS, atol: 0 }, gradTol: { rtol: 16 * EPS, atol: 1e-9 } },
  // built on exp (|x| ≤ 8 → ≤ 19 ulp = 38·EPS) and a few roundings: 64·EPS ≈ 3.8e-6 relative
  { name: 'sigmoid', gpu: sigmoid, ref: UNARY_REF.sigmoid, gen: (r) => r.uniform(-8, 8), tol: { rtol: 64 * EPS, atol: 0 }, gradTol: { rtol: 96 * EPS, atol: 1e-12 } },
  { name: 'silu', gpu: silu, ref: UNARY_REF.silu, gen: (r) => r.uniform(-8, 8), tol: { rtol: 64 * EPS, atol: 1e-12 }, gradTol: { rtol: 96 * EPS, atol: 1e-9 } },
  // tanh: the small-|x| branch is a series (relative accuracy kept near 0), the rest exp-based
  { name: 'tanh', gpu: tanh, ref: UNARY_REF.tanh, gen: (r) => r.normal() * 2, tol: { rtol: 64 * EPS, atol: 0 }, gradTol: { rtol: 96 * EPS, atol: 1e-12 } },
  // gelu = x·sigmoid(2u), u = √(2/π)(x + 0.044715x³): for |x| ≤ 6, |2u| ≤ 26, so exp's 3 + 2|2u| ulp
  // dominates: ≤ 55 ulp = 110·EPS, relative (the form has no cancellation for negative x)
  { name: 'gelu', gpu: gelu, ref: UNARY_REF.gelu, gen: (r) => r.uniform(-6, 6), tol: { rtol: 128 * EPS, atol: 0 }, gradTol: { rtol: 192 * EPS, atol: 1e-12 } },
  // WGSL allows sin/cos 2⁻¹¹ absolute on [−π, π]; GPUs (and llvmpipe) do far better. We hold them to
  // 2⁻¹⁹ absolute: portable to hardware approximations (~2⁻²¹) while catching any wrong kernel.
  { name: 'sin', gpu: sin, ref: UNARY_REF.sin, gen: (r) => r.uniform(-Math.PI, Math.PI), tol: { rtol: 0, atol: 2 ** -19 }, gradTol: { rtol: 0, atol: 2 ** -18 } },
  { name: 'cos', gpu: cos, ref: UNARY_REF.cos, gen: (r) => r.uniform(-Math.PI, Math.PI), tol: { rtol: 0, atol: 2 ** -19 }, gradTol: { rtol: 0, atol: 2 ** -18 } },
  // pow: WGSL's exp2(p·log2 x); for |x| ∈ [0.1, 4], |p| ≤ 3 the log2 error (3 ulp of |log2 x| ≤ 3.4)
  // times p, plus exp2's 3 + 2|p·log2 x| ulp, is below 8e-6 relative.
  { name: 'pow 3 (negative bases)', gpu: (x) => pow(x, 3), ref: (x) => x ** 3, gen: (r) => (r.uniform() < 0.5 ? -1 : 1) * r.uniform(0.1, 4), tol: { rtol: 8e-6, atol: 0 }, gradTol: { rtol: 1.6e-5, atol: 1e-9 } },
  { name: 'pow 2 (negative bases)', gpu: (x) => pow(x, 2), ref: (x) => x ** 2, gen: (r) => (r.uniform() < 0.5 ? -1 : 1) * r.uniform(0.1, 4), tol: { rtol: 8e-6, atol: 0 }, gradTol: { rtol: 1.6e-5, atol: 1e-9 } },
  { name: 'pow −1 (negative bases)', gpu: (x) => pow(x, -1), ref: (x) => 1 / x, gen: (r) => (r.uniform() < 0.5 ? -1 : 1) * r.uniform(0.1, 4), tol: { rtol: 8e-6, atol: 0 }, gradTol: { rtol: 1.6e-5, atol: 1e-9 } },
  { name: 'pow 2.5', gpu: (x) => pow(x, 2.5), ref: (x) => x ** 2.5, gen: (r) => r.uniform(0.1, 4), tol: { rtol: 8e-6, atol: 0 }, gradTol: { rtol: 1.6e-5, atol: 1e-9 } },
  { name: 'pow −0.5', gpu: (x) => pow(x, -0.5), ref: (x) => x ** -0.5, gen: (r) => r.uniform(0.1, 4), tol: { rtol: 8e-6, atol: 0 }, gradTol: { rtol: 1.6e-5, atol: 1e-9 } },
  { name: 'square', gpu: square, ref: (x) => x * x, gen: (r) => r.normal(), tol: { rtol: 8e-6, atol: 0 }, gradTol: { rtol: 1.6e-5, atol: 1e-9 } },
  // a·x + b: two roundings (or one fused)
  { name: 'affine', gpu: (x) => affine(x, -1.75, 0.5), ref: (x) => -1.75 * x + 0.5, gen: (r) => r.normal(), tol: { rtol: 4 * EPS, atol: 4 * EPS }, gradTol: { rtol: 4 * EPS, atol: 1e-9 } },
  { name: 'scale', gpu: (x) => scale(x, 3), ref: (x) => 3 * x, gen: (r) => r.normal(), tol: { rtol: 2 * EPS, atol: 0 }, gradTol: { rtol: 2 * EPS, atol: 1e-9 } },
  { name: 'addScalar', gpu: (x) => addScalar(x, 2.5), ref: (x) => x + 2.5, gen: (r) => r.normal(), tol: { rtol: 2 * EPS, atol: 2 * EPS }, gradTol: { rtol: 0, atol: 1e-9 } },
];

describe('unary ops on random shapes (rank 0–4; odd sizes, and multiples of 4 for the vec4 kernels)', () => {
  for (const u of UNARY) {
    it(`${u.name}: forward vs float64, backward vs central differences`, async () => {
      const rng = new Rng(100 + u.name.length);
      for (const shape of [[], [1], [7], [3, 5], [2, 1, 3], [2, 3, 1, 5], [301], [4, 6], [2, 2, 3, 4]]) {
        await checkOp({
          name: `${u.name} [${shape}]`,
          inputs: [{ shape, data: rng.array(size(shape), () => u.gen(rng)) }],
          gpu: u.gpu,
          ref: (x) => x.map(u.ref),
          tol: u.tol,
          gradTol: u.gradTol,
          fdSamples: 16,
        }, rng);
      }
    });
  }
});

describe('unary ops at their edges', () => {
  async function values(f: (x: Tensor) => Tensor, xs: number[]): Promise<Float32Array> {
    const y = tidy(() => f(tensor(xs)));
    const d = await y.f32();
    y.dispose();
    return d;
  }
  async function grads(f: (x: Tensor) => Tensor, xs: number[]): Promise<Float32Array> {
    const x = param(tensor(xs));
    tidy(() => backward(sum(f(x))));
    const g = await x.grad!.f32();
    x.grad!.dispose();
    x.dispose();
    return g;
  }

  it('exp of large negative is 0, of large positive +inf, never NaN', async () => {
    const y = await values(exp, [-1000, -200, -104, -87, 0, 88, 89, 1000]);
    expect(y[0]).toBe(0);
    expect(y[1]).toBe(0);
    expect(y[2]).toBeGreaterThanOrEqual(0); // e^-104 is below the smallest f32 subnormal or flushed
    expect(y[2]).toBeLessThan(1e-44);
    // e^-87 ≈ 1.6e-38 is the smallest normal-range result (GPUs may flush subnormals to 0)
    expectClose([y[3]], [Math.exp(-87)], { rtol: 200 * EPS, atol: 0 }, 'exp(-87)');
    expect(y[4]).toBe(1);
    expectClose([y[5]], [Math.exp(88)], { rtol: 200 * EPS, atol: 0 }, 'exp(88)');
    expect(y[6]).toBe(Infinity);
    expect(y[7]).toBe(Infinity);
  });

  it('log near 0+, at 0 and below', async () => {
    const xs = [1e-30, 1e-20, 1e-10, 1e-5, 1, 0, -1];
    const y = await values(log, xs);
    expectClose(y.slice(0, 5), xs.slice(0, 5).map((v) => Math.log(Math.fround(v))), { rtol: 6 * EPS, atol: 2 ** -21 }, 'log');
    expect(y[5]).toBe(-Infinity);
    expect(Number.isNaN(y[6])).toBe(true);
    // d log / dx = 1/x near 0+: 1e-5 → 1e5
    const g = await grads(log, [1e-5, 1e-3]);
    expectClose(g, [1 / Math.fround(1e-5), 1 / Math.fround(1e-3)], { rtol: 8 * EPS, atol: 0 }, 'log gradient');
  });

  it('sin and cos to a few ulp from 1e-30 to 5e4 on every driver (kernels/trig.wgsl), NaN for non-finite input', async () => {
    // WGSL promises only 2^-11 absolute on [−π, π] (SwiftShader's built-ins were 2e-4 off); the
    // sinusoidal embedding evaluates angles up to 2π·1000. Float64 of the f32 input is the reference.
    const rng = new Rng(11);
    const xs = [0, 1e-30, -1e-7, Math.PI / 4, Math.PI / 2, Math.PI, 3 * Math.PI / 2, 2 * Math.PI, 100, -1000, 6283.18, 50000, -49999.5];
    for (let i = 0; i < 200; i++) xs.push(rng.uniform(-10, 10), rng.uniform(-7000, 7000));
    const ref = xs.map((v) => Math.fround(v));
    for (const [op, fn] of [[sin, Math.sin], [cos, Math.cos]] as const) {
      const y = await values(op, xs);
      // ≤ 2 ulp of a result near 1, and near the zeros the error of the reduced argument (≤ 2^-24·|r|)
      expectClose(y, ref.map(fn), { rtol: 2 * EPS, atol: 2 ** -25 }, fn.name);
      const bad = await values(op, [NaN, Infinity, -Infinity]);
      expect([...bad].every(Number.isNaN), `${fn.name} of non-finite input`).toBe(true);
    }
  });

  it('sqrt at 0, tiny and large values', async () => {
    const xs = [0, 1e-30, 4, 1e30];
    const y = await values(sqrt, xs);
    expectClose(y, xs.map((v) => Math.sqrt(Math.fround(v))), { rtol: 10 * EPS, atol: 0 }, 'sqrt');
    expect(y[0]).toBe(0);
  });

  it('pow: negative bases with integer exponents, fractional exponents, zero', async () => {
    const cases: [number, number, number][] = [
      [-2, 3, -8], [-2, 2, 4], [-3, -1, -1 / 3], [-2, -2, 0.25], [-1.5, 5, -7.59375],
      [2, 0, 1], [-2, 0, 1], [0, 0, 1], [0, 2, 0], [0, -1, Infinity], [-2, 0.5, NaN], [4, 0.5, 2],
    ];
    for (const [x, p, want] of cases) {
      const [y] = await values((t) => pow(t, p), [x]);
      if (Number.isNaN(want)) expect(Number.isNaN(y), `pow(${x}, ${p})`).toBe(true);
      else if (!Number.isFinite(want)) expect(y, `pow(${x}, ${p})`).toBe(want);
      else expectClose([y], [Math.fround(want)], { rtol: 8e-6, atol: 0 }, `pow(${x}, ${p})`);
    }
    // d/dx x³ = 3x² at x = −2 → 12; d/dx x^−1 = −x^−2 at −2 → −0.25; d/dx x² at 0 → 0
    expectClose(await grads((t) => pow(t, 3), [-2]), [12], { rtol: 8e-6, atol: 0 }, 'pow 3 gradient');
    expectClose(await grads((t) => pow(t, -1), [-2]), [-0.25], { rtol: 8e-6, atol: 0 }, 'pow −1 gradient');
    expect([...(await grads((t) => pow(t, 2), [0]))]).toEqual([0]);
  });

  it('sigmoid and tanh saturate exactly at ±50 and beyond, with no NaN in values or gradients', async () => {
    const xs = [-1e30, -1000, -50, 50, 1000, 1e30];
    const s = await values(sigmoid, xs);
    expect([s[3], s[4], s[5]]).toEqual([1, 1, 1]);
    expect([s[0], s[1]]).toEqual([0, 0]);
    // sigmoid(−50) = e^−50/(1+e^−50) ≈ 1.93e-22 is a normal f32: it must be that, not 0 or NaN
    expectClose([s[2]], [1 / (1 + Math.exp(50))], { rtol: 200 * EPS, atol: 0 }, 'sigmoid(−50)');
    const t = await values(tanh, xs);
    expect([...t]).toEqual([-1, -1, -1, 1, 1, 1]);
    for (const f of [sigmoid, tanh, silu, gelu]) {
      const g = await grads(f, xs);
      for (const v of g) expect(Number.isFinite(v), `${f.name} gradient at the edges`).toBe(true);
    }
    expect([...(await grads(tanh, xs))]).toEqual([0, 0, 0, 0, 0, 0]);
    const gs = await grads(sigmoid, [-50, 50]);
    // s·(1 − s) = e^∓50/(1+e^∓50)²: keep relative accuracy in the tails
    expectClose(gs, [Math.exp(-50), Math.exp(-50)].map((e) => e / (1 + e) ** 2), { rtol: 200 * EPS, atol: 0 }, 'sigmoid gradient tails');
  });

  it('tanh keeps relative accuracy near 0', async () => {
    const xs = [1e-30, -1e-7, 1e-4, -0.01, 0.1, 0.124, 0.126, -0.3];
    const y = await values(tanh, xs);
    expectClose(y, xs.map((v) => Math.tanh(Math.fround(v))), { rtol: 64 * EPS, atol: 0 }, 'tanh near 0');
    const g = await grads(tanh, xs);
    expectClose(g, xs.map((v) => 1 - Math.tanh(Math.fround(v)) ** 2), { rtol: 64 * EPS, atol: 0 }, 'tanh gradient near 0');
  });

  it('silu and gelu far out: identity for large x, 0 for very negative x', async () => {
    const xs = [-1e30, -1e4, -50, 50, 1e4, 1e30];
    for (const [f, ref] of [[silu, UNARY_REF.silu], [gelu, UNARY_REF.gelu]] as const) {
      const y = await values(f, xs);
      expectClose(y, xs.map((v) => ref(Math.fround(v))), { rtol: 64 * EPS, atol: 1e-20 }, `${f.name} far out`);
      const g = await grads(f, xs);
      expectClose(g, [0, 0, 0, 1, 1, 1], { rtol: 64 * EPS, atol: 1e-15 }, `${f.name} gradient far out`);
    }
  });
});

describe('poisoning catches unwritten outputs', () => {
  // A copy kernel that forgets the last element: exactly the bug poisoning exists to catch.
  const BROKEN = `
struct Params { n: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(64)
fn copy_but_last(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x + 1u < p.n) { y[gid.x] = x[gid.x]; }
}`;

  it('a kernel that skips its last element fails checkOp', async () => {
    raw.registerKernel('test_broken_copy', BROKEN);
    const brokenCopy = (x: Tensor) => {
      const y = empty(x.shape); // NaN-poisoned by useGpu()
      run(raw.kernel('test_broken_copy'), 'copy_but_last', {
        inputs: { x },
        outputs: { y },
        params: { n: x.size },
        workgroups: [Math.ceil(x.size / 64)],
      });
      return y;
    };
    const data = new Rng(5).array(37);
    await expect(
      checkOp({ name: 'broken copy', inputs: [{ shape: [37], data }], gpu: brokenCopy, ref: (x) => x.slice(), tol: { rtol: 0, atol: 0 }, skipGrad: true }),
    ).rejects.toThrow(/element 36 is NaN/);
    // the same check passes for a kernel that writes everything
    await checkOp({ name: 'copy', inputs: [{ shape: [37], data }], gpu: (x) => raw.unaryRaw('affine', x, 1, 0), ref: (x) => x.slice(), tol: { rtol: 0, atol: 0 }, skipGrad: true });
  });
});
