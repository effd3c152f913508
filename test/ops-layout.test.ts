/**
 * Layout ops: reshape, permute/transpose, broadcast_to, concat, slice, gather rows (embedding
 * lookup) and one-hot, forward against float64 index arithmetic and backward against central
 * differences.
 *
 * Error bounds: every forward here moves values without arithmetic, so it must be exact
 * (tolerance 0). Backward rules are exact copies too (reshape, permute, slice, concat) except where
 * gradients of repeated reads add up: broadcast_to (compensated sum over the broadcast
 * dimensions) and gather rows with repeated indices (a plain f32 loop over the N rows), both within
 * 2·EPS·fanIn·max|g| (EPS = 2⁻²⁴; |g| < 5 for the N(0,1) upstream gradient). Layout ops are
 * linear, so central differences are exact for any step; h = 1 keeps float64 noise below 1e-12.
 */
import { describe, expect, it } from 'vitest';
import {
  broadcastTo, concat, gatherRows, permute, raw, reshape, slice, tensor, tidy, transpose, mul, sum, backward, param,
  FlowGpuError,
} from '../src/internal.js';
import { checkOp, Rng, useGpu } from './helpers.js';
import { broadcastRef, concatRef, EPS, permuteRef, size, sliceRef } from './reference.js';

useGpu();

const EXACT = { rtol: 0, atol: 0 };
const EXACT_GRAD = { rtol: 0, atol: 1e-12 };

describe('reshape', () => {
  it('shares values, infers −1, and passes gradients through unchanged', async () => {
    const rng = new Rng(1);
    for (const [from, to] of [
      [[2, 3, 4], [4, -1]],
      [[6], [1, 2, 1, 3]],
      [[5, 1], [5]],
      [[], [1, 1]],
      [[3, 5], [15]],
    ] as number[][][]) {
      await checkOp({
        name: `reshape [${from}] → [${to}]`,
        inputs: [{ shape: from, data: rng.array(size(from)) }],
        gpu: (x) => reshape(x, to),
        ref: (x) => x.slice(),
        tol: EXACT,
        gradTol: EXACT_GRAD,
        h: 1,
      }, rng);
    }
    tidy(() => {
      expect(reshape(tensor([1, 2, 3, 4, 5, 6]), [3, -1]).shape).toEqual([3, 2]);
      expect(() => reshape(tensor([1, 2, 3, 4, 5, 6]), [4, -1])).toThrow(FlowGpuError);
      expect(() => reshape(tensor([1, 2, 3, 4, 5, 6]), [-1, -1])).toThrow(/at most one -1/);
      expect(() => reshape(tensor([1, 2, 3, 4, 5, 6]), [4, 2])).toThrow(/cannot view/);
    });
  });
});

/** permute against the float64 reference; its gradient is the inverse permutation, exactly. */
async function checkPermute(shape: number[], perm: number[], rng: Rng, fdSamples: number): Promise<void> {
  await checkOp({
    name: `permute [${shape}] by [${perm}]`,
    inputs: [{ shape, data: rng.array(size(shape)) }],
    gpu: (x) => permute(x, perm),
    ref: (x) => permuteRef(x, shape, perm),
    tol: EXACT,
    gradTol: EXACT_GRAD,
    h: 1,
    fdSamples,
  }, rng);
}

describe('permute and transpose', () => {
  const rng = new Rng(2);
  const allPerms = (n: number): number[][] =>
    n === 0 ? [[]] : allPerms(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));

  it('every permutation of a rank-4 tensor with odd and size-1 dimensions', async () => {
    const perms = allPerms(4);
    expect(perms.length).toBe(24);
    for (const perm of perms) await checkPermute([3, 1, 5, 2], perm, rng, 8);
  });

  it('random shapes of rank 0–4, and transpose of chosen axes', async () => {
    for (let t = 0; t < 8; t++) {
      const r = t % 5;
      const shape = rng.shape(r, 1, 7);
      await checkPermute(shape, [...Array(r).keys()].sort(() => rng.uniform() - 0.5), rng, 12);
    }
    for (const [shape, a, b, perm] of [
      [[4, 7], -2, -1, [1, 0]],
      [[2, 3, 5], undefined, undefined, [0, 2, 1]],
      [[2, 3, 5, 4], 0, 2, [2, 1, 0, 3]],
      [[2, 3, 5, 4], -1, 1, [0, 3, 2, 1]],
    ] as [number[], number | undefined, number | undefined, number[]][]) {
      await checkOp({
        name: `transpose [${shape}] ${a},${b}`,
        inputs: [{ shape, data: rng.array(size(shape)) }],
        gpu: (x) => (a === undefined ? transpose(x) : transpose(x, a, b)),
        ref: (x) => permuteRef(x, shape, perm),
        tol: EXACT,
        gradTol: EXACT_GRAD,
        h: 1,
        fdSamples: 12,
      }, rng);
    }
    tidy(() => expect(() => permute(tensor([1, 2, 3, 4], [2, 2]), [0, 0])).toThrow(/not a permutation/));
  });
});

