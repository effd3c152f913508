// Point clouds from files (issue 12, step 1): reading and checking rows, the standardisation that
// round-trips exactly, the held-out split, and a flow trained on a 3-D Gaussian that recovers its
// mean and covariance — against the closed form, not against an untrained flow's N(0, I), which the
// standardisation alone would map to the right mean but the wrong (power-of-two) scales and no
// correlation.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { data, encodeNpy, flow, nn, train } from '../src/internal.js';
import { readPoints } from '../src/io/node-files.js';
import { Rng, useGpu } from './helpers.js';

useGpu();

function moments(x: ArrayLike<number>, dim: number): { mean: number[]; cov: number[][] } {
  const n = x.length / dim;
  const mean = Array.from({ length: dim }, (_, d) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * dim + d];
    return s / n;
  });
  const cov = Array.from({ length: dim }, (_, a) =>
    Array.from({ length: dim }, (_, b) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (x[i * dim + a] - mean[a]) * (x[i * dim + b] - mean[b]);
      return s / (n - 1);
    }),
  );
  return { mean, cov };
}

describe('point data', () => {
  it('standardises per dimension with power-of-two scales, and round-trips float32 values exactly', () => {
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 3000 }, (_, i) => (i % 3 === 2 ? 7.25 : rng.normal() * (i % 3 ? 300 : 0.01) + (i % 3 ? -1e4 : 5)));
    const s = data.standardization(x, 3);
    for (const v of s.scale) expect(Number.isInteger(Math.log2(v))).toBe(true);
    expect(s.scale[2]).toBe(1); // a constant column
    const z = data.standardize(x, s);
    const m = moments(z, 3);
    for (const d of [0, 1]) {
      expect(Math.abs(m.mean[d])).toBeLessThan(1e-3);
      expect(Math.sqrt(m.cov[d][d])).toBeGreaterThan(0.7);
      expect(Math.sqrt(m.cov[d][d])).toBeLessThan(1.42);
    }
    expect(data.unstandardize(z, s)).toEqual(x);
  });

  it('reads .npy [N, D] and [N], and .csv with or without a header; names bad rows and cells', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-pts-'));
    const w = (f: string, b: Uint8Array | string) => (writeFileSync(join(dir, f), b), join(dir, f));
    expect(readPoints(w('a.npy', encodeNpy(Float32Array.of(1, 2, 3, 4, 5, 6), [3, 2])))).toMatchObject({ rows: 3, dim: 2 });
    expect(readPoints(w('b.npy', encodeNpy(Float32Array.of(1, 2, 3), [3])))).toMatchObject({ rows: 3, dim: 1 });
    const c = readPoints(w('c.csv', 'x,y,z\n1,2,3\n4.5, 5e-1 ,-6\n'));
    expect([...c.data]).toEqual([1, 2, 3, 4.5, 0.5, -6]);
    expect(c.columns).toEqual(['x', 'y', 'z']);
    expect(readPoints(w('d.csv', '1 2\n3 4\n'))).toMatchObject({ rows: 2, dim: 2, columns: null });
    expect(() => readPoints(w('e.npy', encodeNpy(new Float32Array(8), [2, 2, 2])))).toThrow(/\[N, D\].*\[2, 2, 2\]/);
    expect(() => readPoints(w('f.csv', '1,2\n3,NaN\n'))).toThrow(/row 1 \(of 2\) has NaN in column 1/);
    expect(() => readPoints(w('g.csv', '1,2\n3,four\n'))).toThrow(/row 1, column 1: 'four' is not a number/);
    expect(() => readPoints(w('h.csv', '1,2\n3\n'))).toThrow(/row 1 has 1 columns, the first has 2/);
    expect(() => readPoints(w('i.txt', '1'))).toThrow(/\.npy .* or \.csv/);
  });

  it('holds out a seeded, disjoint part of the rows', () => {
    const a = data.holdoutSplit(1000, 0.1, 4);
    expect(a.holdout.length).toBe(100);
    expect(new Set([...a.train, ...a.holdout]).size).toBe(1000);
    expect(data.holdoutSplit(1000, 0.1, 4).holdout).toEqual(a.holdout);
    expect(data.holdoutSplit(1000, 0.1, 5).holdout).not.toEqual(a.holdout);
  });

  it('a flow trained on a correlated 3-D Gaussian recovers its mean and covariance', async () => {
    // Σ = L·Lᵀ with standard deviations 3, 0.3, 1.5 (not powers of two) and correlations ±0.8
    const mean = [1, -2, 0.5];
    const L = [[3, 0, 0], [0.24, 0.18, 0], [-1.2, 0.4, 0.8]];
    const x = data.gaussianPoints(8000, mean, L, 1);
    const s = data.standardization(x, 3);
    const points = new data.PointDataset(data.standardize(x, s), 3);
    const net = nn.buildNet(nn.mlpSpec({ dim: 3, hidden: 64, hiddenLayers: 2 }), 2);
    const t = new train.Trainer({ net, data: points.batches(256, 2), steps: 600, lr: 3e-3, warmup: 50, ema: 0, seed: 2 });
    await t.run();
    const { x: z } = await flow.generate(net, { n: 6000, solver: 'midpoint', nfe: 20, seed: 3 });
    const got = moments(data.unstandardize(z, s), 3);
    const want = L.map((r, a) => L.map((q, b) => r.reduce((acc, v, k) => acc + v * q[k], 0)));
    const sd = want.map((r, a) => Math.sqrt(r[a]));
    for (let a = 0; a < 3; a++) {
      // measured: means within 0.02σ, covariances within 0.026 on the correlation scale; the sampling
      // error of the mean at 6000 draws is ≈ 0.013σ
      expect(Math.abs(got.mean[a] - mean[a]), `mean ${a}`).toBeLessThan(0.08 * sd[a]);
      for (let b = 0; b < 3; b++) {
        // covariance as correlation-scale error: untrained (N(0, I) unstandardised) is off by ≥ 0.25 here
        expect(Math.abs(got.cov[a][b] - want[a][b]) / (sd[a] * sd[b]), `cov ${a}${b}`).toBeLessThan(0.1);
      }
    }
    t.dispose();
    net.module.dispose();
  });
});
