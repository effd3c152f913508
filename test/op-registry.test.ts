/**
 * Every differentiable op in the registry (src/autograd/registry.ts) is checked here, by name:
 * its output must be recorded under that name, its forward must match a float64 reference and its
 * backward float64 central differences (checkOp). The case table is typed by the registry, so an op
 * without a case does not type-check, and at run time the op's own test below fails naming it.
 *
 * The cases are small: this file is about coverage (no op escapes a gradient check); the tight f32
 * error bounds, edge values and large shapes are in each op's own test file (ops-*.test.ts,
 * matmul, conv, norm, resample, nn). Tolerances are those files' bounds at these sizes
 * (EPS = 2⁻²⁴; |w| < 5 for the N(0, 1) upstream gradient checkOp draws).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { avgPool2x, upsample2x } from '../src/autograd/resample.js';
import { conv2d } from '../src/autograd/conv.js';
import { sinusoidalEmbedding } from '../src/autograd/embedding.js';
import { groupNorm } from '../src/autograd/norm.js';
import { carryUnmasked, generalizedKL, tokenCrossEntropy } from '../src/autograd/discrete.js';
import { polynomialKappa } from '../src/discrete/kernels.js';
import { ceRef, gklRef } from './discrete-reference.js';
import * as ops from '../src/autograd/ops.js';
import { DIFF_OPS, type DiffOp } from '../src/autograd/registry.js';
import { sinusoidalFrequencies } from '../src/nn/embedding.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { checkOp, Rng, useGpu, type OpCase } from './helpers.js';
import {
  avgPool2xRef, binaryRef, broadcastRef, concatRef, conv2dRef, EPS, gatherRowsRef, groupNormRef, matmulRef, mseRef, permuteRef,
  reduceRef, sinusoidalRef, size, sliceRef, softmaxRef, sumAbs, UNARY_REF, upsample2xRef,
} from './reference.js';

useGpu();

type Case = Omit<OpCase, 'name'>;
type Input = OpCase['inputs'][number];

const normal = (rng: Rng, shape: number[]): Input => ({ shape, data: rng.array(size(shape)) });
const drawn = (rng: Rng, shape: number[], gen: () => number): Input => ({ shape, data: rng.array(size(shape), gen) });
const maxAbs = (...xs: ArrayLike<number>[]) => Math.max(1, ...xs.flatMap((x) => Array.from(x, Math.abs)));
const awayFromZero = (rng: Rng) => () => (rng.uniform() < 0.5 ? -1 : 1) * rng.uniform(0.05, 3);

/** A unary op on [3, 5] (odd: the scalar kernel; the vec4 one is in ops-elementwise). */
function unaryCase(
  rng: Rng, gpu: (x: Tensor) => Tensor, ref: (v: number) => number, gen: () => number,
  tol: Case['tol'], gradTol: Case['gradTol'],
): Case {
  return { inputs: [drawn(rng, [3, 5], gen)], gpu, ref: (x) => x.map(ref), tol, gradTol };
}

/** a ∘ b with a [3, 1, 4] and b [2, 4] broadcast to [3, 2, 4]: each gradient element sums ≤ 3 terms. */
function binaryCase(rng: Rng, gpu: (a: Tensor, b: Tensor) => Tensor, f: (u: number, v: number) => number, b: Input, ulps: number, term: number): Case {
  const a = normal(rng, [3, 1, 4]);
  return {
    inputs: [a, b],
    gpu,
    ref: (x, y) => binaryRef(f, x, a.shape, y, b.shape),
    tol: { rtol: ulps * EPS, atol: 1e-30 },
    gradTol: { rtol: 4 * ulps * EPS, atol: 4 * ulps * EPS * 3 * 5 * term * maxAbs(a.data, b.data) + 1e-9 },
  };
}

/** k·EPS·max Σ|a||b| for C = A·op(B): the f32 bound of a length-k dot product. */
function dotAtol(a: Input, b: Input, tb: boolean): number {
  const { data } = matmulRef(a.data.map(Math.abs), a.shape, b.data.map(Math.abs), b.shape, false, tb);
  return a.shape[a.shape.length - 1] * EPS * Math.max(...data) + 1e-30;
}

