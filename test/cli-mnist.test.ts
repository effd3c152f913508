import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accuracy,
  classifyPixels,
  classifySplit,
  defaultClassifierConfig,
  evaluateMnistSamples,
  imageSamplesFrom,
  trainDigitClassifier,
  type ClassifierConfig,
} from '../src/metrics/mnist-judge.js';
import { mnistConfig, runMnist } from '../src/cli/train.js';
import { sampleCkpt } from '../src/cli/sample.js';
import { mnistPixels } from '../src/data/mnist.js';
import { classLabels, generate } from '../src/flow/generate.js';
import { labelsPath, loadModelFile, readNpy, readSafetensors, writeNpy } from '../src/io/node-files.js';
import { loadMnistJudge, readMnist } from '../src/io/node-mnist.js';
import { noGrad, tensor, full, randNormal } from '../src/internal.js';
import { useGpu } from './helpers.js';

useGpu();

// 16×16 MLP, hidden 32, 300 training images: a run of 20 steps takes seconds on lavapipe.
const tiny = ['--size', '16', '--model', 'mlp', '--hidden', '32', '--layers', '2', '--batch', '32', '--limit', '300',
  '--log-every', '5', '--ckpt-every', '10', '--samples', '20', '--nfe', '4', '--ema', '0.9'];

