import { describe, expect, it } from 'vitest';
import { FlowGpuError, tensor, tidy } from '../src/internal.js';
import { groupNorm } from '../src/autograd/norm.js';
import { checkOp, Rng, size, useGpu } from './helpers.js';
import { groupNormRef } from './reference.js';

useGpu();

describe('group_norm', () => {
  // [shape, groups]: several channels per group, one channel per group (instance norm), one group
  // (layer norm over C·H·W) with a run longer than the 256 threads of a workgroup, odd H/W, and an
  // input with a large common offset (the two-pass variance must not cancel).
  const cases: [number[], number, number][] = [
    [[2, 4, 3, 5], 2, 0],
    [[3, 6, 5, 5], 3, 0],
    [[1, 8, 7, 7], 8, 0],
    [[2, 4, 16, 20], 1, 0],
    [[2, 6, 3, 3], 2, 100],
  ];
  for (const [shape, groups, offset] of cases) {
    it(`x ${shape}, ${groups} groups${offset ? `, offset ${offset}` : ''}: forward and backward vs float64`, async () => {
      const rng = new Rng(size(shape) + groups + offset);
      const c = shape[1];
      await checkOp({
        name: `group_norm ${shape} G=${groups}`,
        inputs: [
          { shape, data: rng.array(size(shape), () => offset + rng.normal()) },
          { shape: [c], data: rng.array(c, () => 1 + 0.5 * rng.normal()) },
          { shape: [c], data: rng.array(c) },
        ],
        gpu: (x, w, b) => groupNorm(x, groups, w, b),
        ref: (x, w, b) => groupNormRef(x, w, b, shape, groups, 1e-5),
        // y = x̂·γ + β with x̂ = O(1): f32 mean/variance of ≤ 1280 values are good to ~1e-6 relative;
        // with offset 100 the input itself carries 100·2⁻²⁴ ≈ 6e-6 of rounding, amplified by rstd ≈ 1
        tol: { rtol: 1e-5, atol: offset ? 2e-4 : 2e-5 },
        // gradients are sums over the group of O(1) terms (≤ 1280 of them): a few 1e-5 absolute
        gradTol: { rtol: 1e-3, atol: offset ? 2e-3 : 2e-4 },
        // x ↦ x̂ is nonlinear: central differences have O(h²) truncation error, with h = 1e-4
        // (1e-4·|x| at offset 100) both that and the cancellation error stay below 1e-6
        h: offset ? 1e-6 : 1e-4,
        fdSamples: 24,
      });
    });
  }

  it('rejects channel counts not divisible by the groups', () => {
    tidy(() => {
      const x = tensor(new Float32Array(2 * 6 * 4), [2, 6, 2, 2]);
      const w = tensor(new Float32Array(6), [6]);
      expect(() => groupNorm(x, 4, w, w)).toThrow(FlowGpuError);
      expect(() => groupNorm(x, 4, w, w)).toThrow(/6 channels cannot be split into 4 groups/);
      expect(() => groupNorm(x, 3, tensor([1, 2]), w)).toThrow(/weight must be \[6\]/);
    });
  });
});
