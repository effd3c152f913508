// Flows beyond noise → data (issue 12, items 3–5): the path noise of data-to-data paths, couplings
// that re-pair a source batch, continuous conditions with their ∅ flag, and trained flows checked
// against closed forms — a flow between two Gaussians (means, covariances, and with the OT coupling
// the Monge map), a paired flow of a known affine map, and a flow conditioned on a number.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { data, flow, nn, tensor, tidy, train } from '../src/internal.js';
import { readNpy, writeNpy } from '../src/io/node-files.js';
import { pointsConfig, runPoints } from '../src/cli/points.js';
import { nll, sampleCkpt } from '../src/cli/sample.js';
import { imagesConfig, runImages } from '../src/cli/images.js';
import { useGpu } from './helpers.js';

useGpu();

type M2 = [[number, number], [number, number]];

function moments2(x: ArrayLike<number>): { mean: number[]; cov: M2 } {
  const n = x.length / 2;
  const mean = [0, 0];
  for (let i = 0; i < n; i++) for (let d = 0; d < 2; d++) mean[d] += x[2 * i + d] / n;
  const cov: M2 = [[0, 0], [0, 0]];
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) cov[a][b] += ((x[2 * i + a] - mean[a]) * (x[2 * i + b] - mean[b])) / (n - 1);
  }
  return { mean, cov };
}

const mul = (A: M2, B: M2): M2 => [
  [A[0][0] * B[0][0] + A[0][1] * B[1][0], A[0][0] * B[0][1] + A[0][1] * B[1][1]],
  [A[1][0] * B[0][0] + A[1][1] * B[1][0], A[1][0] * B[0][1] + A[1][1] * B[1][1]],
];
const tr = (A: M2): M2 => [[A[0][0], A[1][0]], [A[0][1], A[1][1]]];
const inv = (A: M2): M2 => {
  const d = A[0][0] * A[1][1] - A[0][1] * A[1][0];
  return [[A[1][1] / d, -A[0][1] / d], [-A[1][0] / d, A[0][0] / d]];
};
/** The SPD square root of a 2×2 SPD matrix: (M + √det·I) / √(tr M + 2√det). */
const sqrtm = (A: M2): M2 => {
  const s = Math.sqrt(A[0][0] * A[1][1] - A[0][1] * A[1][0]);
  const k = Math.sqrt(A[0][0] + A[1][1] + 2 * s);
  return [[(A[0][0] + s) / k, A[0][1] / k], [A[1][0] / k, (A[1][1] + s) / k]];
};

/** Relative error of covariances on the correlation scale. */
function covError(got: M2, want: M2): number {
  let e = 0;
  for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) e = Math.max(e, Math.abs(got[a][b] - want[a][b]) / Math.sqrt(want[a][a] * want[b][b]));
  return e;
}