describe('flowgpu train mnist', () => {
  let run: string;
  beforeAll(async () => {
    run = mkdtempSync(join(tmpdir(), 'fg-mn-'));
  });

  it('writes the run files; a resumed run reproduces the uninterrupted loss curve exactly', async () => {
    const full20 = await runMnist(mnistConfig([...tiny, '--cond', '--steps', '20', '--out', run]));
    for (const f of ['model.safetensors', 'checkpoint.safetensors', 'samples.npy', 'samples.labels.npy', 'grid.png', 'loss.png', 'metrics.json']) {
      expect(existsSync(join(run, f)), f).toBe(true);
    }
    const b = mkdtempSync(join(tmpdir(), 'fg-mnb-'));
    await runMnist(mnistConfig([...tiny, '--cond', '--steps', '10', '--out', b]));
    const resumed = await runMnist(mnistConfig([...tiny, '--cond', '--steps', '20', '--out', b, '--resume']));
    expect(full20.history.lossStep).toEqual([5, 10, 15, 20]);
    expect(resumed.history.lossStep).toEqual(full20.history.lossStep);
    // same seed, same adapter, data order replayed by EpochSampler.seek: bit-identical
    expect(resumed.history.loss).toEqual(full20.history.loss);
    expect(resumed.pixels).toEqual(full20.pixels);

    // DESIGN.md: images [N, 1, H, W] float32 in [0, 1]; labels int32 [N], here 2 of each digit in order
    const s = readNpy(join(run, 'samples.npy'));
    expect(s.dtype).toBe('float32');
    expect(s.shape).toEqual([20, 1, 16, 16]);
    expect(s.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    const l = readNpy(join(run, 'samples.labels.npy'));
    expect(l.dtype).toBe('int32');
    expect(l.shape).toEqual([20]);
    expect([...l.data]).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);

    // the MLP of the issue: Linear(256 + 1 + 10, H) on concat[x, t, one-hot(c)], torch Sequential names
    const file = readSafetensors(join(run, 'model.safetensors'));
    expect(file.tensors.map((t) => t.name).sort()).toEqual(['0.bias', '0.weight', '2.bias', '2.weight', '4.bias', '4.weight']);
    expect(file.tensors.find((t) => t.name === '0.weight')!.shape).toEqual([32, 256 + 1 + 10]);
    expect(file.tensors.find((t) => t.name === '4.weight')!.shape).toEqual([256, 32]);
  });

  it('flowgpu sample: --per-class, --class k and the label file layout; unconditional models refuse labels', async () => {
    const out = join(run, 's.npy');
    await sampleCkpt([run, '--n', '30', '--per-class', '--solver', 'euler', '--nfe', '3', '--out', out, '--png', join(run, 's.png')]);
    const s = readNpy(out);
    expect(s.shape).toEqual([30, 1, 16, 16]);
    const l = readNpy(labelsPath(out));
    expect(l.dtype).toBe('int32');
    expect([...l.data]).toEqual(Array.from({ length: 30 }, (_, i) => Math.floor(i / 3)));
    expect(existsSync(join(run, 's.png'))).toBe(true);
    await sampleCkpt([run, '--n', '7', '--class', '3', '--solver', 'euler', '--nfe', '2', '--out', out]);
    expect([...readNpy(labelsPath(out)).data]).toEqual(new Array(7).fill(3));
    await expect(sampleCkpt([run, '--n', '15', '--per-class', '--out', out])).rejects.toThrow(/multiple of 10/);
    await expect(sampleCkpt([run, '--class', '10', '--out', out])).rejects.toThrow(/--class must be ≤ 9/);
    await expect(sampleCkpt([run, '--sde', '--out', out])).rejects.toThrow(/2-D toy/);

    const unc = mkdtempSync(join(tmpdir(), 'fg-mnu-'));
    await runMnist(mnistConfig([...tiny, '--steps', '5', '--out', unc]));
    expect(existsSync(join(unc, 'samples.labels.npy'))).toBe(false);
    await expect(sampleCkpt([unc, '--per-class', '--out', join(unc, 'x.npy')])).rejects.toThrow(/unconditional/);
  });

  it('guidance: w = 1 is plain conditional sampling and w = 2 follows v(∅) + w·(v(c) − v(∅)) (host Euler reference)', async () => {
    const { net } = loadModelFile(run);
    const n = 20;
    const steps = 3;
    const labels = classLabels(n, 'random', { seed: 4 });
    const x0 = await noGrad(() => randNormal([n, 1, 16, 16], { seed: 9, step: 0 })).f32();
    const evalV = async (x: Float32Array, t: number, lab: Int32Array) =>
      noGrad(() => net.forward(tensor(x, [n, 1, 16, 16]), full([n], t), tensor(lab, [n], 'i32'))).f32();
    for (const w of [1, 2]) {
      const got = (await generate(net, { n, seed: 9, solver: 'euler', steps, labels, guidance: w })).x;
      // reference: two separate forward passes read back, combined and stepped on the host (float64)
      const x = Float64Array.from(x0);
      for (let k = 0; k < steps; k++) {
        const xf = Float32Array.from(x);
        const vc = await evalV(xf, k / steps, labels);
        const vu = await evalV(xf, k / steps, new Int32Array(n).fill(-1));
        for (let i = 0; i < x.length; i++) x[i] += (vu[i] + w * (vc[i] - vu[i])) / steps;
      }
      // f32 network outputs (~1) combined in f32 vs f64 over 3 steps: differences of a few 1e-7
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(got[i] - x[i]));
      expect(worst).toBeLessThan(1e-4);
    }
    net.module.dispose();
  });

  it('trains and samples the UNet too (one step of the smallest one: the wiring, with UNet names)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-mnunet-'));
    await runMnist(mnistConfig(['--size', '16', '--model', 'unet', '--cond', '--hidden', '8', '--layers', '1', '--batch', '2', '--limit', '10',
      '--steps', '1', '--log-every', '1', '--ckpt-every', '1', '--samples', '10', '--solver', 'euler', '--nfe', '1', '--guidance', '2', '--out', dir]));
    expect(readNpy(join(dir, 'samples.npy')).shape).toEqual([10, 1, 16, 16]);
    const names = new Map(readSafetensors(join(dir, 'model.safetensors')).tensors.map((t) => [t.name, t.shape]));
    expect(names.get('label_emb.weight')).toEqual([11, 32]); // 10 classes + ∅, 4 × base channels
    expect(names.get('conv_in.weight')).toEqual([8, 1, 3, 3]);
  });

  it('rejects bad flags with a message that names them', () => {
    expect(() => mnistConfig(['--size', '20'])).toThrow(/--size takes one of 16, 28/);
    expect(() => mnistConfig(['--model', 'resnet'])).toThrow(/--model takes one of unet, mlp/);
    expect(() => mnistConfig(['--model', 'unet', '--hidden', '12'])).toThrow(/multiple of 8/);
    expect(() => mnistConfig(['--cond', '--samples', '15'])).toThrow(/multiple of 10/);
    expect(() => mnistConfig(['--limit', '10', '--batch', '32'])).toThrow(/exceeds --limit/);
    expect(() => mnistConfig(['--log-every', '7', '--ckpt-every', '10'])).toThrow(/multiple of --log-every/);
  });
});

