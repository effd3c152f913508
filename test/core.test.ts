import { describe, expect, it } from 'vitest';
import { add, matmul, mul, sum, tensor, tidy, backward, param, FlowGpuError } from '../src/internal.js';
import { checkOp, Rng, size, useGpu } from './helpers.js';

const { gpu } = useGpu();

function refMatmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number, ta: boolean, tb: boolean) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = s;
    }
  return c;
}

describe('core', () => {
  it('reports the adapter', () => {
    expect(gpu().info.vendor.length + gpu().info.device.length).toBeGreaterThan(0);
  });

  it('add broadcasts like NumPy, forward and backward', async () => {
    const rng = new Rng(1);
    for (const [sa, sb] of [[[3, 1, 5], [4, 1]], [[7], [2, 3, 7]], [[2, 3], [2, 3]]] as number[][][]) {
      const out = sa.length >= sb.length ? sa.map((d, i) => Math.max(d, sb[i - (sa.length - sb.length)] ?? 1)) : [];
      void out;
      await checkOp({
        name: `add ${sa}+${sb}`,
        inputs: [{ shape: sa, data: rng.array(size(sa)) }, { shape: sb, data: rng.array(size(sb)) }],
        gpu: (a, b) => add(a, b),
        ref: (a, b) => {
          const r = Math.max(sa.length, sb.length);
          const pa = [...Array(r - sa.length).fill(1), ...sa];
          const pb = [...Array(r - sb.length).fill(1), ...sb];
          const so = pa.map((d, i) => Math.max(d, pb[i]));
          const o = new Float64Array(size(so));
          for (let i = 0; i < o.length; i++) {
            let rem = i, ia = 0, ib = 0, stA = 1, stB = 1;
            for (let d = r - 1; d >= 0; d--) {
              const q = rem % so[d];
              rem = Math.floor(rem / so[d]);
              ia += (pa[d] === 1 ? 0 : q) * stA;
              ib += (pb[d] === 1 ? 0 : q) * stB;
              stA *= pa[d];
              stB *= pb[d];
            }
            o[i] = a[ia] + b[ib];
          }
          return o;
        },
        tol: { rtol: 1e-6, atol: 1e-7 },
      });
    }
  });

  it('matmul matches float64 across tile boundaries and transposes', async () => {
    const rng = new Rng(2);
    for (const [m, k, n] of [[1, 1, 1], [65, 17, 63], [3, 130, 70], [64, 64, 64]]) {
      for (const ta of [false, true])
        for (const tb of [false, true]) {
          const sa = ta ? [k, m] : [m, k];
          const sb = tb ? [n, k] : [k, n];
          await checkOp({
            name: `matmul ${m}x${k}x${n} ta=${ta} tb=${tb}`,
            inputs: [{ shape: sa, data: rng.array(m * k) }, { shape: sb, data: rng.array(k * n) }],
            gpu: (a, b) => matmul(a, b, { transA: ta, transB: tb }),
            ref: (a, b) => refMatmul(a, b, m, k, n, ta, tb),
            // f32 dot products of length k: |err| ≲ k·2⁻²⁴·Σ|a||b| ≈ 1e-7·k·√k for N(0,1) data
            tol: { rtol: 1e-5, atol: 2e-6 * k },
            gradTol: { rtol: 1e-4, atol: 2e-5 * Math.max(k, m, n) },
          });
        }
    }
  });

  it('gradients accumulate across uses of a tensor', async () => {
    const x = param(tensor([1, 2, 3]));
    tidy(() => backward(sum(add(mul(x, x), x)))); // d/dx (x² + x) = 2x + 1
    expect([...(await x.grad!.data())]).toEqual([3, 5, 7]);
    x.grad!.dispose();
    x.dispose();
  });

  it('a dispatch whose tensors do not match the kernel fails before reaching the GPU', () => {
    tidy(() => {
      expect(() => add(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(FlowGpuError);
      expect(() => add(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(/do not broadcast/);
      expect(() => matmul(tensor([1, 2, 3, 4], [2, 2]), tensor([1, 2, 3], [3, 1]))).toThrow(/inner dimensions differ/);
    });
  });
});
