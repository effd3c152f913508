/**
 * Softmax, log-softmax, cross-entropy and the fused MSE loss: forward against float64, backward
 * against float64 central differences, including logits of ±80 (where a softmax without the max
 * subtracted overflows f32: e^80 > 3.4e38).
 *
 * Error bounds (EPS = 2⁻²⁴; R = the largest |x − rowmax|, C = row length):
 * - softmax: exp(x − m) within 3 + 2R ulp (WGSL), the row sum adds C·EPS, the division 2.5 ulp:
 *   rtol (11 + 4R)·EPS + C·EPS; entries below 2⁻¹²⁶ may be flushed to zero (atol 2⁻¹²⁶).
 * - log-softmax: x − m − log s, each rounding ≤ EPS·(|x − m| + |log s|), log s within 2⁻²¹
 *   absolute (WGSL, s near 1) or 3 ulp: atol 2⁻²¹ + 4·EPS·(R + log C), rtol 4·EPS.
 * - their gradients: s·(g − Σg·s) and g − e^{ls}·Σg cancel, so the error is absolute:
 *   ≲ (the forward bound + C·EPS)·Σ|g| per row.
 * - cross-entropy: the mean of N log-softmax values: the log-softmax atol, plus the sum's 2·EPS.
 * - MSE: d = p − t is correctly rounded, d² and d²/n add 2 ulp, the workgroup tree sum (8 levels)
 *   and the compensated sum of the partials add ≤ 10·EPS·Σd²/n: rtol 16·EPS. The gradient
 *   2d/n is ≤ 3 roundings: rtol 8·EPS.
 */
import { describe, expect, it } from 'vitest';
import { backward, crossEntropy, gpu, logSoftmax, mseLoss, noGrad, param, softmax, tensor, tidy } from '../src/internal.js';
import { checkOp, expectClose, Rng, useGpu } from './helpers.js';
import { crossEntropyRef, EPS, size, softmaxRef } from './reference.js';

useGpu();

function rowRange(x: Float64Array, cols: number): number {
  let r = 0;
  for (let o = 0; o < x.length; o += cols) {
    const row = x.subarray(o, o + cols);
    r = Math.max(r, Math.max(...row) - Math.min(...row));
  }
  return r;
}

describe('softmax and log-softmax over the last axis', () => {
  const rng = new Rng(61);
  const shapes = [[1], [5], [3, 1], [4, 7], [2, 3, 10], [9, 33], [2, 2, 2, 5]];
  const gens: [string, () => number][] = [
    ['N(0,1)', () => rng.normal()],
    ['±80', () => rng.uniform(-80, 80)],
  ];

  for (const [gname, gen] of gens) {
    it(`softmax, ${gname} logits: forward and backward`, async () => {
      for (const shape of shapes) {
        const cols = shape[shape.length - 1];
        const x = rng.array(size(shape), gen);
        const R = rowRange(x, cols);
        const rtol = (11 + 4 * R) * EPS + cols * EPS;
        await checkOp({
          name: `softmax ${gname} [${shape}]`,
          inputs: [{ shape, data: x }],
          gpu: softmax,
          ref: (t) => softmaxRef(t, cols, false),
          tol: { rtol, atol: 2 ** -126 },
          gradTol: { rtol, atol: (rtol + cols * EPS) * 5 * cols + 1e-12 },
          h: 1e-6,
          fdSamples: 16,
        }, rng);
      }
    });

    it(`log-softmax, ${gname} logits: forward and backward`, async () => {
      for (const shape of shapes) {
        const cols = shape[shape.length - 1];
        const x = rng.array(size(shape), gen);
        const R = rowRange(x, cols);
        const atol = 2 ** -21 + 4 * EPS * (R + Math.log(cols));
        const rtolExp = (11 + 4 * R) * EPS;
        await checkOp({
          name: `log_softmax ${gname} [${shape}]`,
          inputs: [{ shape, data: x }],
          gpu: logSoftmax,
          ref: (t) => softmaxRef(t, cols, true),
          tol: { rtol: 4 * EPS, atol },
          gradTol: { rtol: 4 * EPS, atol: (rtolExp + cols * EPS) * 5 * cols + 1e-12 },
          h: 1e-6,
          fdSamples: 16,
        }, rng);
      }
    });
  }

  it('rows of huge logits stay finite and sum to 1', async () => {
    const x = [80, -80, 79, 0, 1000, 999, -1000, 0, -80, -80, -80, -80];
    const [s, ls] = tidy(() => {
      const t = tensor(x, [3, 4]);
      return [softmax(t), logSoftmax(t)];
    });
    const sd = await s.data();
    const lsd = await ls.data();
    for (const v of [...sd, ...lsd]) expect(Number.isFinite(v)).toBe(true);
    for (let r = 0; r < 3; r++) expectClose([sd[r * 4] + sd[r * 4 + 1] + sd[r * 4 + 2] + sd[r * 4 + 3]], [1], { rtol: 0, atol: 8 * EPS }, 'row sum');
    expectClose(sd, softmaxRef(x, 4, false), { rtol: 64 * EPS, atol: 2 ** -126 }, 'softmax of huge logits');
    // log-softmax error is absolute, ≤ 4·EPS·|x − m| ≈ 4·EPS·2000
    expectClose(lsd, softmaxRef(x, 4, true), { rtol: 4 * EPS, atol: 2 ** -21 + 4 * EPS * 2000 }, 'log-softmax of huge logits');
    s.dispose();
    ls.dispose();
  });
});

