/**
 * Matmul: 2-D and batched (with broadcast batch dimensions), every combination of transposed
 * operands, sizes that cross the 64×64 output tile and the 16-deep K tile without being multiples
 * of either, the fused bias + activation epilogue (raw.matmulRaw), and linear().
 *
 * Error bound: an f32 dot product of length k, in any summation order and with or without FMA,
 * is within k·EPS·Σ_p|a_p·b_p| of the exact value (EPS = 2⁻²⁴; Higham's γ_k). We take the
 * largest Σ|a||b| over the output as the scale: atol = k·EPS·max_ij Σ_p|a_ip·b_pj| (+ the epilogue's
 * roundings where fused). A kernel that drops or duplicates even one product of N(0,1) values is
 * off by ~0.5, far outside it. Gradients are matmuls too (dA = G·Bᵀ, dB = Aᵀ·G) and get the same
 * bound with their own inner length; matmul is linear in each operand, so central differences with
 * h = 1 are exact up to float64 noise.
 */
import { describe, expect, it } from 'vitest';
import { linear, matmul, raw, tensor, tidy } from '../src/internal.js';
import { checkOp, Rng, useGpu } from './helpers.js';
import { EPS, matmulRef, size, UNARY_REF } from './reference.js';

useGpu();

/** k·EPS·max_ij Σ_p |a_ip b_pj| for C = op(A)·op(B) (and the same for both gradients, with |w| ≤ 5). */
function bounds(a: Float64Array, sa: number[], b: Float64Array, sb: number[], ta: boolean, tb: boolean) {
  const absA = a.map(Math.abs);
  const absB = b.map(Math.abs);
  const { data, shape } = matmulRef(absA, sa, absB, sb, ta, tb);
  const k = ta ? sa[sa.length - 2] : sa[sa.length - 1];
  const m = shape[shape.length - 2];
  const n = shape[shape.length - 1];
  const nbOut = size(shape.slice(0, -2));
  const nbA = size(sa.slice(0, -2));
  const nbB = size(sb.slice(0, -2));
  const maxA = Math.max(...absA, 1);
  const maxB = Math.max(...absB, 1);
  // dA sums n·(batch fan-in) products of |w|·|b| ≤ 5·max|b|; dB sums m·(fan-in) of 5·max|a|.
  const fanA = n * (nbOut / nbA);
  const fanB = m * (nbOut / nbB);
  return {
    tol: { rtol: 2 * EPS, atol: k * EPS * Math.max(...data, 0) + 1e-30 },
    gradTol: { rtol: 2 * EPS, atol: Math.max(fanA * fanA * EPS * 5 * maxB, fanB * fanB * EPS * 5 * maxA) + 1e-9 },
  };
}

async function checkMatmul(sa: number[], sb: number[], ta: boolean, tb: boolean, rng: Rng, fdSamples = 12) {
  const a = rng.array(size(sa));
  const b = rng.array(size(sb));
  const { tol, gradTol } = bounds(a, sa, b, sb, ta, tb);
  await checkOp({
    name: `matmul [${sa}]${ta ? 'ᵀ' : ''} · [${sb}]${tb ? 'ᵀ' : ''}`,
    inputs: [{ shape: sa, data: a }, { shape: sb, data: b }],
    gpu: (x, y) => matmul(x, y, { transA: ta, transB: tb }),
    ref: (x, y) => matmulRef(x, sa, y, sb, ta, tb).data,
    tol,
    gradTol,
    h: 1,
    fdSamples,
  }, rng);
}

const stored = (rows: number, cols: number, t: boolean) => (t ? [cols, rows] : [rows, cols]);

describe('2-D matmul across tile boundaries', () => {
  const rng = new Rng(71);
  // (M, K, N): tile edges are 64 (M, N) and 16 (K); none of these is a multiple of both
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [1, 129, 1],
    [63, 17, 65],
    [65, 15, 64],
    [64, 16, 64],
    [130, 7, 3],
    [3, 33, 130],
    [127, 1, 66],
    [129, 31, 129],
  ];
  for (const [m, k, n] of sizes) {
    it(`${m}×${k}×${n}, all four transpose combinations`, async () => {
      for (const ta of [false, true])
        // the float64 reference costs M·K·N per finite-difference sample: fewer samples when large
        for (const tb of [false, true]) await checkMatmul(stored(m, k, ta), stored(k, n, tb), ta, tb, rng, m * k * n > 1e5 ? 4 : 12);
    });
  }

  it('inner dimension 0 gives zeros; mismatched shapes are rejected', async () => {
    await checkOp({
      name: 'matmul k = 0',
      inputs: [{ shape: [3, 0], data: new Float64Array(0) }, { shape: [0, 4], data: new Float64Array(0) }],
      gpu: (x, y) => matmul(x, y),
      ref: () => new Float64Array(12),
      tol: { rtol: 0, atol: 0 },
      skipGrad: true,
    });
    tidy(() => {
      expect(() => matmul(tensor([1, 2, 3, 4, 5, 6], [2, 3]), tensor([1, 2, 3, 4, 5, 6], [2, 3]))).toThrow(/inner dimensions differ/);
      expect(() => matmul(tensor([1, 2, 3]), tensor([1, 2, 3], [3, 1]))).toThrow(/rank ≥ 2/);
      expect(() => matmul(tensor(new Array(12).fill(1), [2, 2, 3]), tensor(new Array(18).fill(1), [3, 3, 2]))).toThrow(/do not broadcast/);
    });
  });
});