describe('flowgpu eval mnist: the in-engine classifier', () => {
  // A quick recipe for tests: a narrower MLP, 3000 training images, 3 epochs of 30 steps.
  const quick: ClassifierConfig = { ...defaultClassifierConfig(16), hidden: [128, 64], trainImages: 3000, epochs: 3, batch: 100, lr: 3e-3 };
  const testImages = 2000;

  it('trains quickly on a small subset to a useful accuracy, and caches itself', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'fg-clf-'));
    const notes: string[] = [];
    const a = await loadMnistJudge(16, { cacheDir: cache, config: quick, testImages, onNote: (s) => notes.push(s) });
    expect(notes.join()).toMatch(/training the 16×16 MNIST classifier/);
    // 3000 images, 90 AdamW steps: measured 82.7 % on the first 2000 test images; 75 % leaves room
    // while failing a classifier that learned nothing (10 %) or a broken input mapping.
    expect(a.testAccuracy).toBeGreaterThan(0.75);
    const b = await loadMnistJudge(16, { cacheDir: cache, config: quick, testImages, onNote: (s) => notes.push(s) });
    expect(notes.length).toBe(1); // loaded from the cache, not trained again
    expect(b.testAccuracy).toBe(a.testAccuracy);
    expect(existsSync(join(cache, 'mnist-classifier-16.safetensors'))).toBe(true);

    // Real test images as "samples" (pixels from the host resize, not the GPU path): the FD is near the
    // real row's and the accuracy against the true labels near the classifier's; noise is far away.
    const test = readMnist('test');
    const n = 300;
    const px = mnistPixels({ ...test, count: n, images: test.images.subarray(0, n * 784) }, 16);
    const real = await evaluateMnistSamples(px, 16, test.labels.subarray(0, n), a, readMnist('train'));
    expect(real.samples.accuracy!).toBeGreaterThan(0.7);
    expect(real.real.accuracy!).toBeGreaterThan(0.7);
    expect(real.samples.histogram.reduce((s, h) => s + h, 0)).toBeCloseTo(1, 12);
    const noise = Float32Array.from({ length: n * 256 }, (_, i) => ((i * 7919) % 1000) / 1000);
    const bad = await evaluateMnistSamples(noise, 16, null, a, readMnist('train'));
    expect(bad.samples.accuracy).toBeNull();
    // FD at 300 images of 64 features: real vs test ≈ the floor; structureless images are ≥ 10× further
    expect(real.samples.fd).toBeLessThan(2 * real.real.fd + 1);
    expect(bad.samples.fd).toBeGreaterThan(10 * real.samples.fd);

    // the GPU gather path and the host resize give the same predictions for the same images
    const gpuPred = (await classifySplit(a.classifier, test, 0, 200)).predictions;
    const hostPred = (await classifyPixels(a.classifier, px.subarray(0, 200 * 256))).predictions;
    expect(accuracy(gpuPred, hostPred)).toBeGreaterThan(0.99);
    a.classifier.dispose();
    b.classifier.dispose();
  });

  it('reads samples as DESIGN.md writes them and refuses other layouts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-ev-'));
    writeNpy(join(dir, 'ok.npy'), new Float32Array(3 * 256).fill(0.5), [3, 1, 16, 16]);
    expect(imageSamplesFrom(readNpy(join(dir, 'ok.npy')))).toMatchObject({ n: 3, size: 16 });
    writeNpy(join(dir, 'wide.npy'), new Float32Array(3 * 400), [3, 1, 20, 20]);
    expect(() => imageSamplesFrom(readNpy(join(dir, 'wide.npy')))).toThrow(/16×16 and 28×28/);
    writeNpy(join(dir, 'bytes.npy'), new Float32Array(256).fill(255), [1, 1, 16, 16]);
    expect(() => imageSamplesFrom(readNpy(join(dir, 'bytes.npy')))).toThrow(/\[0, 1\]/);
  });

  it('trainDigitClassifier alone: the loss falls on a few batches', async () => {
    const clf = await trainDigitClassifier({ ...quick, trainImages: 500, epochs: 3, batch: 50, lr: 5e-3 }, readMnist('train'));
    const test = readMnist('test');
    const acc = accuracy((await classifySplit(clf, test, 0, 300)).predictions, test.labels.subarray(0, 300));
    // 30 steps of AdamW on 500 images: measured 70 %; well above chance (10 %), far from converged
    expect(acc).toBeGreaterThan(0.5);
    clf.dispose();
  });
});