describe('cross-entropy', () => {
  const rng = new Rng(62);

  for (const scale of [1, 80]) {
    it(`matches float64 on logits of scale ${scale}, gradient (softmax − onehot)/N`, async () => {
      for (const [n, c] of [[1, 1], [1, 5], [7, 3], [32, 10], [5, 67]]) {
        const labels = Array.from({ length: n }, () => rng.int(0, c - 1));
        const x = rng.array(n * c, () => scale * rng.uniform(-1, 1));
        const R = rowRange(x, c);
        const atol = 2 ** -21 + 4 * EPS * (R + Math.log(c)) + 2 * EPS * (R + 1);
        await checkOp({
          name: `cross_entropy [${n},${c}] scale ${scale}`,
          inputs: [{ shape: [n, c], data: x }],
          gpu: (t) => crossEntropy(t, tensor(labels, [n], 'i32')),
          ref: (t) => Float64Array.of(crossEntropyRef(t, labels, c)),
          tol: { rtol: 4 * EPS, atol },
          // per element (s − onehot)·g/N: the softmax bound; g is one upstream scalar
          gradTol: { rtol: (11 + 4 * R) * EPS + c * EPS, atol: ((11 + 4 * R) * EPS + 2 * c * EPS) * 5 + 1e-12 },
          h: 1e-6,
          fdSamples: 24,
        }, rng);
      }
    });
  }

  it('rejects mismatched shapes', () => {
    tidy(() => {
      expect(() => crossEntropy(tensor([1, 2, 3, 4], [2, 2]), tensor([0, 1, 0], [3], 'i32'))).toThrow(/logits must be \[N, C\]/);
    });
  });
});

describe('MSE loss (fused forward and backward)', () => {
  const rng = new Rng(63);

  it('forward and gradients for prediction and target, sizes across workgroups and grid-stride passes', async () => {
    // min(64, ⌈n/4096⌉) workgroups of 256 threads: every size above 256 takes several grid-stride passes
    for (const shape of [[1], [37], [256], [257, 1], [3, 300], [4, 2, 129], [1000, 2], [129, 300]]) {
      const n = size(shape);
      await checkOp({
        name: `mse [${shape}]`,
        inputs: [
          { shape, data: rng.array(n) },
          { shape, data: rng.array(n) },
        ],
        gpu: (p, t) => mseLoss(p, t),
        ref: (p, t) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += (p[i] - t[i]) ** 2;
          return Float64Array.of(s / n);
        },
        tol: { rtol: 16 * EPS, atol: 0 },
        gradTol: { rtol: 8 * EPS, atol: 1e-12 },
        h: 1, // the loss is quadratic: central differences are exact for any h, and a large h keeps float64 noise out
        fdSamples: 24,
      }, rng);
    }
  });

  it('scales its gradient by the upstream gradient', async () => {
    const p = param(tensor([1, 2, 3, 4]));
    const t = tensor([0, 0, 0, 1]);
    tidy(() => backward(mseLoss(p, t), tensor([3], [])));
    // 3 · 2(p − t)/4
    expect([...(await p.grad!.data())]).toEqual([1.5, 3, 4.5, 4.5]);
    p.grad!.dispose();
    p.dispose();
    t.dispose();
  });

  it('without gradients it keeps no buffer', async () => {
    const p = tensor([1, 2, 3]);
    const t = tensor([1, 1, 1]);
    const before = gpu().stats.buffersInUse;
    const loss = noGrad(() => mseLoss(p, t));
    expect(await loss.item()).toBeCloseTo(5 / 3, 6);
    loss.dispose();
    expect(gpu().stats.buffersInUse).toBe(before);
    p.dispose();
    t.dispose();
  });

  it('rejects mismatched shapes', () => {
    tidy(() => expect(() => mseLoss(tensor([1, 2, 3]), tensor([1, 2, 3], [3, 1]))).toThrow(/must have the same shape/));
  });
});