describe('batched matmul', () => {
  const rng = new Rng(72);
  const cases: [number[], number[], number, number, number][] = [
    // [batchA], [batchB], M, K, N
    [[2, 3], [2, 3], 5, 7, 3],
    [[3], [], 66, 9, 5], // B shared by every batch (stride 0)
    [[], [4], 6, 17, 65], // A shared
    [[2, 1], [1, 3], 4, 5, 6], // partial broadcast on both sides (materialised)
    [[1], [5], 3, 4, 2],
    [[2, 1, 2], [3, 1], 3, 2, 5], // rank 5 output
  ];
  for (const [ba, bb, m, k, n] of cases) {
    it(`[${ba}] × [${bb}] batches, M=${m} K=${k} N=${n}, with transposes`, async () => {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        await checkMatmul([...ba, ...stored(m, k, ta)], [...bb, ...stored(k, n, tb)], ta, tb, rng, 8);
      }
    });
  }
});

describe('fused bias and activation epilogue (raw.matmulRaw)', () => {
  const rng = new Rng(73);
  for (const act of ['none', 'relu', 'silu'] as const) {
    it(`bias + ${act}, 2-D and batched, transposed B (a Linear weight)`, async () => {
      for (const [batch, m, k, n] of [[[], 70, 19, 66], [[3], 5, 33, 7], [[], 1, 1, 1]] as [number[], number, number, number][]) {
        const sa = [...batch, m, k];
        const sb = [n, k];
        const a = rng.array(size(sa));
        const b = rng.array(size(sb));
        const bias = rng.array(n);
        const { tol } = bounds(a, sa, b, sb, false, true);
        const f = act === 'relu' ? UNARY_REF.relu : act === 'silu' ? UNARY_REF.silu : (v: number) => v;
        await checkOp({
          name: `matmul+bias+${act} [${sa}]·[${sb}]ᵀ`,
          inputs: [{ shape: sa, data: a }, { shape: sb, data: b }, { shape: [n], data: bias }],
          gpu: (x, w, c) => raw.matmulRaw(x, w, { transB: true, bias: c, act }),
          ref: (x, w, c) => {
            const y = matmulRef(x, sa, w, sb, false, true).data;
            return y.map((v, i) => f(v + c[i % n]));
          },
          // the dot-product bound, grown by the bias add (1 ulp, |bias| ≤ 5) and silu (≈ 64·EPS relative)
          tol: { rtol: 70 * EPS, atol: tol.atol * 1.1 + 10 * EPS },
          skipGrad: true,
        });
      }
    });
  }
  it('rejects a bias of the wrong length', () => {
    tidy(() => expect(() => raw.matmulRaw(tensor([1, 2], [1, 2]), tensor([1, 2], [2, 1]), { bias: tensor([1, 2]) })).toThrow(/bias must be \[1\]/));
  });
});

describe('linear (y = x·Wᵀ + b)', () => {
  const rng = new Rng(74);
  for (const [lead, fin, fout, withBias] of [
    [[32], 3, 16, true],
    [[65], 17, 2, true],
    [[2, 3], 5, 4, true], // leading batch dimensions
    [[7], 4, 3, false],
    [[], 6, 5, true], // a single vector
  ] as [number[], number, number, boolean][]) {
    it(`x [${[...lead, fin]}] → ${fout}${withBias ? '' : ' (no bias)'}`, async () => {
      const sx = [...lead, fin];
      const x = rng.array(size(sx));
      const w = rng.array(fout * fin);
      const b = rng.array(fout);
      const rows = size(lead);
      const ref = (xx: Float64Array, ww: Float64Array, bb?: Float64Array) => {
        const y = matmulRef(xx, [rows, fin], ww, [fout, fin], false, true).data;
        return bb ? y.map((v, i) => v + bb[i % fout]) : y;
      };
      const { tol, gradTol } = bounds(x, [rows, fin], w, [fout, fin], false, true);
      await checkOp({
        name: `linear [${sx}] → ${fout}`,
        inputs: withBias
          ? [{ shape: sx, data: x }, { shape: [fout, fin], data: w }, { shape: [fout], data: b }]
          : [{ shape: sx, data: x }, { shape: [fout, fin], data: w }],
        gpu: (xx, ww, bb) => {
          const y = linear(xx, ww, bb);
          expect(y.shape).toEqual([...lead, fout]);
          return y;
        },
        ref,
        tol: { rtol: 4 * EPS, atol: tol.atol + 10 * EPS },
        // the bias gradient sums `rows` upstream values: 2·EPS·rows·5
        gradTol: { rtol: 4 * EPS, atol: gradTol.atol + 10 * EPS * rows },
        h: 1,
        fdSamples: 16,
      }, rng);
    });
  }
});

