/**
 * Discretised MNIST (issue 13): gray-level quantisation against a float64 reference, the token image
 * data source (shapes, labels, determinism per (seed, step)), the label dropout rate of the discrete
 * objective through the Trainer (binomial bound), the judge's per-class accuracy and within-class
 * distance against hand counts, and `flowgpu train discrete --dataset mnist` / `eval discrete` on a
 * tiny run (its files, a resumed run continuing the loss curve exactly, the flag errors).
 * Guidance with w = 0 equal to conditional sampling is in test/discrete.test.ts.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { discreteConfig, evalDiscrete, evalDiscreteArgs, runDiscrete } from '../src/cli/discrete.js';
import { EpochSampler, imageSet } from '../src/data/images.js';
import { mnistImageSet } from '../src/data/mnist.js';
import { dequantizeLevels, discreteObjective, quantizeLevels, tokenImageBatches, tokenImages } from '../src/discrete/index.js';
import { readNpy } from '../src/io/node-files.js';
import { readMnist } from '../src/io/node-mnist.js';
import { classAccuracy, defaultClassifierConfig, withinClassDistance, type ClassifierConfig } from '../src/metrics/mnist-judge.js';
import { buildNet } from '../src/nn/registry.js';
import { keep, type Tensor } from '../src/tensor/tensor.js';
import { Trainer } from '../src/train/trainer.js';
import { Rng, useGpu } from './helpers.js';

useGpu();

/**
 * The nearest of the K levels k/(K − 1) by search in float64: the levels within 1e-12 of the
 * smallest distance (one, or two at a midpoint, where float rounding may pick either).
 */
function nearestLevelsRef(p: number, levels: number): number[] {
  const dist = Array.from({ length: levels }, (_, k) => Math.abs(p - k / (levels - 1)));
  const best = Math.min(...dist);
  return dist.flatMap((d, k) => (d - best < 1e-12 ? [k] : []));
}

describe('gray levels', () => {
  it('quantise to the nearest level (float64 search, halves up) and dequantise to k/(K − 1)', () => {
    const rng = new Rng(7);
    for (const levels of [2, 3, 4, 8, 256]) {
      // random intensities, the levels themselves, the midpoints between them and the ends
      const p = Array.from({ length: 2000 }, () => rng.uniform());
      for (let k = 0; k < levels; k++) p.push(k / (levels - 1));
      for (let k = 0; k + 1 < levels; k++) p.push((k + 0.5) / (levels - 1));
      const px = Float64Array.from(p);
      const q = quantizeLevels(px, levels);
      for (let i = 0; i < px.length; i++) expect(nearestLevelsRef(px[i], levels), `p = ${px[i]}, K = ${levels}`).toContain(q[i]);
      const back = dequantizeLevels(q, levels);
      for (let i = 0; i < px.length; i++) {
        expect(back[i]).toBe(Math.fround(q[i] / (levels - 1)));
        expect(Math.abs(back[i] - px[i])).toBeLessThanOrEqual(0.5 / (levels - 1) + 1e-7);
      }
      // a level survives the round trip exactly, both ways
      const ks = Int32Array.from({ length: levels }, (_, k) => k);
      expect(Array.from(quantizeLevels(dequantizeLevels(ks, levels), levels))).toEqual(Array.from(ks));
    }
  });

  it('rounds exact midpoints up', () => {
    // midpoints that binary floats hold exactly: K − 1 a power of two
    for (const levels of [2, 3, 5, 9, 129]) {
      const mids = Array.from({ length: levels - 1 }, (_, k) => (k + 0.5) / (levels - 1));
      expect(Array.from(quantizeLevels(mids, levels))).toEqual(mids.map((_, k) => k + 1));
    }
  });

  it('refuses bad levels, intensities and tokens by name', () => {
    expect(() => quantizeLevels([0.5], 1)).toThrow(/gray levels K must be an integer in 2…256, got 1/);
    expect(() => quantizeLevels([0.5], 257)).toThrow(/got 257/);
    expect(() => quantizeLevels([0.5], 2.5)).toThrow(/got 2.5/);
    expect(() => quantizeLevels([0.2, 1.5], 4)).toThrow(/pixel 1 is 1.5/);
    expect(() => quantizeLevels([NaN], 4)).toThrow(/pixel 0 is NaN/);
    expect(() => dequantizeLevels([0, 4], 4)).toThrow(/token 1 is 4, not a gray level 0…3/);
  });
});