describe('data-to-data path pieces', () => {
  it('path noise adds σ·ε to x_t (mean 0, variance σ²) and leaves u_t as without it', async () => {
    const n = 4096;
    const d = 3;
    const x1v = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i));
    const x0v = Float32Array.from({ length: n * d }, (_, i) => Math.cos(3 * i));
    const sigma = 0.3;
    const [plain, noisy] = await Promise.all([0, sigma].map(async (noise) => {
      const r = tidy(() => {
        const x1 = tensor(x1v, [n, d]);
        const x0 = tensor(x0v, [n, d]);
        const s = flow.interpolateWithTarget(x1, { scheduler: flow.condOT(), seed: 4, step: 9, x0, noise });
        return [s.xt, s.ut, s.t];
      });
      const out = await Promise.all(r.map((z) => z.f32()));
      r.forEach((z) => z.dispose());
      return out;
    }));
    expect(noisy[1]).toEqual(plain[1]); // u_t
    expect(noisy[2]).toEqual(plain[2]); // t (same draws)
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n * d; i++) {
      const e = noisy[0][i] - plain[0][i];
      s1 += e;
      s2 += e * e;
    }
    const m = n * d;
    // the mean of m draws of N(0, σ²) within 4 standard errors; the variance within 4 of its standard errors (√(2/m)·σ²)
    expect(Math.abs(s1 / m)).toBeLessThan((4 * sigma) / Math.sqrt(m));
    expect(Math.abs(s2 / m - sigma * sigma)).toBeLessThan(4 * Math.sqrt(2 / m) * sigma * sigma);
    expect(() => flow.interpolateWithTarget(tensor(x1v, [n, d]), { scheduler: flow.condOT(), seed: 0, step: 0, noise: -1 })).toThrow(/path noise σ must be finite and ≥ 0/);
  });

  it('couplings re-pair a given source batch: exact OT is the minimum-cost permutation (brute force), Sinkhorn picks source rows', async () => {
    const n = 6;
    const x1v = Float32Array.from({ length: n * 2 }, (_, i) => Math.sin(1.7 * i + 0.3) * 2);
    const srcv = Float32Array.from({ length: n * 2 }, (_, i) => Math.cos(0.9 * i) * 2 + (i % 2 ? 0.5 : -0.5));
    const x1 = tensor(x1v, [n, 2]);
    const source = tensor(srcv, [n, 2]);
    const paired = await flow.exactOTCouple(x1, { seed: 0, step: 0, source });
    const got = await paired.f32();
    // float64 brute force over all 720 permutations
    const cost = (i: number, j: number) => (x1v[2 * i] - srcv[2 * j]) ** 2 + (x1v[2 * i + 1] - srcv[2 * j + 1]) ** 2;
    let best = Infinity;
    const perm = (rest: number[], acc: number[]) => {
      if (!rest.length) {
        best = Math.min(best, acc.reduce((s, j, i) => s + cost(i, j), 0));
        return;
      }
      for (const j of rest) perm(rest.filter((k) => k !== j), [...acc, j]);
    };
    perm([...Array(n).keys()], []);
    const rowOf = (r: number) => [...Array(n).keys()].find((j) => srcv[2 * j] === got[2 * r] && srcv[2 * j + 1] === got[2 * r + 1]);
    const rows = [...Array(n).keys()].map(rowOf);
    expect(new Set(rows).size).toBe(n); // a permutation of the source rows
    expect(rows.reduce<number>((s, j, i) => s + cost(i, j!), 0)).toBeCloseTo(best, 5);
    const sk = tidy(() => flow.sinkhornCouple(x1, { seed: 1, step: 2, source, pairing: 'argmax', reg: 0.01 }));
    const skv = await sk.f32();
    for (let r = 0; r < n; r++) expect(srcv.some((_, j) => j < n && srcv[2 * j] === skv[2 * r] && srcv[2 * j + 1] === skv[2 * r + 1])).toBe(true);
    await expect(flow.exactOTCouple(x1, { seed: 0, step: 0, source: tensor(new Float32Array(8), [4, 2]) })).rejects.toThrow(/source batch .* must be f32 shaped like the data batch/);
    for (const t of [x1, source, paired, sk]) t.dispose();
  });

  it('flagConditions appends the present flag and drops rows to ∅ exactly where dropLabels drops labels', async () => {
    const rows = 5000;
    const w = 3;
    const c = Float32Array.from({ length: rows * w }, (_, i) => i * 0.25 - 7);
    const C = tensor(c, [rows, w]);
    const L = tensor(Int32Array.from({ length: rows }, (_, i) => i % 5), [rows], 'i32');
    const flagged = await tidy(() => flow.flagConditions(C, { p: 0.2, seed: 3, step: 11 })).f32();
    const dropped = (await tidy(() => flow.dropLabels(L, { p: 0.2, seed: 3, step: 11 })).data()) as Int32Array;
    let nDrop = 0;
    for (let r = 0; r < rows; r++) {
      const row = flagged.subarray(r * (w + 1), (r + 1) * (w + 1));
      if (dropped[r] === -1) {
        nDrop++;
        expect(Array.from(row)).toEqual([0, 0, 0, 0]);
      } else expect(Array.from(row)).toEqual([...c.subarray(r * w, (r + 1) * w), 1]);
    }
    expect(Math.abs(nDrop - rows * 0.2)).toBeLessThan(4 * Math.sqrt(rows * 0.2 * 0.8));
    const kept = await tidy(() => flow.flagConditions(C)).f32();
    expect(kept.filter((_, i) => i % (w + 1) === w).every((v) => v === 1)).toBe(true);
    expect(() => flow.flagConditions(L)).toThrow(/conditions must be f32 \[N, W\]/);
    C.dispose();
    L.dispose();
  });

  it('image sets: paired batches hold the same rows of both sets, a source set its own shuffle; shapes and counts are checked', async () => {
    const n = 12;
    const px = (k: number) => Uint8Array.from({ length: n * 2 * 3 * 3 }, (_, i) => (i * 7 + k) % 256);
    const set = (k: number, count = n, shape = [2, 3, 3]) => new data.ImageDataset(data.imageSet(px(k).subarray(0, count * shape.reduce((a, b) => a * b)), [count, ...shape]), `set ${k}`);
    const target = set(0);
    const pairs = set(100);
    const b = target.batches(4, 1, { pairs }).batch(5);
    const [x1, x0] = [await b.x1.f32(), await b.x0!.f32()];
    // row i of x0 is the same image index as row i of x1: the pixel offset between the sets is 100 in bytes
    for (let i = 0; i < x1.length; i++) {
      const byte = Math.round(((x1[i] + 1) * 255) / 2);
      expect(Math.round(((x0[i] + 1) * 255) / 2)).toBe((byte + 100) % 256);
    }
    const src = target.batches(4, 1, { source: set(50) }).batch(5);
    expect(src.source!.shape).toEqual([4, 2, 3, 3]);
    expect(() => target.batches(4, 1, { pairs: set(1, 11) })).toThrow(/has 11 images and set 0 12: pairs need the same count/);
    expect(() => target.batches(4, 1, { source: set(1, 12, [1, 3, 3]) })).toThrow(/holds 1×3×3 images and set 0 2×3×3/);
    for (const t of [b.x1, b.x0!, src.x1, src.source!]) t.dispose();
  });

  it('bad pairings get clear errors', () => {
    const x = data.gaussianPoints(100, [0, 0], [[1, 0], [0, 1]], 1);
    expect(() => new data.PointDataset(x, 2, 'x.npy', { x0: x.subarray(0, 180) })).toThrow(/90 source rows for 100 data rows/);
    expect(() => new data.PointDataset(x, 2, 'x.npy', { cond: new Float32Array(99), condDim: 1 })).toThrow(/99 condition rows for 100 data rows/);
    const bad = x.slice();
    bad[2 * 37 + 1] = NaN;
    expect(() => new data.PointDataset(x, 2, 'x.npy', { x0: bad })).toThrow(/row 37/);
    const a = new data.PointDataset(x, 2);
    const b3 = new data.PointDataset(data.gaussianPoints(100, [0, 0, 0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], 1), 3);
    expect(() => a.batches(50, 0, { source: b3 })).toThrow(/source has 3 dimensions and the data 2/);
    const small = new data.PointDataset(x.subarray(0, 40), 2);
    expect(() => a.batches(50, 0, { source: small })).toThrow(/larger than the 20 source rows/);
    for (const d of [a, b3, small]) d.dispose();
  });
});

