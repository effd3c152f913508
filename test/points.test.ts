// Point clouds from files (issue 12, step 1): reading and checking rows, the standardisation that
// round-trips exactly, the held-out split, and a flow trained on a 3-D Gaussian that recovers its
// mean and covariance — against the closed form, not against an untrained flow's N(0, I), which the
// standardisation alone would map to the right mean but the wrong (power-of-two) scales and no
// correlation.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { data, encodeNpy, flow, io, nn, train } from '../src/internal.js';
import { readNpy, readPoints } from '../src/io/node-files.js';
import { pointsConfig, runPoints } from '../src/cli/points.js';
import { nll, sampleCkpt } from '../src/cli/sample.js';
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

  it('cornerPlot: pairs below the diagonal and marginals on it, for the dimensions asked', () => {
    const x = data.gaussianPoints(400, [0, 0, 0], [[1, 0, 0], [0.5, 1, 0], [0, 0, 1]], 3);
    const img = io.cornerPlot(x, x.map((v) => v + 0.5), 3, { size: 100 });
    expect([img.width, img.height]).toEqual([48 + 3 * 126, 30 + 3 * 126 + 16]);
    const has = (rgb: number[]) => {
      for (let i = 0; i < img.pixels.length; i += 3) if (Math.abs(img.pixels[i] - rgb[0]) + Math.abs(img.pixels[i + 1] - rgb[1]) + Math.abs(img.pixels[i + 2] - rgb[2]) < 60) return true;
      return false;
    };
    expect(has([31, 119, 180])).toBe(true); // data (blue)
    expect(has([255, 127, 14])).toBe(true); // samples (orange)
    expect(io.cornerPlot(x, x, 3, { dims: [2], size: 100 }).width).toBe(48 + 126);
    expect(() => io.cornerPlot(x, x, 3, { dims: [3] })).toThrow(/dims must be in 0…2/);
    expect(() => io.cornerPlot(x.subarray(1), x, 3)).toThrow(/not rows of 3/);
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

  it('a flow trained on a 5-D mixture of three Gaussians recovers the weights and each component\'s mean', async () => {
    // components far apart (≥ 8σ between centres) so each sample belongs to its nearest centre
    const centres = [[4, 0, 0, -2, 1], [-4, 2, 0, 2, 0], [0, -4, 3, 0, -1]];
    const weights = [0.5, 0.3, 0.2];
    const sd = [0.5, 0.4, 0.6];
    const n = 9000;
    const rng = new data.HostRng(5);
    const x = new Float32Array(n * 5);
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      const k = u < weights[0] ? 0 : u < weights[0] + weights[1] ? 1 : 2;
      for (let d = 0; d < 5; d++) x[i * 5 + d] = centres[k][d] + sd[k] * rng.normal();
    }
    const s = data.standardization(x, 5);
    const points = new data.PointDataset(data.standardize(x, s), 5);
    const net = nn.buildNet(nn.mlpSpec({ dim: 5, hidden: 128, hiddenLayers: 3 }), 6);
    const t = new train.Trainer({ net, data: points.batches(256, 6), steps: 1500, lr: 3e-3, warmup: 100, ema: 0, seed: 6 });
    await t.run();
    const m = 4000;
    const { x: z } = await flow.generate(net, { n: m, solver: 'midpoint', nfe: 40, seed: 7 });
    const y = data.unstandardize(z, s);
    const count = [0, 0, 0];
    const sums = centres.map(() => new Array<number>(5).fill(0));
    let far = 0;
    for (let i = 0; i < m; i++) {
      const dist = centres.map((c) => Math.hypot(...c.map((v, d) => y[i * 5 + d] - v)));
      const k = dist.indexOf(Math.min(...dist));
      if (dist[k] > 2 * sd[k] * Math.sqrt(5)) far++; // between the components: the flow's leakage
      count[k]++;
      for (let d = 0; d < 5; d++) sums[k][d] += y[i * 5 + d];
    }
    for (let k = 0; k < 3; k++) {
      // the weight: within 4 binomial standard errors; the mean: within 0.25σ of the component
      expect(Math.abs(count[k] / m - weights[k]), `weight ${k}`).toBeLessThan(4 * Math.sqrt((weights[k] * (1 - weights[k])) / m));
      for (let d = 0; d < 5; d++) expect(Math.abs(sums[k][d] / count[k] - centres[k][d]), `mean ${k}.${d}`).toBeLessThan(0.25 * sd[k]);
    }
    // measured: weights 0.485 / 0.307 / 0.208, means within 0.1σ, 1.3% of samples outside 2σ·√5 of any centre
    expect(far / m).toBeLessThan(0.03);
    t.dispose();
    net.module.dispose();
  });

  it('flowgpu train points: a .csv in data units in, samples in data units out; sample and nll undo the standardisation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-tp-'));
    const x = data.gaussianPoints(600, [100, -50, 3], [[20, 0, 0], [5, 2, 0], [0, 0, 0.1]], 7);
    const csv = join(dir, 'cloud.csv');
    writeFileSync(csv, 'a,b,c\n' + Array.from({ length: 600 }, (_, i) => [...x.subarray(i * 3, i * 3 + 3)].join(',')).join('\n'));
    const out = join(dir, 'run');
    const r = await runPoints(pointsConfig(['--data', csv, '--steps', '40', '--batch', '128', '--hidden', '32', '--layers', '2',
      '--log-every', '10', '--ckpt-every', '20', '--samples', '300', '--nfe', '4', '--out', out]));
    expect(r.history.lossStep).toEqual([10, 20, 30, 40]);
    const s = readNpy(join(out, 'samples.npy'));
    expect(s.shape).toEqual([300, 3]);
    // in the data's units: the first column's mean is near 100, not near 0 (the standardised space)
    const m0 = [...s.data].filter((_, i) => i % 3 === 0).reduce((a, v) => a + v, 0) / 300;
    expect(Math.abs(m0 - 100)).toBeLessThan(20);
    // `flowgpu sample` with the run's seed and sampler draws the same points, in the same units
    await sampleCkpt([out, '--n', '300', '--nfe', '4', '--out', join(dir, 's.npy')]);
    expect(readNpy(join(dir, 's.npy')).data).toEqual(s.data);
    // nll of the data in data units (log p_x = log p_z − Σ log scale): by Gibbs' inequality at most
    // −H = −½·log((2πe)³·|Σ|) = −5.64 nats up to sampling noise; without the Jacobian term it would be
    // 2.08 nats higher (Σ log scale = log 16 + log 4 + log ⅛)
    writeFileSync(join(dir, 'x.npy'), encodeNpy(x, [600, 3]));
    await nll([out, '--data', join(dir, 'x.npy'), '--steps', '8', '--out', join(dir, 'logp.npy')]);
    const lp = readNpy(join(dir, 'logp.npy')).data;
    const meanLp = [...lp].reduce((a, v) => a + v, 0) / lp.length;
    expect(meanLp).toBeLessThan(-5.64 + 0.25);
    expect(meanLp).toBeGreaterThan(-10);
    await expect(runPoints(pointsConfig(['--data', csv, '--batch', '1000', '--out', join(dir, 'b')]))).rejects.toThrow(/larger than the 540 training rows/);
  });
});