describe('token images', () => {
  // 40 images of 1×3×2 with labels 0…4: pixel j of image i is ((7i + j) mod 11)/10
  const n = 40;
  const d = 6;
  const px = Float32Array.from({ length: n * d }, (_, k) => ((7 * Math.floor(k / d) + (k % d)) % 11) / 10);
  const labels = Int32Array.from({ length: n }, (_, i) => (3 * i) % 5);
  const set = imageSet(px, [n, 1, 3, 2], { labels, classes: 5 });

  it('quantises a labelled set and serves its batches by (seed, step): shapes, rows, labels, replay', async () => {
    const ti = tokenImages(set, 4);
    expect(ti).toMatchObject({ count: n, length: d, levels: 4, shape: [1, 3, 2], classes: 5 });
    expect(Array.from(ti.tokens)).toEqual(Array.from(quantizeLevels(px, 4)));
    const src = tokenImageBatches(ti, 16, 9);
    const sampler = new EpochSampler(n, 16, 9);
    const seen: string[] = [];
    for (const step of [0, 1, 2, 5]) {
      const b = src.batch(step);
      expect(b.x1.dtype).toBe('i32');
      expect(b.x1.shape).toEqual([16, d]);
      expect(b.labels!.shape).toEqual([16]);
      const x = (await b.x1.data()) as Int32Array;
      const y = (await b.labels!.data()) as Int32Array;
      // row r is image rows[r] of the epoch's shuffle, with its label
      const rows = sampler.batchAt(step);
      for (let r = 0; r < 16; r++) {
        expect(Array.from(x.subarray(r * d, (r + 1) * d))).toEqual(Array.from(ti.tokens.subarray(rows[r] * d, (rows[r] + 1) * d)));
        expect(y[r]).toBe(labels[rows[r]]);
      }
      seen.push(Array.from(x).join());
      // a fresh source replays the step
      const again = tokenImageBatches(ti, 16, 9).batch(step);
      expect(Array.from((await again.x1.data()) as Int32Array)).toEqual(Array.from(x));
      for (const t of [b.x1, b.labels!, again.x1, again.labels!]) t.dispose();
    }
    expect(new Set(seen).size).toBe(seen.length);
    // another seed shuffles differently
    const other = tokenImageBatches(ti, 16, 10).batch(0);
    expect(((await other.x1.data()) as Int32Array).join()).not.toBe(seen[0]);
    other.x1.dispose();
    other.labels!.dispose();
  });

  it('MNIST 16×16 at K = 4: 256 tokens per digit, every level used, the digits as labels', () => {
    const ti = tokenImages(mnistImageSet(readMnist('test'), { size: 16, limit: 300 }), 4);
    expect(ti).toMatchObject({ count: 300, length: 256, levels: 4, classes: 10 });
    const hist = [0, 0, 0, 0];
    for (const v of ti.tokens) hist[v]++;
    expect(hist.every((h) => h > 0)).toBe(true);
    // mostly background: level 0 holds most pixels
    expect(hist[0] / ti.tokens.length).toBeGreaterThan(0.6);
    expect(Array.from(ti.labels!.subarray(0, 5))).toEqual(Array.from(readMnist('test').labels.subarray(0, 5)));
  });
});

describe('label dropout of the discrete objective', () => {
  it('replaces labels by ∅ (−1) at the Trainer\'s rate and keeps the rest', async () => {
    const net = buildNet({ arch: 'tokenmlp', model: { kind: 'tokenmlp', length: 6, categories: 4, vocabulary: 5, embed: 2, hidden: 8, hiddenLayers: 1, classes: 5 } }, 2);
    const seenLabels: Tensor[] = [];
    const spy = { ...net, forward: (x: Tensor, t: Tensor, l?: Tensor) => (seenLabels.push(keep(l!)), net.forward(x, t, l)) };
    const n = 40;
    const labels = Int32Array.from({ length: n }, (_, i) => i % 5);
    const set = imageSet(Float32Array.from({ length: n * 6 }, (_, k) => (k % 4) / 3), [n, 1, 3, 2], { labels, classes: 5 });
    const ti = tokenImages(set, 4);
    const p = 0.3;
    const batch = 40;
    const steps = 12;
    const trainer = new Trainer({ net: spy, data: tokenImageBatches(ti, batch, 3), steps, labelDropout: p, seed: 5, objective: discreteObjective({ source: 'mask', loss: 'ce' }) });
    const sampler = new EpochSampler(n, batch, 3);
    let dropped = 0;
    for (let s = 0; s < steps; s++) {
      (await trainer.trainStep(s)).dispose();
      const got = (await seenLabels[s].data()) as Int32Array;
      const want = sampler.batchAt(s);
      for (let i = 0; i < batch; i++) {
        if (got[i] === -1) dropped++;
        else expect(got[i]).toBe(labels[want[i]]);
      }
    }
    const total = steps * batch;
    // binomial: within 5 standard deviations of p·N (N = 480: 144 ± 50)
    expect(Math.abs(dropped - p * total)).toBeLessThan(5 * Math.sqrt(total * p * (1 - p)));
    for (const t of seenLabels) t.dispose();
    trainer.dispose();
  });
});

describe('the judge\'s per-class figures', () => {
  it('per-class accuracy and the within-class distance against hand counts', () => {
    expect(classAccuracy([0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 0], 4)).toEqual([0.5, 1, 2 / 3, null]);
    // class 0: three images at distances 1, 1, √2 (mean (2 + √2)/3); class 1: one image (skipped)
    const px = [0, 0, 1, 0, 0, 1, 5, 5];
    expect(withinClassDistance(px, [0, 0, 0, 1], 2)).toBeCloseTo((2 + Math.SQRT2) / 3, 12);
    expect(withinClassDistance([1, 1, 1, 1], [3, 3], 2)).toBe(0);
  });
});

