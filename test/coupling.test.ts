import { describe, expect, it } from 'vitest';
import {
  drawSource,
  exactOTCouple,
  exactOTPairing,
  FlowGpuError,
  linearSumAssignment,
  pairFromPlan,
  sinkhorn,
  sinkhornCouple,
  sinkhornPairing,
  squaredDistances,
  tensor,
  tidy,
  type Tensor,
} from '../src/internal.js';
import { Rng, useGpu } from './helpers.js';

useGpu();

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) for (let k = 0; k <= p.length; k++) out.push([...p.slice(0, k), n - 1, ...p.slice(k)]);
  return out;
}

/** All injective maps of n rows into m columns. */
function injections(n: number, m: number): number[][] {
  const out: number[][] = [];
  const cur: number[] = [];
  const used = new Array(m).fill(false);
  const rec = () => {
    if (cur.length === n) return void out.push([...cur]);
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = true;
      cur.push(j);
      rec();
      cur.pop();
      used[j] = false;
    }
  };
  rec();
  return out;
}

const total = (c: ArrayLike<number>, m: number, col: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < col.length; i++) s += c[i * m + col[i]];
  return s;
};

function sqDistCpu(a: ArrayLike<number>, b: ArrayLike<number>, n: number, m: number, d: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (a[i * d + k] - b[j * d + k]) ** 2;
      c[i * m + j] = s;
    }
  return c;
}

/** float64 log-domain Sinkhorn with the same update order and ε as kernels/sinkhorn.wgsl. */
function sinkhornCpu(c: Float64Array, n: number, m: number, reg: number, iters: number) {
  const eps = (reg * c.reduce((s, v) => s + v, 0)) / (n * m);
  const f = new Float64Array(n);
  const g = new Float64Array(m);
  const lse = (vals: number[]) => {
    const mx = Math.max(...vals);
    return mx + Math.log(vals.reduce((s, v) => s + Math.exp(v - mx), 0));
  };
  for (let it = 0; it < iters; it++) {
    for (let i = 0; i < n; i++) f[i] = -eps * (Math.log(n) + lse(Array.from({ length: m }, (_, j) => (g[j] - c[i * m + j]) / eps)));
    for (let j = 0; j < m; j++) g[j] = -eps * (Math.log(m) + lse(Array.from({ length: n }, (_, i) => (f[i] - c[i * m + j]) / eps)));
  }
  return { f, g, eps };
}

async function readAll(...ts: Tensor[]): Promise<(Float32Array | Int32Array)[]> {
  const out: (Float32Array | Int32Array)[] = [];
  for (const t of ts) out.push(await t.data());
  for (const t of ts) t.dispose();
  return out;
}

/** Two small point clouds: x1 from a shifted, squeezed Gaussian, x0 from N(0, I). */
function clouds(rng: Rng, n: number, m: number, d: number) {
  const x1 = rng.array(n * d, () => 0.5 * rng.normal() + 1.5);
  const x0 = rng.array(m * d);
  return { x1, x0 };
}