describe('trained flows against closed forms', () => {
  // N(m0, S0) → N(m1, S1) in 2-D, neither standard nor aligned
  const m0 = [-2, 1];
  const L0: M2 = [[1, 0], [0.5, 0.5]];
  const m1 = [3, 0];
  const L1: M2 = [[0.5, 0], [-0.6, 1.2]];
  const S = (L: M2) => mul(L, tr(L));

  async function fitD2D(coupling: train.CouplingName, seed: number) {
    const x0 = data.gaussianPoints(8000, m0, L0, 11);
    const x1 = data.gaussianPoints(8000, m1, L1, 12);
    const s0 = data.standardization(x0, 2);
    const s1 = data.standardization(x1, 2);
    const target = new data.PointDataset(data.standardize(x1, s1), 2);
    const source = new data.PointDataset(data.standardize(x0, s0), 2);
    const net = nn.buildNet(nn.mlpSpec({ dim: 2, hidden: 64, hiddenLayers: 2 }), seed);
    // exact OT reads the cost matrix back every step: a smaller batch and fewer steps keep it quick
    const ot = coupling === 'ot';
    const t = new train.Trainer({ net, data: target.batches(ot ? 128 : 256, seed, { source }), steps: ot ? 500 : 800, lr: 3e-3, warmup: 50, ema: 0, seed, coupling, pathNoise: 0.02 });
    await t.run();
    const fresh = data.gaussianPoints(4000, m0, L0, 13);
    const { x: z } = await flow.generate(net, { n: 4000, solver: 'midpoint', nfe: 20, source: data.standardize(fresh, s0) });
    t.dispose();
    net.module.dispose();
    return { fresh, mapped: data.unstandardize(z, s1), s0, s1 };
  }

  it('a data-to-data flow between two Gaussians maps the source onto the target mean and covariance', async () => {
    const { mapped } = await fitD2D('independent', 1);
    const got = moments2(mapped);
    const want = S(L1);
    // measured: means within 0.03, covariance within 0.055 on the correlation scale (the source's own
    // moments, mapped by nothing, are off by 5 in the mean)
    for (let a = 0; a < 2; a++) expect(Math.abs(got.mean[a] - m1[a]), `mean ${a}`).toBeLessThan(0.08 * Math.sqrt(want[a][a]));
    expect(covError(got.cov, want)).toBeLessThan(0.1);
  });

  it('with the exact OT coupling the learned map approaches the Monge map x ↦ m1 + A(x − m0)', async () => {
    const { fresh, mapped, s0, s1 } = await fitD2D('ot', 2);
    // the map in the standardised coordinates the flow lives in: z0 = D0⁻¹(x − μ0), z1 = D1⁻¹(y − μ1)
    const D = (s: data.Standardization): M2 => [[s.scale[0], 0], [0, s.scale[1]]];
    const C0 = mul(mul(inv(D(s0)), S(L0)), inv(D(s0)));
    const C1 = mul(mul(inv(D(s1)), S(L1)), inv(D(s1)));
    const r0 = sqrtm(C0);
    const ri = inv(r0);
    const A = mul(mul(ri, sqrtm(mul(mul(r0, C1), r0))), ri);
    const mz0 = [0, 1].map((d) => (m0[d] - s0.mean[d]) / s0.scale[d]);
    const mz1 = [0, 1].map((d) => (m1[d] - s1.mean[d]) / s1.scale[d]);
    let err = 0;
    let spread = 0;
    const n = fresh.length / 2;
    for (let i = 0; i < n; i++) {
      const z = [0, 1].map((d) => (fresh[2 * i + d] - s0.mean[d]) / s0.scale[d] - mz0[d]);
      for (let d = 0; d < 2; d++) {
        const want = (mz1[d] + A[d][0] * z[0] + A[d][1] * z[1]) * s1.scale[d] + s1.mean[d];
        err += (mapped[2 * i + d] - want) ** 2 / n;
        spread += (want - m1[d]) ** 2 / n;
      }
    }
    // measured: RMS distance to the Monge map 0.035 of the target's spread; the same flow trained with
    // the independent coupling (also a valid transport, not the OT one) is 0.22 from it
    expect(Math.sqrt(err / spread)).toBeLessThan(0.1);
  });

  it('a paired flow learns a known affine map x1 = A·x0 + b', async () => {
    const A: M2 = [[1.2, 0.5], [-0.3, 0.8]];
    const b = [1, -2];
    const affine = (x: Float32Array) => Float32Array.from(x, (_, k) => {
      const i = k >> 1;
      const d = k & 1;
      return A[d][0] * x[2 * i] + A[d][1] * x[2 * i + 1] + b[d];
    });
    const x0 = data.gaussianPoints(8000, [0.5, 0], [[1, 0], [0.3, 0.7]], 21);
    const x1 = affine(x0);
    const s0 = data.standardization(x0, 2);
    const s1 = data.standardization(x1, 2);
    const pairs = new data.PointDataset(data.standardize(x1, s1), 2, 'pairs', { x0: data.standardize(x0, s0) });
    const net = nn.buildNet(nn.mlpSpec({ dim: 2, hidden: 64, hiddenLayers: 2 }), 3);
    const t = new train.Trainer({ net, data: pairs.batches(256, 3), steps: 800, lr: 3e-3, warmup: 50, ema: 0, seed: 3, pathNoise: 0.01 });
    await t.run();
    await expect(new train.Trainer({ net, data: pairs.batches(256, 3), steps: 1, coupling: 'sinkhorn' }).trainStep(0)).rejects.toThrow(/gives x0 pairs; they cannot be re-coupled/);
    const fresh = data.gaussianPoints(2000, [0.5, 0], [[1, 0], [0.3, 0.7]], 22);
    const { x: z } = await flow.generate(net, { n: 2000, solver: 'rk4', nfe: 40, source: data.standardize(fresh, s0) });
    const got = data.unstandardize(z, s1);
    const want = affine(fresh);
    let err = 0;
    let spread = 0;
    const wm = moments2(want);
    for (let i = 0; i < got.length; i++) {
      err += (got[i] - want[i]) ** 2;
      spread += (want[i] - wm.mean[i & 1]) ** 2;
    }
    // the map is learned point by point: measured RMS error 0.3% of the data's spread
    expect(Math.sqrt(err / spread)).toBeLessThan(0.02);
    t.dispose();
    net.module.dispose();
  });

  it('a flow conditioned on a number: samples at c follow N(μ(c), 0.15²I); ∅ gives the mixture over c', async () => {
    const n = 8000;
    const rng = new data.HostRng(31);
    const c = Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);
    const x = Float32Array.from({ length: 2 * n }, (_, k) => (k & 1 ? -c[k >> 1] : 2 * c[k >> 1]) + 0.15 * rng.normal());
    const s = data.standardization(x, 2);
    const set = new data.PointDataset(data.standardize(x, s), 2, 'cond', { cond: c, condDim: 1 });
    const net = nn.buildNet(nn.mlpSpec({ dim: 2, hidden: 64, hiddenLayers: 2 }, undefined, { condVector: 1 }), 4);
    expect(net.condVector).toBe(1);
    expect(net.numClasses).toBe(0);
    const t = new train.Trainer({ net, data: set.batches(256, 4), steps: 1000, lr: 3e-3, warmup: 50, ema: 0, seed: 4, labelDropout: 0.1 });
    await t.run();
    for (const cv of [-0.8, 0.5]) {
      const { x: z } = await flow.generate(net, { n: 2000, solver: 'midpoint', nfe: 20, seed: 5, conditions: new Float32Array(2000).fill(cv) });
      const m = moments2(data.unstandardize(z, s));
      // measured: means within 0.01, standard deviations 0.135–0.176
      expect(Math.abs(m.mean[0] - 2 * cv), `c=${cv} mean x`).toBeLessThan(0.06);
      expect(Math.abs(m.mean[1] + cv), `c=${cv} mean y`).toBeLessThan(0.06);
      for (const d of [0, 1]) expect(Math.abs(Math.sqrt(m.cov[d][d]) - 0.15), `c=${cv} sd ${d}`).toBeLessThan(0.05);
    }
    const { x: zu } = await flow.generate(net, { n: 2000, solver: 'midpoint', nfe: 20, seed: 6 });
    const mu = moments2(data.unstandardize(zu, s));
    // the mixture over c ~ U(−1, 1): variance of 2c is 4/3, plus 0.15²
    expect(Math.abs(mu.cov[0][0] - (4 / 3 + 0.0225))).toBeLessThan(0.25);
    await expect(flow.generate(net, { n: 4, conditions: new Float32Array(3) })).rejects.toThrow(/3 condition values for 4 samples of width 1/);
    t.dispose();
    net.module.dispose();
  });
});