describe('flowgpu train discrete --dataset mnist', () => {
  // a narrow judge on 3000 images (as test/cli-mnist.test.ts), cached in a fresh directory
  const quick: ClassifierConfig = { ...defaultClassifierConfig(16), hidden: [64, 32], trainImages: 3000, epochs: 2, batch: 100, lr: 3e-3 };
  const cacheDir = mkdtempSync(join(tmpdir(), 'fg-dm-clf-'));
  const tiny = [
    '--dataset', 'mnist', '--levels', '4', '--hidden', '32', '--embed', '2', '--layers', '1', '--batch', '32', '--log-every', '5', '--ckpt-every', '10',
    '--samples', '20', '--sample-steps', '4', '--elbo', '10', '--strata', '2',
  ];
  const config = (argv: string[]) => {
    const o = discreteConfig(argv);
    o.s.judge = { cacheDir, config: quick, testImages: 500 };
    return o;
  };
  const quiet = () => [vi.spyOn(process.stdout, 'write').mockImplementation(() => true), vi.spyOn(process.stderr, 'write').mockImplementation(() => true)];

  it('writes the digits, the grid and the judge\'s figures; a resumed run continues the loss curve exactly; eval reads the model', async () => {
    const a = mkdtempSync(join(tmpdir(), 'fg-dma-'));
    const b = mkdtempSync(join(tmpdir(), 'fg-dmb-'));
    const spies = quiet();
    try {
      const full = await runDiscrete(config([...tiny, '--steps', '20', '--out', a]));
      for (const f of ['model.safetensors', 'checkpoint.safetensors', 'samples.npy', 'samples.labels.npy', 'grid.png', 'loss.png', 'metrics.json']) expect(existsSync(join(a, f)), f).toBe(true);
      const s = readNpy(join(a, 'samples.npy'));
      expect(s.shape).toEqual([20, 1, 16, 16]);
      // dequantised levels: every pixel is one of 0, 1/3, 2/3, 1
      expect(Array.from(s.data).every((v) => [0, 1, 2, 3].some((k) => v === Math.fround(k / 3)))).toBe(true);
      expect(Array.from(readNpy(join(a, 'samples.labels.npy')).data)).toEqual(Array.from({ length: 20 }, (_, i) => Math.floor(i / 2)));
      const m = JSON.parse(readFileSync(join(a, 'metrics.json'), 'utf8'));
      expect(m).toMatchObject({ dataset: 'mnist', levels: 4, labelDropout: 0.1, samples: 20, guidance: 0 });
      expect(m.judged.perClass).toHaveLength(10);
      expect(m.judged.accuracy).toBeGreaterThanOrEqual(0);
      // the quick judge reads quantised real digits far above chance (10%)
      expect(m.heldOutQuantised.accuracy).toBeGreaterThan(0.5);
      expect(Number.isFinite(m.elboNats)).toBe(true);
      expect(m.elboBitsPerPixel).toBeGreaterThan(0);
      await runDiscrete(config([...tiny, '--steps', '10', '--out', b]));
      const resumed = await runDiscrete(config([...tiny, '--steps', '20', '--out', b, '--resume']));
      expect(resumed.history.lossStep).toEqual(full.history.lossStep);
      expect(resumed.history.loss).toEqual(full.history.loss);
      const args = evalDiscreteArgs([join(a, 'model.safetensors'), '--samples', '10', '--sample-steps', '2', '--elbo', '0', '--guidance', '1.5']);
      const r = await evalDiscrete({ ...args, judge: { cacheDir, config: quick, testImages: 500 } });
      expect(r).toMatchObject({ guidance: 1.5, samples: 10 });
      expect(JSON.parse(readFileSync(join(a, 'eval.json'), 'utf8')).guidance).toBe(1.5);
      expect(existsSync(join(a, 'eval-grid.png'))).toBe(true);
    } finally {
      for (const sp of spies) sp.mockRestore();
    }
  }, 300_000);

  it('names a bad flag and what it takes', () => {
    expect(() => discreteConfig(['--dataset', 'mnist', '--levels', '1'])).toThrow(/--levels must be ≥ 2/);
    expect(() => discreteConfig(['--dataset', 'mnist', '--levels', '300'])).toThrow(/--levels must be ≤ 256/);
    expect(() => discreteConfig(['--levels', '4'])).toThrow(/--levels is for --dataset mnist/);
    expect(() => discreteConfig(['--label-dropout', '0.2'])).toThrow(/--label-dropout is for --dataset mnist/);
    expect(() => discreteConfig(['--guidance', '1'])).toThrow(/--guidance is for the class-conditional MNIST model/);
    expect(() => discreteConfig(['--dataset', 'mnist', '--samples', '15'])).toThrow(/multiple of 10/);
    expect(() => discreteConfig(['--dataset', 'mnist', '--label-dropout', '1.5'])).toThrow(/--label-dropout must be ≤ 1/);
    expect(() => evalDiscreteArgs(['--exact', '--dataset', 'mnist'])).toThrow(/MNIST has no enumerable pmf/);
  });
});