const CASES: { [P in DiffOp]: (rng: Rng) => Case } = {
  // ---------------------------------------------------------------- unary (kernels/elementwise.wgsl)
  neg: (r) => unaryCase(r, ops.neg, UNARY_REF.neg, () => r.normal(), { rtol: 0, atol: 0 }, { rtol: 0, atol: 1e-9 }),
  exp: (r) => unaryCase(r, ops.exp, UNARY_REF.exp, () => r.uniform(-4, 4), { rtol: 46 * EPS, atol: 0 }, { rtol: 50 * EPS, atol: 0 }),
  log: (r) => unaryCase(r, ops.log, UNARY_REF.log, () => r.uniform(0.1, 10), { rtol: 6 * EPS, atol: 2 ** -21 }, { rtol: 8 * EPS, atol: 1e-9 }),
  sqrt: (r) => unaryCase(r, ops.sqrt, UNARY_REF.sqrt, () => r.uniform(0.1, 10), { rtol: 10 * EPS, atol: 0 }, { rtol: 16 * EPS, atol: 1e-9 }),
  pow: (r) => unaryCase(r, (x) => ops.pow(x, 3), (v) => v ** 3, awayFromZero(r), { rtol: 8e-6, atol: 0 }, { rtol: 1.6e-5, atol: 1e-9 }),
  abs: (r) => unaryCase(r, ops.abs, UNARY_REF.abs, awayFromZero(r), { rtol: 0, atol: 0 }, { rtol: 0, atol: 1e-9 }),
  relu: (r) => unaryCase(r, ops.relu, UNARY_REF.relu, awayFromZero(r), { rtol: 0, atol: 0 }, { rtol: 0, atol: 1e-9 }),
  silu: (r) => unaryCase(r, ops.silu, UNARY_REF.silu, () => r.uniform(-8, 8), { rtol: 64 * EPS, atol: 1e-12 }, { rtol: 96 * EPS, atol: 1e-9 }),
  gelu: (r) => unaryCase(r, ops.gelu, UNARY_REF.gelu, () => r.uniform(-6, 6), { rtol: 128 * EPS, atol: 0 }, { rtol: 192 * EPS, atol: 1e-12 }),
  sigmoid: (r) => unaryCase(r, ops.sigmoid, UNARY_REF.sigmoid, () => r.uniform(-8, 8), { rtol: 64 * EPS, atol: 0 }, { rtol: 96 * EPS, atol: 1e-12 }),
  tanh: (r) => unaryCase(r, ops.tanh, UNARY_REF.tanh, () => 2 * r.normal(), { rtol: 64 * EPS, atol: 0 }, { rtol: 96 * EPS, atol: 1e-12 }),
  sin: (r) => unaryCase(r, ops.sin, UNARY_REF.sin, () => r.uniform(-Math.PI, Math.PI), { rtol: 0, atol: 2 ** -19 }, { rtol: 0, atol: 2 ** -18 }),
  cos: (r) => unaryCase(r, ops.cos, UNARY_REF.cos, () => r.uniform(-Math.PI, Math.PI), { rtol: 0, atol: 2 ** -19 }, { rtol: 0, atol: 2 ** -18 }),
  affine: (r) => unaryCase(r, (x) => ops.affine(x, -1.75, 0.5), (v) => -1.75 * v + 0.5, () => r.normal(), { rtol: 4 * EPS, atol: 4 * EPS }, { rtol: 4 * EPS, atol: 1e-9 }),

  // ---------------------------------------------------------------- broadcasting arithmetic
  add: (r) => binaryCase(r, ops.add, (u, v) => u + v, normal(r, [2, 4]), 2, 0),
  sub: (r) => binaryCase(r, ops.sub, (u, v) => u - v, normal(r, [2, 4]), 2, 0),
  mul: (r) => binaryCase(r, ops.mul, (u, v) => u * v, normal(r, [2, 4]), 2, 1),
  // |b| ∈ [0.5, 2]; −g·a/b² is three roundings of ≤ 2.5 ulp and up to 4·|a|
  div: (r) => binaryCase(r, ops.div, (u, v) => u / v, drawn(r, [2, 4], () => (r.uniform() < 0.5 ? -1 : 1) * r.uniform(0.5, 2)), 6, 4),

  // ---------------------------------------------------------------- products (linear in each operand: h = 1)
  matmul: (r) => {
    const a = normal(r, [2, 3, 4]);
    const b = normal(r, [4, 5]);
    const atol = dotAtol(a, b, false);
    return {
      inputs: [a, b],
      gpu: (x, y) => ops.matmul(x, y),
      ref: (x, y) => matmulRef(x, a.shape, y, b.shape).data,
      tol: { rtol: 2 * EPS, atol },
      // dA: 5 products per element, dB: 6 (3 rows × 2 batches), each ≤ 5·max|·|
      gradTol: { rtol: 2 * EPS, atol: 36 * EPS * 5 * maxAbs(a.data, b.data) + 1e-9 },
      h: 1,
    };
  },
  linear: (r) => {
    const x = normal(r, [4, 3]);
    const w = normal(r, [5, 3]);
    const bias = normal(r, [5]);
    return {
      inputs: [x, w, bias],
      gpu: (xx, ww, bb) => ops.linear(xx, ww, bb),
      ref: (xx, ww, bb) => matmulRef(xx, x.shape, ww, w.shape, false, true).data.map((v, i) => v + bb[i % 5]),
      tol: { rtol: 4 * EPS, atol: dotAtol(x, w, true) + 10 * EPS },
      gradTol: { rtol: 4 * EPS, atol: 25 * EPS * 5 * maxAbs(x.data, w.data) + 40 * EPS + 1e-9 },
      h: 1,
    };
  },

  // ---------------------------------------------------------------- reductions
  sum: (r) => {
    const x = normal(r, [3, 4, 5]);
    return {
      inputs: [x],
      gpu: (t) => ops.sum(t, [0, 2]),
      ref: (t) => reduceRef(t, x.shape, [0, 2], 'sum'),
      tol: { rtol: 2 * EPS, atol: 2 * EPS * sumAbs(x.data) },
      gradTol: { rtol: 0, atol: 1e-9 },
      h: 1,
    };
  },
  // continuous values (no ties); h below the gap between a row's two largest entries
  max: (r) => {
    const x = normal(r, [3, 5]);
    return {
      inputs: [x],
      gpu: (t) => ops.max(t, 1),
      ref: (t) => reduceRef(t, x.shape, [1], 'max'),
      tol: { rtol: 0, atol: 0 },
      gradTol: { rtol: 0, atol: 1e-8 },
      h: 1e-7,
    };
  },

  // ---------------------------------------------------------------- layout: exact forward, h = 1
  reshape: (r) => ({ ...exactLayout(normal(r, [2, 6]), (x) => ops.reshape(x, [3, 4]), (x) => x.slice()) }),
  permute: (r) => {
    const x = normal(r, [2, 3, 4]);
    return exactLayout(x, (t) => ops.permute(t, [2, 0, 1]), (t) => permuteRef(t, x.shape, [2, 0, 1]));
  },
  broadcast_to: (r) => {
    const x = normal(r, [3, 1]);
    // each gradient element sums 8 upstream values (compensated)
    return { ...exactLayout(x, (t) => ops.broadcastTo(t, [2, 3, 4]), (t) => broadcastRef(t, x.shape, [2, 3, 4])), gradTol: { rtol: 2 * EPS, atol: 2 * EPS * 8 * 5 + 1e-12 } };
  },
  concat: (r) => {
    const shapes = [[2, 3], [2, 1]];
    return {
      inputs: shapes.map((s) => normal(r, s)),
      gpu: (a, b) => ops.concat([a, b], 1),
      ref: (a, b) => concatRef([a, b], shapes, 1),
      tol: { rtol: 0, atol: 0 },
      gradTol: { rtol: 0, atol: 1e-12 },
      h: 1,
    };
  },
  slice: (r) => {
    const x = normal(r, [4, 5]);
    return exactLayout(x, (t) => ops.slice(t, [1, 1], [3, 4]), (t) => sliceRef(t, x.shape, [1, 1], [3, 4]));
  },
  gather_rows: (r) => {
    const idx = [4, 0, 4, 2];
    // row 4 is read twice: its gradient sums two upstream values
    return {
      ...exactLayout(normal(r, [5, 3]), (t) => ops.gatherRows(t, tensor(idx, [idx.length], 'i32')), (t) => gatherRowsRef(t, 3, idx)),
      gradTol: { rtol: 2 * EPS, atol: 2 * EPS * 2 * 5 + 1e-12 },
    };
  },

  // ---------------------------------------------------------------- softmax family and the fused loss
  // rows of 5 with R = the largest |x − rowmax| ≤ 2·max|x|: the bounds of ops-loss.test.ts
  softmax: (r) => {
    const x = normal(r, [3, 5]);
    const rtol = (11 + 8 * maxAbs(x.data)) * EPS + 5 * EPS;
    return {
      inputs: [x],
      gpu: ops.softmax,
      ref: (t) => softmaxRef(t, 5, false),
      tol: { rtol, atol: 2 ** -126 },
      gradTol: { rtol, atol: (rtol + 5 * EPS) * 5 * 5 + 1e-12 },
    };
  },
  log_softmax: (r) => {
    const x = normal(r, [3, 5]);
    const R = 2 * maxAbs(x.data);
    return {
      inputs: [x],
      gpu: ops.logSoftmax,
      ref: (t) => softmaxRef(t, 5, true),
      tol: { rtol: 4 * EPS, atol: 2 ** -21 + 4 * EPS * (R + Math.log(5)) },
      gradTol: { rtol: 4 * EPS, atol: ((11 + 4 * R) * EPS + 5 * EPS) * 5 * 5 + 1e-12 },
    };
  },
  // quadratic: central differences are exact for any h
  mse_loss: (r) => ({
    inputs: [normal(r, [3, 5]), normal(r, [3, 5])],
    gpu: ops.mseLoss,
    ref: (p, t) => Float64Array.of(mseRef(p, t)),
    tol: { rtol: 16 * EPS, atol: 0 },
    gradTol: { rtol: 8 * EPS, atol: 1e-12 },
    h: 1,
  }),

  // ---------------------------------------------------------------- discrete flow matching (kernels/discrete.wgsl)
  // logits [2, 3, 5] (6 tokens of K = 5); smooth in the logits, so h = 1e-4 keeps FD error ≪ 1e-7
  token_cross_entropy: (r) => {
    const x1 = [0, 4, 2, 2, 1, 3];
    return {
      inputs: [drawn(r, [2, 3, 5], () => 3 * r.normal())],
      gpu: (z) => tokenCrossEntropy(z, tensor(x1, [2, 3], 'i32')),
      ref: (z) => Float64Array.of(ceRef(z, x1, 5)),
      tol: { rtol: 1e-6, atol: 1e-6 },
      gradTol: { rtol: 1e-5, atol: 1e-6 },
      h: 1e-4,
    };
  },
  // mask source (x_t = 5 is the mask), tokens with x_t = x1 and x_t ≠ x1, two rows at t = 0.3, 0.8
  generalized_kl: (r) => {
    const x1 = [0, 4, 2, 2, 1, 3];
    const xt = [0, 5, 1, 2, 5, 3];
    const t = [0.3, 0.8];
    const space = { categories: 5, source: 'mask' as const, scheduler: polynomialKappa(1) };
    return {
      inputs: [drawn(r, [2, 3, 5], () => 3 * r.normal())],
      gpu: (z) => generalizedKL(z, tensor(x1, [2, 3], 'i32'), tensor(xt, [2, 3], 'i32'), tensor(t, [2]), space),
      ref: (z) => Float64Array.of(gklRef(z, x1, xt, t, 3, 5)),
      tol: { rtol: 2e-6, atol: 2e-6 },
      gradTol: { rtol: 2e-5, atol: 2e-6 },
      h: 1e-4,
    };
  },

  // x_t = 5 is the mask of K = 5: its rows pass through (gradient w), the others become δ(x_t)
  // (0 at x_t, −10³⁰ elsewhere, constants: no gradient)
  carry_unmasked: (r) => {
    const xt = [0, 5, 1, 2, 5, 3];
    return {
      inputs: [drawn(r, [2, 3, 5], () => 3 * r.normal())],
      gpu: (z) => carryUnmasked(z, tensor(xt, [2, 3], 'i32')),
      ref: (z) => z.map((v, e) => (xt[Math.floor(e / 5)] === 5 ? v : e % 5 === xt[Math.floor(e / 5)] ? 0 : -1e30)),
      tol: { rtol: EPS, atol: 0 },
      gradTol: { rtol: 2 * EPS, atol: 1e-9 },
    };
  },

  // ---------------------------------------------------------------- image ops and the time embedding
  // f32 dot products of length C_in·k² = 18 of O(1) terms; the weight gradient sums 2·5·4 of them
  conv2d: (r) => {
    const x = normal(r, [2, 2, 5, 4]);
    const w = drawn(r, [3, 2, 3, 3], () => r.normal() / Math.sqrt(18));
    return {
      inputs: [x, w, normal(r, [3])],
      gpu: (xx, ww, bb) => conv2d(xx, ww, bb, { stride: 1, padding: 1 }),
      ref: (xx, ww, bb) => conv2dRef(xx, ww, bb, x.shape, w.shape, 1, 1),
      tol: { rtol: 1e-5, atol: 1e-5 },
      gradTol: { rtol: 1e-4, atol: 2e-4 },
      fdSamples: 24,
    };
  },
  // x ↦ x̂ is nonlinear: h = 1e-4 keeps truncation and cancellation below 1e-6
  group_norm: (r) => ({
    inputs: [normal(r, [2, 4, 3, 3]), drawn(r, [4], () => 1 + 0.5 * r.normal()), normal(r, [4])],
    gpu: (x, w, b) => groupNorm(x, 2, w, b),
    ref: (x, w, b) => groupNormRef(x, w, b, [2, 4, 3, 3], 2, 1e-5),
    tol: { rtol: 1e-5, atol: 2e-5 },
    gradTol: { rtol: 1e-3, atol: 2e-4 },
    h: 1e-4,
  }),
  upsample2x: (r) => ({
    inputs: [normal(r, [1, 2, 3, 2])],
    gpu: upsample2x,
    ref: (x) => upsample2xRef(x, [1, 2, 3, 2]),
    tol: { rtol: 0, atol: 0 },
    gradTol: { rtol: 1e-6, atol: 1e-6 },
  }),
  avg_pool2x: (r) => ({
    inputs: [normal(r, [1, 2, 5, 4])],
    gpu: avgPool2x,
    ref: (x) => avgPool2xRef(x, [1, 2, 5, 4]),
    tol: { rtol: 1e-6, atol: 1e-6 },
    gradTol: { rtol: 1e-6, atol: 1e-6 },
  }),
  // |scale·t·ω| ≤ 10 rad: forward ≲ 2.5e-6; the derivative carries a factor scale·ω ≤ 10
  sinusoidal_embedding: (r) => ({
    inputs: [drawn(r, [6], () => r.uniform())],
    gpu: (t) => sinusoidalEmbedding(t, tensor(Float32Array.from(sinusoidalFrequencies(6, 10, 100))), 6),
    ref: (t) => sinusoidalRef(t, 6, 10, 100),
    tol: { rtol: 1e-5, atol: 5e-6 },
    gradTol: { rtol: 1e-4, atol: 1e-4 },
  }),
};

