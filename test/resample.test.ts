import { describe, expect, it } from 'vitest';
import { FlowGpuError, tensor, tidy } from '../src/internal.js';
import { avgPool2x, upsample2x } from '../src/autograd/resample.js';
import { checkOp, Rng, size, useGpu } from './helpers.js';
import { avgPool2xRef, upsample2xRef } from './reference.js';

useGpu();

describe('resampling', () => {
  const shapes = [[1, 1, 1, 1], [2, 3, 4, 5], [1, 2, 7, 3], [3, 2, 14, 14]];
  for (const shape of shapes) {
    it(`nearest 2× up-sampling of ${shape}: forward and backward vs float64`, async () => {
      const rng = new Rng(size(shape));
      await checkOp({
        name: `upsample2x ${shape}`,
        inputs: [{ shape, data: rng.array(size(shape)) }],
        gpu: (x) => upsample2x(x),
        ref: (x) => upsample2xRef(x, shape),
        // a copy is exact; the backward adds 4 values (≤ 2 roundings of 2⁻²⁴ relative)
        tol: { rtol: 0, atol: 0 },
        gradTol: { rtol: 1e-6, atol: 1e-6 },
      });
    });
  }
  for (const shape of [[1, 1, 2, 2], [2, 3, 4, 6], [1, 2, 7, 5], [2, 2, 14, 14]]) {
    it(`2×2 average pooling of ${shape}: forward and backward vs float64`, async () => {
      const rng = new Rng(3 + size(shape));
      await checkOp({
        name: `avg_pool2x ${shape}`,
        inputs: [{ shape, data: rng.array(size(shape)) }],
        gpu: (x) => avgPool2x(x),
        ref: (x) => avgPool2xRef(x, shape),
        // a sum of 4 f32 values times ¼: ≤ 3 roundings; the backward is exact (a scaled copy, 0 in
        // a dropped odd row/column)
        tol: { rtol: 1e-6, atol: 1e-6 },
        gradTol: { rtol: 1e-6, atol: 1e-6 },
      });
    });
  }
  it('rejects inputs of the wrong rank or too small to pool', () => {
    tidy(() => {
      expect(() => upsample2x(tensor([1, 2, 3, 4], [2, 2]))).toThrow(FlowGpuError);
      expect(() => avgPool2x(tensor([1, 2], [1, 1, 1, 2]))).toThrow(/smaller than 2×2/);
    });
  });
});
