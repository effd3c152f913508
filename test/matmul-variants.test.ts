/**
 * The aligned matmul kernels (src/tensor/matmul.ts): each forced variant against float64, on sizes
 * where the aligned block and the general kernel's edge strips both appear, for every transpose
 * combination, with the bias + activation epilogue and a batch. test/matmul.test.ts checks the
 * general kernel (and whatever the automatic choice picks for its sizes).
 *
 * Error bound (as in matmul.test.ts): an f32 dot product of length k in any order, with or without
 * FMA, is within k·EPS·Σ_p|a_p·b_p| of the exact value; we take the largest Σ|a||b| of the output as
 * the scale, plus one rounding of the bias add and silu's ≈64·EPS relative error where fused. A kernel
 * that drops, duplicates or misplaces one product of N(0,1) values is off by ~0.5, far outside it;
 * poisoned outputs (NaN) catch any element neither kernel writes.
 *
 * The sg8 variant needs an adapter with 8-lane subgroups (lavapipe has them); elsewhere the plan
 * falls back to the general kernel, which the test asserts instead, so it checks what runs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { raw, tensor, tidy } from '../src/internal.js';
import { planMatmul, setMatmulVariant, type MatmulVariant } from '../src/tensor/matmul.js';
import { expectClose, Rng, useGpu } from './helpers.js';
import { EPS, matmulRef, size, UNARY_REF } from './reference.js';

const env = useGpu();

afterEach(() => setMatmulVariant('auto'));

interface Case {
  m: number;
  k: number;
  n: number;
  ta: boolean;
  tb: boolean;
  batch?: number;
  act?: 'none' | 'relu' | 'silu';
  bias?: boolean;
}

async function check(variant: MatmulVariant, c: Case, rng: Rng): Promise<void> {
  setMatmulVariant(variant);
  const nb = c.batch ?? 1;
  const sa = [...(c.batch ? [nb] : []), ...(c.ta ? [c.k, c.m] : [c.m, c.k])];
  const sb = [...(c.batch ? [nb] : []), ...(c.tb ? [c.n, c.k] : [c.k, c.n])];
  const a = rng.array(size(sa));
  const b = rng.array(size(sb));
  const bias = c.bias ? rng.array(c.n) : null;
  const act = c.act ?? 'none';
  const f = act === 'relu' ? UNARY_REF.relu : act === 'silu' ? UNARY_REF.silu : (v: number) => v;
  const ref = matmulRef(a, sa, b, sb, c.ta, c.tb).data;
  const scale = matmulRef(a.map(Math.abs), sa, b.map(Math.abs), sb, c.ta, c.tb).data.reduce((x, y) => Math.max(x, y), 0);
  const want = ref.map((v, i) => f(v + (bias ? bias[i % c.n] : 0)));
  const plan = planMatmul({ m: c.m, n: c.n, k: c.k, nb, transA: c.ta, transB: c.tb });
  const expected = variant === 'sg8' && !env.gpu().traits.subgroup8 ? 'general' : variant;
  expect(plan.variant, 'the forced variant applies to this size').toBe(expected);
  const got = await tidy(() =>
    raw.matmulRaw(tensor(a, sa), tensor(b, sb), {
      transA: c.ta,
      transB: c.tb,
      bias: bias ? tensor(bias, [c.n]) : undefined,
      act,
    }),
  ).f32();
  const atol = c.k * EPS * scale + (bias ? 5 * EPS * 5 : 0);
  expectClose(got, want, { rtol: act === 'silu' ? 64 * EPS : 2 * EPS, atol }, `${variant} ${JSON.stringify(c)}`);
}

describe('sg8 matmul (8-lane subgroups, CPU drivers)', () => {
  const rng = new Rng(801);
  it('blocks of 32 rows × 32 columns with edge strips, all four transpose combinations', async () => {
    // 68 = 64 + 4 rows of edge, 136 = 128 + 8 columns of edge (one vec4 column group per lane)
    for (const ta of [false, true]) for (const tb of [false, true]) await check('sg8', { m: 68, k: 24, n: 136, ta, tb }, rng);
  });
  it('blocks of 32 × 64 (two column groups per lane), batched, with bias and silu fused', async () => {
    await check('sg8', { m: 64, k: 16, n: 128, ta: false, tb: true, batch: 2, bias: true, act: 'silu' }, rng);
  });
  it('falls back to the general kernel where K is not a multiple of 8', () => {
    setMatmulVariant('sg8');
    expect(planMatmul({ m: 64, n: 64, k: 12, nb: 1, transA: false, transB: false }).variant).toBe('general');
  });
});

// small: one output per thread; skinny: an 8×4 block per thread (70 = 8·8 + 6 rows and 67 = 16·4 + 3
// columns leave partial blocks at both edges; n = 2 leaves half of every block unused)
for (const [variant, seed] of [['small', 803], ['skinny', 804]] as const) {
  describe(`${variant} matmul (skinny products on CPU drivers; checked here on any adapter)`, () => {
    const rng = new Rng(seed);
    it('all four transpose combinations, a 2-wide output and a 3-deep K', async () => {
      for (const ta of [false, true])
        for (const tb of [false, true]) {
          await check(variant, { m: 70, k: 33, n: 2, ta, tb }, rng);
          await check(variant, { m: 45, k: 3, n: 67, ta, tb }, rng);
        }
    });
    it('batched, with bias and silu fused, and one row with relu', async () => {
      await check(variant, { m: 9, k: 20, n: 3, ta: false, tb: true, batch: 3, bias: true, act: 'silu' }, rng);
      await check(variant, { m: 1, k: 5, n: 6, ta: true, tb: false, bias: true, act: 'relu' }, rng);
    });
  });
}

describe('tiled matmul (GPUs; checked here on whatever adapter runs the tests)', () => {
  const rng = new Rng(802);
  it('128 × 128 tiles with edge strips, all four transpose combinations', async () => {
    for (const ta of [false, true]) for (const tb of [false, true]) await check('tiled', { m: 136, k: 16, n: 260, ta, tb }, rng);
  });
  it('batched, with bias and relu fused', async () => {
    await check('tiled', { m: 128, k: 8, n: 128, ta: false, tb: true, batch: 2, bias: true, act: 'relu' }, rng);
  });
});