describe('contiguous rows (strided_copy_rows: a thread per 32-element segment of a row)', () => {
  it('permute, slice and concat with inner rows of 8, 37 and 65 elements (whole and partial segments)', async () => {
    const rng = new Rng(11);
    for (const [shape, perm] of [[[3, 5, 37], [1, 0, 2]], [[2, 3, 4, 8], [2, 0, 1, 3]], [[4, 65], [0, 1]]]) {
      await checkPermute(shape, perm, rng, 8);
    }
    const shape = [3, 70];
    await checkOp({
      name: 'slice [3, 70] [1:3, 3:68]',
      inputs: [{ shape, data: rng.array(size(shape)) }],
      gpu: (x) => slice(x, [1, 3], [3, 68]),
      ref: (x) => sliceRef(x, shape, [1, 3], [3, 68]),
      tol: EXACT,
      gradTol: EXACT_GRAD,
      h: 1,
      fdSamples: 8,
    }, rng);
    const shapes = [[2, 3, 40], [2, 2, 40]];
    await checkOp({
      name: 'concat [2, 3, 40] [2, 2, 40] axis 1',
      inputs: shapes.map((sh) => ({ shape: sh, data: rng.array(size(sh)) })),
      gpu: (...xs) => concat(xs, 1),
      ref: (...xs) => concatRef(xs, shapes, 1),
      tol: EXACT,
      gradTol: EXACT_GRAD,
      h: 1,
      fdSamples: 8,
    }, rng);
  });
});

describe('broadcast_to', () => {
  it('repeats along new and size-1 dimensions; the gradient sums them back', async () => {
    const rng = new Rng(3);
    for (const [from, to] of [
      [[3, 1], [2, 3, 4]],
      [[], [2, 3]],
      [[1], [5]],
      [[1, 4, 1], [3, 4, 5]],
      [[2, 1, 3, 1], [2, 4, 3, 5]],
      [[3], [3]],
    ] as number[][][]) {
      const fan = size(to) / size(from);
      await checkOp({
        name: `broadcast_to [${from}] → [${to}]`,
        inputs: [{ shape: from, data: rng.array(size(from)) }],
        gpu: (x) => broadcastTo(x, to),
        ref: (x) => broadcastRef(x, from, to),
        tol: EXACT,
        gradTol: { rtol: 2 * EPS, atol: 2 * EPS * fan * 5 + 1e-12 },
        h: 1,
      }, rng);
    }
    tidy(() => {
      expect(() => broadcastTo(tensor([1, 2, 3]), [3, 2])).toThrow(FlowGpuError);
      expect(() => broadcastTo(tensor([1, 2, 3, 4, 5, 6], [2, 3]), [3])).toThrow(/cannot be broadcast/);
    });
  });
});

describe('concat and slice', () => {
  const rng = new Rng(4);

  it('concat along first, middle and last axes (and negative), gradients split back', async () => {
    for (const [shapes, axis] of [
      [[[2, 3, 4], [2, 1, 4], [2, 5, 4]], 1],
      [[[2, 3, 4], [2, 3, 1]], -1],
      [[[1, 3, 4], [3, 3, 4]], 0],
      [[[7], [1], [2]], 0],
      [[[2, 3, 2, 5], [2, 3, 3, 5], [2, 3, 1, 5]], 2],
      [[[3, 4]], 1], // a single piece: a copy
    ] as [number[][], number][]) {
      const ax = axis < 0 ? axis + shapes[0].length : axis;
      await checkOp({
        name: `concat ${shapes.map((s) => `[${s}]`).join(' ')} axis ${axis}`,
        inputs: shapes.map((shape) => ({ shape, data: rng.array(size(shape)) })),
        gpu: (...xs) => concat(xs, axis),
        ref: (...xs) => concatRef(xs, shapes, ax),
        tol: EXACT,
        gradTol: EXACT_GRAD,
        h: 1,
        fdSamples: 12,
      }, rng);
    }
    tidy(() => expect(() => concat([tensor([1, 2], [1, 2]), tensor([1, 2, 3], [1, 3])], 0)).toThrow(/differ off that axis/));
  });

  it('concat where only some pieces need a gradient', async () => {
    await checkOp({
      name: 'concat with a constant piece',
      inputs: [
        { shape: [2, 3], data: rng.array(6) },
        { shape: [2, 2], data: rng.array(4), grad: false },
        { shape: [2, 1], data: rng.array(2) },
      ],
      gpu: (...xs) => concat(xs, 1),
      ref: (...xs) => concatRef(xs, [[2, 3], [2, 2], [2, 1]], 1),
      tol: EXACT,
      gradTol: EXACT_GRAD,
      h: 1,
    }, rng);
  });

  it('slice along middle axes, partial bounds; the gradient is embedded in zeros', async () => {
    for (const [shape, starts, ends] of [
      [[4, 7, 5], [1, 2, 0], [3, 6, 5]],
      [[4, 7, 5], [0, 3], [4, 4]], // trailing axis taken whole
      [[9], [4], [9]],
      [[2, 5, 3, 6], [1, 1, 1, 2], [2, 4, 2, 5]],
      [[3, 3], [0, 0], [3, 3]], // whole
    ] as number[][][]) {
      await checkOp({
        name: `slice [${shape}] [${starts}:${ends}]`,
        inputs: [{ shape, data: rng.array(size(shape)) }],
        gpu: (x) => slice(x, starts, ends),
        ref: (x) => sliceRef(x, shape, starts, ends),
        tol: EXACT,
        gradTol: EXACT_GRAD,
        h: 1,
        fdSamples: 24,
      }, rng);
    }
    tidy(() => {
      expect(() => slice(tensor([1, 2, 3, 4], [2, 2]), [0, 1], [2, 3])).toThrow(/out of range for axis 1/);
      expect(() => slice(tensor([1, 2, 3, 4], [2, 2]), [1], [0])).toThrow(FlowGpuError);
    });
  });

  it('layout ops carry i32 tensors (labels) bit for bit', async () => {
    const labels = [0, -1, 7, 2147483647, -2147483648, 3];
    const out = tidy(() => {
      const t = tensor(labels, [2, 3], 'i32');
      return [
        raw.sliceRaw(t, [0, 1], [2, 3]),
        raw.permuteRaw(t, [1, 0]),
        raw.concatRaw([t, t], 0),
        raw.broadcastToRaw(raw.sliceRaw(t, [0, 0], [1, 3]), [2, 3]),
      ];
    });
    const [s, p, c, b] = await Promise.all(out.map((t) => t.data()));
    expect(out.every((t) => t.dtype === 'i32')).toBe(true);
    expect([...s]).toEqual([-1, 7, -2147483648, 3]);
    expect([...p]).toEqual([0, 2147483647, -1, -2147483648, 7, 3]);
    expect([...c]).toEqual([...labels, ...labels]);
    expect([...b]).toEqual([0, -1, 7, 0, -1, 7]);
    out.forEach((t) => t.dispose());
  });
});

