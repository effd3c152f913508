import { describe, expect, it } from 'vitest';
import { FlowGpuError, tensor, tidy } from '../src/internal.js';
import { conv2d } from '../src/autograd/conv.js';
import { setConvColBytes } from '../src/tensor/conv.js';
import { Conv2d } from '../src/nn/conv.js';
import { HostRng } from '../src/nn/module.js';
import { checkOp, expectClose, Rng, size, useGpu } from './helpers.js';
import { conv2dRef } from './reference.js';

useGpu();

describe('conv2d', () => {
  // [x shape, weight shape, stride, padding]: odd sizes, both strides, 3×3 and 1×1, tiles crossed
  // (GEMM rows > 64, output channels > 64) and a weight-gradient reduction long enough to split.
  // [x shape, weight shape, stride, padding, im2col cap in bytes (split the batch) or 0]: odd sizes,
  // both strides, 3×3 and 1×1, output channels > 64, the batch split into chunks of one and two
  // samples, and the UNet's 64-channel 16×16 layer (large enough for the aligned matmul kernels).
  const cases: [number[], number[], number, number, number][] = [
    [[2, 3, 5, 7], [4, 3, 3, 3], 1, 1, 0],
    [[1, 2, 6, 5], [3, 2, 3, 3], 2, 1, 0],
    [[2, 3, 7, 7], [5, 3, 1, 1], 1, 0, 0],
    [[1, 4, 9, 6], [2, 4, 1, 1], 2, 0, 0],
    [[2, 2, 5, 5], [3, 2, 3, 3], 1, 0, 0],
    [[1, 3, 7, 5], [2, 3, 3, 3], 2, 0, 0],
    [[2, 5, 9, 8], [70, 5, 3, 3], 1, 1, 0],
    [[3, 2, 16, 16], [3, 2, 3, 3], 1, 1, 0],
    [[3, 3, 6, 5], [4, 3, 3, 3], 1, 1, 3 * 9 * 30 * 4],
    [[5, 2, 7, 7], [3, 2, 3, 3], 2, 1, 2 * 2 * 9 * 16 * 4],
    [[2, 64, 16, 16], [64, 64, 3, 3], 1, 1, 0],
  ];
  for (const [xs, ws, s, p, cap] of cases) {
    const big = ws[1] * ws[2] * ws[3] > 100;
    // (the 64-channel case once: its aligned matmul pipelines take seconds to compile on a CPU driver)
    for (const withBias of big ? [true] : [true, false]) {
      it(`x ${xs} w ${ws} stride ${s} pad ${p}${cap ? ` im2col ≤ ${cap} B` : ''}${withBias ? ' + bias' : ''}: forward and backward vs float64`, async () => {
        const rng = new Rng(size(xs) + 31 * size(ws) + s + 7 * p);
        const kdim = ws[1] * ws[2] * ws[3];
        const inputs = [
          { shape: xs, data: rng.array(size(xs)) },
          { shape: ws, data: rng.array(size(ws), () => rng.normal() / Math.sqrt(kdim)) },
        ];
        if (withBias) inputs.push({ shape: [ws[0]], data: rng.array(ws[0]) });
        setConvColBytes(cap || null);
        try {
          await checkOp({
            name: `conv2d ${xs} * ${ws} s${s} p${p}`,
            inputs,
            gpu: (x, w, b) => conv2d(x, w, b, { stride: s, padding: p }),
            ref: (x, w, b) => conv2dRef(x, w, b ?? null, xs, ws, s, p),
            // f32 dot products of length K = C_in·k² of O(1)-sum terms: |err| ≲ √K·2⁻²⁴·Σ|a·b|,
            // ≈ 1e-6 for K ≤ 45, ≈ 2e-5 for the 576-long products of the 64-channel layer
            tol: big ? { rtol: 1e-4, atol: 1e-4 } : { rtol: 1e-5, atol: 1e-5 },
            // the weight gradient sums N·OH·OW (up to 768) products of O(1) terms: ≈ 768·6e-8 ≈ 5e-5
            gradTol: { rtol: 1e-4, atol: 2e-4 },
            fdSamples: 24,
          });
        } finally {
          setConvColBytes(null);
        }
      });
    }
  }

  it('rejects mismatched shapes before dispatch', () => {
    tidy(() => {
      const x = tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
      expect(() => conv2d(x, tensor(new Float32Array(4 * 2 * 9), [4, 2, 3, 3]))).toThrow(FlowGpuError);
      expect(() => conv2d(x, tensor(new Float32Array(4 * 3 * 9), [4, 3, 3, 3]), tensor([1, 2]))).toThrow(/bias must be \[4\]/);
      expect(() => conv2d(x, tensor(new Float32Array(4 * 3 * 25), [4, 3, 5, 5]))).toThrow(/does not fit/);
      expect(() => conv2d(x.view([6, 4, 4]), tensor(new Float32Array(4 * 3 * 9), [4, 3, 3, 3]))).toThrow(/\[N, C, H, W\]/);
    });
  });

  it('the Conv2d module: PyTorch names, shapes and bounds, stride-2 forward with its own parameters', async () => {
    const m = new Conv2d(3, 5, 3, { stride: 2, padding: 1, rng: new HostRng(4) });
    expect(m.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([['weight', [5, 3, 3, 3]], ['bias', [5]]]);
    const w = Float64Array.from(await m.weight.f32());
    const b = Float64Array.from(await m.bias!.f32());
    const bound = 1 / Math.sqrt(27); // kaiming_uniform(a=√5) and the bias default: U(±1/√fan_in)
    expect(Math.max(...w.map(Math.abs), ...b.map(Math.abs))).toBeLessThanOrEqual(bound);
    const rng = new Rng(3);
    const xs = [2, 3, 7, 6];
    const x = rng.array(size(xs));
    const y = tidy(() => m.forward(tensor(Float32Array.from(x), xs)));
    expect(y.shape).toEqual([2, 5, 4, 3]);
    expectClose(await y.f32(), conv2dRef(x, w, b, xs, [5, 3, 3, 3], 2, 1), { rtol: 1e-5, atol: 1e-5 }, 'Conv2d module');
    y.dispose();
    m.dispose();
  });
});