/** A layout op: moves values without arithmetic, so the forward and (with h = 1) the gradient are exact. */
function exactLayout(x: Input, gpu: (t: Tensor) => Tensor, ref: (t: Float64Array) => Float64Array): Case {
  return { inputs: [x], gpu, ref, tol: { rtol: 0, atol: 0 }, gradTol: { rtol: 0, atol: 1e-12 }, h: 1 };
}

describe('the registry of differentiable ops', () => {
  it('every registered op has a float64 case here, and every case is a registered op', () => {
    const cases = Object.keys(CASES);
    expect(DIFF_OPS.filter((op) => !cases.includes(op)), 'registered ops without a float64 / finite-difference case').toEqual([]);
    expect(cases.filter((op) => !DIFF_OPS.includes(op as DiffOp)), 'cases for names the registry does not hold').toEqual([]);
    expect(new Set(DIFF_OPS).size, 'an op registered twice').toBe(DIFF_OPS.length);
  });

  it('only src/autograd/ records ops (nn/ and the other rooms compose them)', () => {
    const root = new URL('../src/', import.meta.url);
    const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.startsWith('autograd'));
    const recording = files.filter((f) => /\brecord\(/.test(readFileSync(new URL(f, root), 'utf8')));
    expect(recording, 'files outside src/autograd that call record()').toEqual([]);
  });

  for (const op of DIFF_OPS) {
    it(`${op}: recorded under its name; forward vs float64, backward vs central differences`, async () => {
      const build = (CASES as Partial<Record<string, (rng: Rng) => Case>>)[op];
      expect(build, `no float64 / finite-difference case for the registered op '${op}'`).toBeDefined();
      const rng = new Rng(1000 + op.length);
      const c = build!(rng);
      let recordedAs: string | undefined;
      await checkOp({
        ...c,
        name: op,
        gpu: (...xs) => {
          const y = c.gpu(...xs);
          recordedAs = y.node?.op;
          return y;
        },
      }, rng);
      expect(recordedAs, `the case for '${op}' does not end in that op`).toBe(op);
    });
  }
});