describe('gather rows (embedding lookup)', () => {
  const rng = new Rng(5);

  it('repeated indices: forward copies rows, backward sums them per table row', async () => {
    for (const [v, d, idx] of [
      [7, 5, [3, 0, 3, 6, 3, 1, 0, 6, 6, 2, 3, 3]],
      [1, 3, [0, 0, 0]],
      [10, 1, [9, 0, 9]],
      [4, 67, [2, 2, 1]],
    ] as [number, number, number[]][]) {
      const counts = new Map<number, number>();
      idx.forEach((i) => counts.set(i, (counts.get(i) ?? 0) + 1));
      const fan = Math.max(...counts.values());
      await checkOp({
        name: `gather_rows [${v},${d}] idx [${idx}]`,
        inputs: [{ shape: [v, d], data: rng.array(v * d) }],
        gpu: (table) => gatherRows(table, tensor(idx, [idx.length], 'i32')),
        ref: (table) => {
          const y = new Float64Array(idx.length * d);
          idx.forEach((k, n) => y.set(table.subarray(k * d, (k + 1) * d), n * d));
          return y;
        },
        tol: EXACT,
        gradTol: { rtol: 2 * EPS, atol: 2 * EPS * fan * 5 + 1e-12 },
        h: 1,
        fdSamples: 40,
      }, rng);
    }
  });

  it('rows never read get a zero gradient, not garbage', async () => {
    const table = param(tensor(Array.from({ length: 12 }, (_, i) => i), [6, 2]));
    tidy(() => backward(sum(mul(gatherRows(table, tensor([4, 1, 4], [3], 'i32')), tensor([1, 2, 3, 4, 5, 6], [3, 2])))));
    expect([...(await table.grad!.data())]).toEqual([0, 0, 3, 4, 0, 0, 0, 0, 6, 8, 0, 0]);
    table.grad!.dispose();
    table.dispose();
  });

  it('an index outside the table gives a NaN row (a bad label shows up)', async () => {
    const y = tidy(() => gatherRows(tensor([1, 2, 3, 4], [2, 2]), tensor([1, 2, -1], [3], 'i32')));
    const d = await y.data();
    expect([d[0], d[1]]).toEqual([3, 4]);
    expect([...d.slice(2)].every(Number.isNaN)).toBe(true);
    y.dispose();
    tidy(() => expect(() => gatherRows(tensor([1, 2, 3, 4], [2, 2]), tensor([0, 1]))).toThrow(/i32 indices/));
  });
});

describe('one-hot', () => {
  it('is exact; indices outside 0..C−1 give zero rows', async () => {
    const y = tidy(() => raw.oneHot(tensor([2, 0, 4, -1, 1], [5], 'i32'), 4));
    const d = [...(await y.data())];
    // prettier-ignore
    expect(d).toEqual([
      0, 0, 1, 0,
      1, 0, 0, 0,
      0, 0, 0, 0,
      0, 0, 0, 0,
      0, 1, 0, 0,
    ]);
    y.dispose();
  });
});