describe('flowgpu train points with sources, pairs and conditions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-d2d-'));
  const A: M2 = [[0.8, -0.6], [0.6, 0.8]]; // a rotation by 36.9°, then a shift
  const mapRows = (x: Float32Array) => Float32Array.from(x, (_, k) => A[k & 1][0] * x[k & ~1] + A[k & 1][1] * x[(k & ~1) + 1] + (k & 1 ? -1 : 2));

  it('--pairs X0 X1 learns the map, reports its paired error, and `sample --from` maps new inputs', async () => {
    const x0 = data.gaussianPoints(4000, [0, 0], [[1, 0], [0.4, 0.6]], 41);
    writeNpy(join(dir, 'x0.npy'), x0, [4000, 2]);
    writeNpy(join(dir, 'x1.npy'), mapRows(x0), [4000, 2]);
    const out = join(dir, 'pairs');
    const r = await runPoints(pointsConfig(['--pairs', join(dir, 'x0.npy'), join(dir, 'x1.npy'), '--steps', '400', '--batch', '256', '--hidden', '64',
      '--layers', '2', '--samples', '400', '--out', out, '--log-every', '50', '--ckpt-every', '400']));
    expect(r.quality).not.toBeNull();
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(m.pairRmsRelative).toBeLessThan(0.05);
    const fresh = data.gaussianPoints(300, [0, 0], [[1, 0], [0.4, 0.6]], 42);
    writeNpy(join(dir, 'new.npy'), fresh, [300, 2]);
    await sampleCkpt([out, '--from', join(dir, 'new.npy'), '--solver', 'rk4', '--nfe', '40', '--out', join(dir, 'mapped.npy')]);
    const got = readNpy(join(dir, 'mapped.npy'));
    expect(got.shape).toEqual([300, 2]);
    const want = mapRows(fresh);
    let e = 0;
    for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got.data[i] - want[i]));
    expect(e).toBeLessThan(0.25); // the worst of 600 coordinates; the data's spread is ≈ 1
  });

  it('--source TOY: a data-to-data run between two built-in toys writes its files; sampling starts from the source', async () => {
    const out = join(dir, 'toys');
    await runPoints(pointsConfig(['--data', 'moons', '--source', '8gaussians', '--steps', '60', '--batch', '128', '--hidden', '32', '--layers', '2',
      '--samples', '300', '--out', out, '--log-every', '20', '--ckpt-every', '60']));
    const cfg = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(cfg.sampler.n).toBe(300);
    await sampleCkpt([out, '--n', '200', '--out', join(dir, 'toys.npy')]);
    expect(readNpy(join(dir, 'toys.npy')).shape).toEqual([200, 2]);
    await expect(sampleCkpt([out, '--sde', '--out', join(dir, 'x.npy')])).rejects.toThrow(/--sde samples from N\(0, I\)/);
    await expect(nll([out, '--data', join(dir, 'x0.npy')])).rejects.toThrow(/flows from data or takes a condition/);
  });

  it('--cond-data: sample --cond-value puts the samples where the condition says', async () => {
    const n = 6000;
    const rng = new data.HostRng(51);
    const c = Float32Array.from({ length: n }, () => 4 * rng.uniform()); // in data units: 0…4
    const x = Float32Array.from({ length: 2 * n }, (_, k) => (k & 1 ? 0.2 * rng.normal() : c[k >> 1] + 0.2 * rng.normal()));
    writeNpy(join(dir, 'c.npy'), c, [n]);
    writeNpy(join(dir, 'xc.npy'), x, [n, 2]);
    const out = join(dir, 'cond');
    await runPoints(pointsConfig(['--data', join(dir, 'xc.npy'), '--cond-data', join(dir, 'c.npy'), '--steps', '600', '--batch', '256', '--hidden', '64',
      '--layers', '2', '--samples', '300', '--out', out, '--log-every', '50', '--ckpt-every', '600']));
    await sampleCkpt([out, '--n', '1000', '--cond-value', '3', '--out', join(dir, 'c3.npy')]);
    const s = Float32Array.from(readNpy(join(dir, 'c3.npy')).data);
    const mx = s.filter((_, i) => i % 2 === 0).reduce((a, b) => a + b, 0) / 1000;
    expect(Math.abs(mx - 3)).toBeLessThan(0.15); // the condition is in data units: standardised as in training
    await expect(sampleCkpt([out, '--cond-value', '1,2', '--out', join(dir, 'y.npy')])).rejects.toThrow(/2 numbers for a condition of 1/);
    await expect(sampleCkpt([join(dir, 'pairs'), '--cond-value', '1', '--out', join(dir, 'y.npy')])).rejects.toThrow(/takes no condition/);
  });

  it('train images --pairs learns an image map (lower contrast, p ↦ 0.5·p + 0.3; a negative, p ↦ 1 − p, could not be a flow: every straight path meets at t = ½) and `sample --from` applies it to new images', async () => {
    const rng = new data.HostRng(61);
    const imgs = (n: number) => Float32Array.from({ length: n * 2 * 5 * 5 }, () => rng.uniform());
    const x0 = imgs(2000);
    writeNpy(join(dir, 'img0.npy'), x0, [2000, 2, 5, 5]);
    writeNpy(join(dir, 'img1.npy'), x0.map((p) => 0.5 * p + 0.3), [2000, 2, 5, 5]);
    const out = join(dir, 'contrast');
    await runImages(imagesConfig(['--pairs', join(dir, 'img0.npy'), join(dir, 'img1.npy'), '--model', 'mlp', '--hidden', '128', '--layers', '2',
      '--steps', '400', '--batch', '128', '--lr', '3e-3', '--ema', '0', '--samples', '100', '--out', out, '--log-every', '50', '--ckpt-every', '400']));
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    // measured: 0.010 (the identity map is 0.153 from it)
    expect(m.pairRmsPixels).toBeLessThan(0.05);
    const fresh = imgs(50);
    writeNpy(join(dir, 'img-new.npy'), fresh, [50, 2, 5, 5]);
    await sampleCkpt([out, '--from', join(dir, 'img-new.npy'), '--out', join(dir, 'contrast-new.npy'), '--png', join(dir, 'contrast.png')]);
    const got = readNpy(join(dir, 'contrast-new.npy'));
    expect(got.shape).toEqual([50, 2, 5, 5]);
    let e = 0;
    for (let i = 0; i < fresh.length; i++) e += (got.data[i] - (0.5 * fresh[i] + 0.3)) ** 2;
    expect(Math.sqrt(e / fresh.length)).toBeLessThan(0.05); // pixels in [0, 1]
    writeNpy(join(dir, 'img-small.npy'), imgs(10).subarray(0, 10 * 25), [10, 1, 5, 5]);
    expect(() => imagesConfig(['--pairs', join(dir, 'img0.npy'), join(dir, 'img-small.npy'), '--batch', '4', '--out', join(dir, 'bad')])).toThrow(/holds 2×5×5 images and .* 1×5×5: a flow maps between images of one shape/);
    writeNpy(join(dir, 'img-few.npy'), imgs(10), [10, 2, 5, 5]);
    expect(() => imagesConfig(['--pairs', join(dir, 'img-few.npy'), join(dir, 'img1.npy'), '--batch', '4', '--out', join(dir, 'bad')])).toThrow(/10 images and .* 2000: image i of one pairs with image i of the other/);
    await expect(sampleCkpt([out, '--from', join(dir, 'img-small.npy'), '--out', join(dir, 'x.npy')])).rejects.toThrow(/1×5×5 images; this model maps 2×5×5/);
  });

  it('malformed combinations get one-line errors naming the fix', () => {
    const x = data.gaussianPoints(100, [0, 0, 0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], 1);
    writeNpy(join(dir, 'x3.npy'), x, [100, 3]);
    writeNpy(join(dir, 'x3short.npy'), x.subarray(0, 150), [50, 3]);
    const cfg = (args: string[]) => () => pointsConfig([...args, '--out', join(dir, 'bad')]);
    expect(cfg(['--pairs', join(dir, 'x3short.npy'), join(dir, 'x3.npy')])).toThrow(/50 rows and .* 100: row i of one pairs with row i of the other/);
    expect(cfg(['--data', join(dir, 'x3.npy'), '--source', 'moons'])).toThrow(/has 2 columns and the data 3/);
    expect(cfg(['--pairs', join(dir, 'x3.npy'), join(dir, 'x3.npy'), '--coupling', 'ot'])).toThrow(/cannot be re-coupled, use --coupling independent/);
    expect(cfg(['--data', 'moons', '--source', 'circles', '--path', 'vp'])).toThrow(/--path vp starts from noise/);
    expect(cfg(['--data', join(dir, 'x3.npy'), '--cond-data', join(dir, 'x3short.npy')])).toThrow(/50 rows for 100 data rows/);
    expect(cfg(['--data', join(dir, 'x3.npy'), '--guidance', '2'])).toThrow(/for conditioned runs \(--cond-data FILE\)/);
    expect(cfg(['--pairs', join(dir, 'x3.npy')])).toThrow(/--pairs takes two files/);
    expect(cfg(['--data', join(dir, 'x3.npy'), '--source', join(dir, 'missing.npy')])).toThrow(/missing\.npy/);
  });
});