describe('exact assignment (CPU)', () => {
  it('finds the minimum total cost: brute force over all 720 permutations of n = 6', () => {
    const rng = new Rng(1);
    const perms = permutations(6);
    for (let trial = 0; trial < 150; trial++) {
      // continuous costs, and small integers (many ties)
      const c = Float64Array.from({ length: 36 }, () => (trial % 2 ? rng.int(0, 4) : rng.uniform(0, 10)));
      const col = linearSumAssignment(c, 6);
      expect([...col].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      const best = Math.min(...perms.map((p) => total(c, 6, p)));
      expect(Math.abs(total(c, 6, col) - best), `trial ${trial}`).toBeLessThan(1e-9);
    }
  });

  it('rectangular n < m: brute force over all injections of 4 rows into 6 columns', () => {
    const rng = new Rng(2);
    const maps = injections(4, 6);
    for (let trial = 0; trial < 60; trial++) {
      const c = Float64Array.from({ length: 24 }, () => rng.normal() * 3);
      const col = linearSumAssignment(c, 4, 6);
      expect(new Set(col).size).toBe(4);
      const best = Math.min(...maps.map((p) => total(c, 6, p)));
      expect(Math.abs(total(c, 6, col) - best)).toBeLessThan(1e-9);
    }
  });

  it('larger n: a permutation no pair swap can improve, and far below the identity pairing', () => {
    const rng = new Rng(3);
    const n = 80;
    const { x1, x0 } = clouds(rng, n, n, 2);
    const c = sqDistCpu(x1, x0, n, n, 2);
    const col = linearSumAssignment(c, n);
    expect(new Set(col).size).toBe(n);
    for (let i = 0; i < n; i++)
      for (let k = i + 1; k < n; k++) {
        const now = c[i * n + col[i]] + c[k * n + col[k]];
        const swapped = c[i * n + col[k]] + c[k * n + col[i]];
        expect(swapped).toBeGreaterThanOrEqual(now - 1e-9);
      }
    // population values: E‖x1 − x0‖² = 7 per pair for independent pairs, W₂² = 5 (Gaussians)
    expect(total(c, n, col)).toBeLessThan(0.85 * total(c, n, [...Array(n).keys()]));
  });

  it('rejects non-finite costs', () => {
    expect(() => linearSumAssignment([0, 1, NaN, 2], 2)).toThrow(FlowGpuError);
  });
});

describe('minibatch OT on the GPU', () => {
  it('squared distances match float64', async () => {
    const rng = new Rng(4);
    const [n, m, d] = [13, 9, 5];
    const { x1, x0 } = clouds(rng, n, m, d);
    const [c] = await readAll(tidy(() => squaredDistances(tensor(Float32Array.from(x1), [n, d]), tensor(Float32Array.from(x0), [m, d]))));
    const want = sqDistCpu(x1, x0, n, m, d);
    // a sum of d squares in f32: relative error ≤ (d + 2)·2⁻²⁴
    for (let i = 0; i < want.length; i++) expect(Math.abs(c[i] - want[i])).toBeLessThanOrEqual(1e-6 * want[i] + 1e-7);
  });

  it('exact OT pairing of GPU data reaches the brute-force minimum (n = 6)', async () => {
    const rng = new Rng(5);
    const perms = permutations(6);
    for (let trial = 0; trial < 5; trial++) {
      const { x1, x0 } = clouds(rng, 6, 6, 3);
      const idx = await exactOTPairing(tensor(Float32Array.from(x1), [6, 3]), tensor(Float32Array.from(x0), [6, 3]));
      const [col] = await readAll(idx);
      const c = sqDistCpu(x1, x0, 6, 6, 3);
      const best = Math.min(...perms.map((p) => total(c, 6, p)));
      // the assignment ran on f32 costs: its float64 total can exceed the optimum by the f32 rounding
      expect(total(c, 6, col) - best).toBeLessThan(1e-5 * best);
    }
  });

  it('Sinkhorn potentials match a float64 Sinkhorn, and the plan has the right marginals', async () => {
    const rng = new Rng(6);
    const [n, m, d] = [24, 20, 2];
    const { x1, x0 } = clouds(rng, n, m, d);
    const reg = 0.05;
    const iters = 300;
    const [f, g, cf] = await readAll(
      ...tidy(() => {
        const s = sinkhorn(tensor(Float32Array.from(x1), [n, d]), tensor(Float32Array.from(x0), [m, d]), { reg, iters });
        return [s.f, s.g, s.cost];
      }),
    );
    const c = sqDistCpu(x1, x0, n, m, d);
    const ref = sinkhornCpu(c, n, m, reg, iters);
    // potentials are costs (mean cost ≈ 5 here); f32 rounding in 600 LSE passes stays ≪ 1e-3·mean
    const mean = c.reduce((s, v) => s + v, 0) / (n * m);
    for (let i = 0; i < n; i++) expect(Math.abs(f[i] - ref.f[i]), `f[${i}]`).toBeLessThan(1e-3 * mean);
    for (let j = 0; j < m; j++) expect(Math.abs(g[j] - ref.g[j]), `g[${j}]`).toBeLessThan(1e-3 * mean);
    // marginals of π_ij = exp((f_i + g_j − C_ij)/ε), computed in float64 from the GPU's potentials
    const rows = new Float64Array(n);
    const cols = new Float64Array(m);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++) {
        const p = Math.exp((f[i] + g[j] - cf[i * m + j]) / ref.eps);
        rows[i] += p;
        cols[j] += p;
      }
    // column sums are enforced by the last (g) update up to f32 rounding of the exponent
    // (|δ(f+g−C)|/ε ≲ 1e-5·mean/ε = 2e-4); row sums converge geometrically (measured ≈ 1e-6 here)
    for (let j = 0; j < m; j++) expect(Math.abs(cols[j] * m - 1), `column ${j}`).toBeLessThan(1e-3);
    for (let i = 0; i < n; i++) expect(Math.abs(rows[i] * n - 1), `row ${i}`).toBeLessThan(1e-3);
  });

  it('Sinkhorn pairing costs close to the exact optimum and far below independent pairing', async () => {
    const rng = new Rng(7);
    const [n, d] = [48, 2];
    const { x1, x0 } = clouds(rng, n, n, d);
    const c = sqDistCpu(x1, x0, n, n, d);
    const exact = total(c, n, linearSumAssignment(c, n));
    const independent = total(c, n, [...Array(n).keys()]);
    const [am, sm] = await readAll(
      ...tidy(() => {
        const a = tensor(Float32Array.from(x1), [n, d]);
        const b = tensor(Float32Array.from(x0), [n, d]);
        return [
          sinkhornPairing(a, b, { reg: 0.01, iters: 400, pairing: 'argmax' }),
          sinkhornPairing(a, b, { reg: 0.01, iters: 400, pairing: 'sample', seed: 1, step: 0 }),
        ];
      }),
    );
    const argmaxCost = total(c, n, am);
    const sampleCost = total(c, n, sm);
    // entropic blur at ε = 0.01·mean cost: the plan's mass sits on near-optimal partners
    expect(argmaxCost).toBeLessThan(1.05 * exact);
    expect(sampleCost).toBeLessThan(1.15 * exact);
    expect(exact).toBeLessThan(0.85 * independent);
  });

  it('sampled pairing draws x0 indices with the plan row probabilities (Gumbel-max)', async () => {
    const rng = new Rng(8);
    const [n, m, d] = [3, 5, 2];
    const { x1, x0 } = clouds(rng, n, m, d);
    const reg = 1; // a blurred plan, so that every entry has visible mass
    const steps = 1500;
    const counts = new Float64Array(n * m);
    const a = tensor(Float32Array.from(x1), [n, d]);
    const b = tensor(Float32Array.from(x0), [m, d]);
    const s = sinkhorn(a, b, { reg, iters: 50 });
    const idx: Tensor[] = [];
    for (let k = 0; k < steps; k++) idx.push(pairFromPlan(s, { pairing: 'sample', seed: 5, step: k }));
    const [f, g, cf] = await readAll(s.f, s.g, s.cost);
    for (const t of [a, b, s.costSum]) t.dispose();
    for (const t of idx) {
      const v = await t.data();
      t.dispose();
      for (let i = 0; i < n; i++) counts[i * m + v[i]]++;
    }
    const eps = (reg * Array.from(cf).reduce((s, v) => s + v, 0)) / (n * m);
    for (let i = 0; i < n; i++) {
      const w = Array.from({ length: m }, (_, j) => Math.exp((f[i] + g[j] - cf[i * m + j]) / eps));
      const z = w.reduce((s, v) => s + v, 0);
      for (let j = 0; j < m; j++) {
        const p = w[j] / z;
        // binomial count: within 4 standard deviations
        expect(Math.abs(counts[i * m + j] - steps * p), `row ${i} col ${j} (p = ${p.toFixed(3)})`).toBeLessThan(4 * Math.sqrt(steps * p * (1 - p)) + 1);
      }
    }
  });

  it('couplings return the drawn noise re-paired: exact is a permutation of it', async () => {
    const rng = new Rng(9);
    const [n, d] = [16, 3];
    const x1 = rng.array(n * d, () => rng.normal() + 2);
    const X1 = tensor(Float32Array.from(x1), [n, d]);
    const ex = await exactOTCouple(X1, { seed: 4, step: 2 });
    const [exv, sk, src] = await readAll(ex, ...tidy(() => [sinkhornCouple(X1, { seed: 4, step: 2, reg: 0.02, iters: 200 }), drawSource(X1, { seed: 4, step: 2 })]));
    X1.dispose();
    const rowsOf = (v: ArrayLike<number>) => Array.from({ length: n }, (_, i) => Array.from(v).slice(i * d, i * d + d).join(','));
    const srcRows = rowsOf(src);
    expect(rowsOf(exv).sort()).toEqual([...srcRows].sort());
    for (const r of rowsOf(sk)) expect(srcRows).toContain(r);
    // and the exact coupling has the minimum cost among all re-pairings of that noise
    const c = sqDistCpu(x1, src, n, n, d);
    const best = total(c, n, linearSumAssignment(c, n));
    const got = total(c, n, rowsOf(exv).map((r) => srcRows.indexOf(r)));
    expect(got - best).toBeLessThan(1e-5 * best);
  });
});
