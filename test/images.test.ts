// Images from the user's files (issue 12, item 2): PNG folders (gray and RGB, class sub-folders,
// labels.npy) read back against the pixel values written with flowgpu's own encoder, .npy and IDX
// arrays, the PNG conversions (16-bit, palette, opaque alpha) against values computed here, the
// [−1, 1] scaling and its exact way back to bytes, every malformed input as a one-line FlowGpuError
// naming the file and the fix, a UNet on RGB images through the Trainer, and `flowgpu train images`
// end to end (its files, then `flowgpu sample` of the run).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as fastPngEncode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { data, encodeNpy, FlowGpuError, io, nn, tensor, train } from '../src/internal.js';
import { encodePng, type RasterImage } from '../src/io/png.js';
import { decodePng } from '../src/io/png-decode.js';
import { readImages } from '../src/io/node-images.js';
import { readNpy, writePng, zlibDeflate } from '../src/io/node-files.js';
import { imagesConfig, runImages } from '../src/cli/images.js';
import { sampleCkpt } from '../src/cli/sample.js';
import { Rng, useGpu } from './helpers.js';

useGpu();

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

/** A random 8-bit image, row-major interleaved (as PNG stores it). */
function randomImage(rng: Rng, width: number, height: number, channels: 1 | 3): RasterImage {
  return { width, height, channels, pixels: Uint8Array.from({ length: width * height * channels }, () => Math.floor(rng.uniform() * 256)) };
}

/** Interleaved [H, W, C] → planar [C, H, W], the layout of an image set. */
const planar = (img: RasterImage) =>
  Uint8Array.from({ length: img.pixels.length }, (_, i) => {
    const c = Math.floor(i / (img.width * img.height));
    const p = i % (img.width * img.height);
    return img.pixels[p * img.channels + c];
  });

/** The FlowGpuError `fn` throws: one line, matching every pattern. */
function expectError(fn: () => unknown, ...patterns: RegExp[]): void {
  let e: unknown = null;
  try {
    fn();
  } catch (x) {
    e = x;
  }
  expect(e, patterns.join(' ')).toBeInstanceOf(FlowGpuError);
  const m = (e as Error).message;
  expect(m).not.toMatch(/\n/);
  for (const p of patterns) expect(m).toMatch(p);
}

describe('reading images', () => {
  it('a folder of class sub-folders: RGB pixels as written, planar, labels from the sorted folder names', () => {
    const dir = tmp('fg-img-');
    const rng = new Rng(1);
    const written: { cls: number; img: RasterImage }[] = [];
    // written out of order: the reader sorts folder and file names
    for (const [cls, name, files] of [[1, 'zebra', ['b.png', 'a.png']], [0, 'apple', ['x.png']]] as const) {
      mkdirSync(join(dir, name));
      for (const f of files) {
        const img = randomImage(rng, 5, 3, 3);
        writePng(join(dir, name, f), img);
        written.push({ cls, img: { ...img, pixels: img.pixels } });
      }
    }
    const r = readImages(dir);
    expect([r.count, r.channels, r.height, r.width]).toEqual([3, 3, 3, 5]);
    expect(r.classNames).toEqual(['apple', 'zebra']);
    expect(r.files!.map((f) => f.slice(dir.length + 1))).toEqual(['apple/x.png', 'zebra/a.png', 'zebra/b.png']);
    expect([...r.labels!]).toEqual([0, 1, 1]);
    expect(r.classes).toBe(2);
    // apple/x.png, zebra/a.png (written second), zebra/b.png (written first)
    const order = [written[2], written[1], written[0]];
    expect(r.pixels).toBeInstanceOf(Uint8Array);
    expect([...r.pixels]).toEqual(order.flatMap((w) => [...planar(w.img)]));
  });

  it('a flat gray folder, with labels.npy in file-name order; the stored (uncompressed) PNG stream reads too', () => {
    const dir = tmp('fg-img-');
    const rng = new Rng(2);
    const imgs = [0, 1, 2, 3].map(() => randomImage(rng, 4, 6, 1));
    imgs.forEach((img, i) => writeFileSync(join(dir, `im${i}.png`), i % 2 ? encodePng(img) : encodePng(img, zlibDeflate)));
    writeFileSync(join(dir, 'labels.npy'), encodeNpy(Int32Array.of(2, 0, 1, 2), [4]));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    const r = readImages(dir);
    expect([r.count, r.channels, r.height, r.width]).toEqual([4, 1, 6, 4]);
    expect([...r.pixels]).toEqual(imgs.flatMap((m) => [...m.pixels]));
    expect([...r.labels!]).toEqual([2, 0, 1, 2]);
    expect(r.classes).toBe(3);
    expect(r.labelsFile).toBe(join(dir, 'labels.npy'));
  });

  it('converts 16-bit, palette, low bit depths and opaque alpha to 8-bit gray or RGB; refuses transparency', () => {
    const v16 = Uint16Array.of(0, 257, 32896, 65535, 1000, 40000);
    const g16 = decodePng(fastPngEncode({ width: 3, height: 2, data: v16, depth: 16, channels: 1 }));
    expect(g16.channels).toBe(1);
    expect([...g16.pixels]).toEqual([...v16].map((v) => Math.round(v / 257)));
    const rgba = Uint8Array.of(10, 20, 30, 255, 40, 50, 60, 255);
    const opaque = decodePng(fastPngEncode({ width: 2, height: 1, data: rgba, depth: 8, channels: 4 }));
    expect(opaque).toEqual({ width: 2, height: 1, channels: 3, pixels: Uint8Array.of(10, 20, 30, 40, 50, 60) });
    const ga = decodePng(fastPngEncode({ width: 2, height: 1, data: Uint8Array.of(7, 255, 9, 255), depth: 8, channels: 2 }));
    expect(ga).toEqual({ width: 2, height: 1, channels: 1, pixels: Uint8Array.of(7, 9) });
    const palette = [[255, 0, 0], [0, 128, 255], [5, 6, 7]];
    const pal = decodePng(fastPngEncode({ width: 3, height: 1, data: Uint8Array.of(2, 0, 1), depth: 8, channels: 1, palette }));
    expect(pal).toEqual({ width: 3, height: 1, channels: 3, pixels: Uint8Array.of(5, 6, 7, 255, 0, 0, 0, 128, 255) });
    // 2-bit gray: 0, 1, 2, 3 → 0, 85, 170, 255
    const g2 = decodePng(fastPngEncode({ width: 4, height: 1, data: Uint8Array.of(0b00011011), depth: 2, channels: 1 }));
    expect([...g2.pixels]).toEqual([0, 85, 170, 255]);
    const seeThrough = fastPngEncode({ width: 2, height: 1, data: Uint8Array.of(10, 20, 30, 255, 40, 50, 60, 128), depth: 8, channels: 4 });
    expectError(() => decodePng(seeThrough, 'a.png'), /^a\.png: /, /pixel \(1, 0\) is transparent/, /flatten/);
  });

  it('.npy [N, C, H, W] of uint8, [N, H, W] of float32 in [0, 1] with X.labels.npy beside it, and int32 bytes', () => {
    const dir = tmp('fg-img-');
    const u8 = Uint8Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => (i * 11) % 256);
    const npyU8 = (shape: number[]) => {
      const b = encodeNpy(new Float32Array(u8.length), shape); // a float32 header, rewritten to uint8
      const text = new TextDecoder('latin1').decode(b.subarray(0, 128)).replace("'<f4'", "'|u1'");
      const hlen = b[8] | (b[9] << 8);
      return Uint8Array.from([...Array.from(text.slice(0, 10 + hlen), (c) => c.charCodeAt(0)), ...u8]);
    };
    writeFileSync(join(dir, 'a.npy'), npyU8([2, 3, 2, 2]));
    const a = readImages(join(dir, 'a.npy'));
    expect([a.count, a.channels, a.height, a.width]).toEqual([2, 3, 2, 2]);
    expect(a.pixels).toEqual(u8);
    expect(a.labels).toBeNull();
    const f = Float32Array.from({ length: 3 * 4 * 5 }, (_, i) => (i % 7) / 6);
    writeFileSync(join(dir, 'b.npy'), encodeNpy(f, [3, 4, 5]));
    writeFileSync(join(dir, 'b.labels.npy'), encodeNpy(Float32Array.of(1, 0, 1), [3]));
    const b = readImages(join(dir, 'b.npy'));
    expect([b.count, b.channels, b.height, b.width]).toEqual([3, 1, 4, 5]);
    expect(b.pixels).toEqual(f);
    expect([...b.labels!]).toEqual([1, 0, 1]);
    writeFileSync(join(dir, 'c.npy'), encodeNpy(Int32Array.of(0, 255, 7, 9), [1, 1, 2, 2]));
    expect([...readImages(join(dir, 'c.npy')).pixels]).toEqual([0, 255, 7, 9]);
  });

  it('IDX images [N, H, W] with an IDX labels file', () => {
    const dir = tmp('fg-img-');
    const px = Array.from({ length: 3 * 2 * 4 }, (_, i) => (i * 29) % 256);
    writeFileSync(join(dir, 'img-idx3-ubyte'), Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 4, ...px]));
    writeFileSync(join(dir, 'lab-idx1-ubyte'), Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 3, 4, 0, 9]));
    const r = readImages(join(dir, 'img-idx3-ubyte'), { labels: join(dir, 'lab-idx1-ubyte') });
    expect([r.count, r.channels, r.height, r.width]).toEqual([3, 1, 2, 4]);
    expect([...r.pixels]).toEqual(px);
    expect([...r.labels!]).toEqual([4, 0, 9]);
    expect(r.classes).toBe(10);
  });

  it('scales to [−1, 1] as MNIST does, on the host and in the GPU gather, and every byte comes back exactly', async () => {
    const bytes = Uint8Array.from({ length: 256 * 3 }, (_, i) => i % 256);
    const set = data.imageSet(bytes, [4, 3, 8, 8]);
    const x = data.imagesToModel(set);
    for (let i = 0; i < bytes.length; i++) expect(x[i]).toBe(Math.fround((2 * bytes[i]) / 255 - 1));
    expect(data.modelToBytes(x)).toEqual(bytes);
    const ds = new data.ImageDataset(set);
    const { x: g, labels } = ds.batch(Int32Array.of(3, 0));
    expect(labels).toBeUndefined();
    expect(g.shape).toEqual([2, 3, 8, 8]);
    const got = await g.f32();
    const want = [...x.subarray(3 * 192, 4 * 192), ...x.subarray(0, 192)];
    // f32 a·byte + b on the GPU with a = 2/255 rounded: within 4e-7 of the host value, and the same byte back
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(4e-7);
    expect(data.modelToBytes(got)).toEqual(Uint8Array.from([...bytes.subarray(3 * 192), ...bytes.subarray(0, 192)]));
    g.dispose();
    ds.dispose();
    // floats in [0, 1]: uploaded in model space, gathered as they are
    const f = data.imageSet(Float32Array.from({ length: 2 * 4 }, (_, i) => i / 7), [2, 2, 1, 2], { labels: [1, 0] });
    const fd = new data.ImageDataset(f);
    const fb = fd.batch(Int32Array.of(1));
    expect([...(await fb.x.f32())]).toEqual([...data.imagesToModel(f).subarray(4)]);
    expect([...(await fb.labels!.data())]).toEqual([0]);
    fb.x.dispose();
    fb.labels!.dispose();
    fd.dispose();
  });
});

describe('sample grids', () => {
  it('RGB: every cell shows its planar image as RGB pixels; one row per class present', () => {
    const img = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i / 23);
    const g = io.imageGrid(img, 2, 2, 2, { channels: 3, gap: 1, cols: 2 });
    expect([g.width, g.height, g.channels]).toEqual([7, 4, 3]);
    // image 1, pixel (x 0, y 1) lands at (1 + 2 + 1, 1 + 1) = (4, 2)
    for (let c = 0; c < 3; c++) expect(g.pixels[(2 * 7 + 4) * 3 + c]).toBe(Math.round(img[((3 + c) * 2 + 1) * 2] * 255));
    expect(g.pixels[0]).toBe(128); // the gap
    // labels of classes 3 and 7: two rows of ten cells (scale 3 for sides ≤ 16, gap 2)
    const px = new Float32Array(4 * 3 * 4 * 4).fill(0.5);
    const grid = io.sampleGrid(px, [7, 3, 7, 3], [3, 4, 4]);
    expect([grid.channels, grid.width, grid.height]).toEqual([3, 10 * 12 + 11 * 2, 2 * 12 + 3 * 2]);
    expect(io.sampleGrid(px, null, [3, 4, 4]).height).toBe(12 + 2 * 2); // four images: one row
  });
});

describe('malformed image data: one-line errors that name the file and the fix', () => {
  const rng = new Rng(9);
  const folder = (files: Record<string, Uint8Array>) => {
    const dir = tmp('fg-bad-');
    for (const [f, b] of Object.entries(files)) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), b);
    }
    return dir;
  };
  const png = (w: number, h: number, c: 1 | 3) => encodePng(randomImage(rng, w, h, c), zlibDeflate);

  it('mismatched sizes or channel counts name the two files', () => {
    const d1 = folder({ 'a.png': png(4, 4, 1), 'b.png': png(5, 4, 1) });
    expectError(() => readImages(d1), /b\.png is 5×4 gray but .*a\.png is 4×4 gray/, /one size and one channel count/, /resize or convert/);
    const d2 = folder({ 'c0/a.png': png(4, 4, 3), 'c1/b.png': png(4, 4, 1) });
    expectError(() => readImages(d2), /c1\/b\.png is 4×4 gray but .*c0\/a\.png is 4×4 RGB/);
  });

  it('an unreadable or corrupt PNG names the file', () => {
    const good = png(4, 4, 3);
    const flipped = good.slice();
    flipped[good.length - 20] ^= 0xff; // inside IDAT: the CRC no longer matches
    expectError(() => readImages(folder({ 'a.png': good, 'b.png': flipped })), /b\.png: corrupt or unreadable PNG/, /re-export or remove/);
    expectError(() => readImages(folder({ 'a.png': new TextEncoder().encode('hello') })), /a\.png: not a PNG file/);
    expectError(() => readImages(folder({ 'a.png': good.subarray(0, 40) })), /a\.png: corrupt/);
  });

  it('empty folders, an empty class folder, and a folder mixing PNGs with sub-folders', () => {
    expectError(() => readImages(tmp('fg-empty-')), /no PNG images/, /give a folder of \.png files/);
    expectError(() => readImages(folder({ 'x.jpg': Uint8Array.of(1) })), /no PNG images \(it has 1 JPG file\(s\): convert them to PNG\)/);
    const d = folder({ 'a/x.png': png(2, 2, 1) });
    mkdirSync(join(d, 'b'));
    expectError(() => readImages(d), /class folder 'b' holds no PNG images/);
    expectError(() => readImages(folder({ 'x.png': png(2, 2, 1), 'c/y.png': png(2, 2, 1) })), /both PNG files .* and sub-folders/);
    expectError(() => readImages('/no/such/place'), /no such file or folder/);
  });

  it('wrong-rank and channels-last .npy arrays, out-of-range float pixels', () => {
    const d = folder({
      'r2.npy': encodeNpy(new Float32Array(6), [2, 3]),
      'r5.npy': encodeNpy(new Float32Array(2), [1, 1, 1, 1, 2]),
      'hwc.npy': encodeNpy(new Float32Array(2 * 8 * 8 * 3), [2, 8, 8, 3]),
      'big.npy': encodeNpy(Float32Array.of(0, 0.5, 255, 1), [1, 1, 2, 2]),
      'neg.npy': encodeNpy(Int32Array.of(0, -3), [1, 1, 1, 2]),
    });
    expectError(() => readImages(join(d, 'r2.npy')), /r2\.npy: images must be an array \[N, C, H, W\] \(or \[N, H, W\] for gray\), got \[2, 3\]/);
    expectError(() => readImages(join(d, 'r5.npy')), /got \[1, 1, 1, 1, 2\]/);
    expectError(() => readImages(join(d, 'hwc.npy')), /channels-last/, /np\.transpose\(a, \(0, 3, 1, 2\)\)/);
    expectError(() => readImages(join(d, 'big.npy')), /big\.npy: image 0 has the value 255/, /divide 8-bit values by 255/);
    expectError(() => readImages(join(d, 'neg.npy')), /neg\.npy: int32 pixel 1 is -3/);
  });

  it('labels: count ≠ images, negative or fractional, out of range of the class count, a labels matrix', () => {
    const d = folder({
      'x.npy': encodeNpy(new Float32Array(3 * 4), [3, 1, 2, 2]),
      'two.npy': encodeNpy(Int32Array.of(0, 1), [2]),
      'neg.npy': encodeNpy(Int32Array.of(0, -1, 1), [3]),
      'frac.npy': encodeNpy(Float32Array.of(0, 1.5, 1), [3]),
      'mat.npy': encodeNpy(Int32Array.of(0, 1, 1, 0, 0, 1), [3, 2]),
    });
    const x = join(d, 'x.npy');
    expectError(() => readImages(x, { labels: join(d, 'two.npy') }), /2 labels for 3 images: give one label per image/, /two\.npy/);
    expectError(() => readImages(x, { labels: join(d, 'neg.npy') }), /neg\.npy: label 1 is -1; labels must be class numbers 0, 1, 2/);
    expectError(() => readImages(x, { labels: join(d, 'frac.npy') }), /frac\.npy: label 1 is 1\.5/);
    expectError(() => readImages(x, { labels: join(d, 'mat.npy') }), /labels must be a vector \[N\]/);
    expectError(() => data.imageSet(new Uint8Array(3), [3, 1, 1, 1], { labels: [0, 5, 1], classes: 3 }), /label of image 1 is 5, outside the 3 classes 0…2/);
    const sub = folder({ 'a/x.png': png(2, 2, 1) });
    expectError(() => readImages(sub, { labels: join(d, 'two.npy') }), /sub-folders already label the images/);
  });

  it('fewer images than the batch: the dataset and the command say so', async () => {
    const ds = new data.ImageDataset(data.imageSet(new Uint8Array(5 * 4), [5, 1, 2, 2]), 'my images');
    expectError(() => ds.batches(8), /my images: the batch \(8\) is larger than the 5 training images: use a batch ≤ 5/);
    ds.dispose();
    const d = folder(Object.fromEntries([0, 1, 2, 3, 4].map((i) => [`${i}.png`, png(4, 4, 1)])));
    expect(() => imagesConfig(['--data', d, '--batch', '8', '--out', join(d, 'run')])).toThrow(/--batch 8 is larger than the 4 training images \(1 of 5 are held out\): use --batch ≤ 4/);
  });
});

describe('training on images', () => {
  it('a UNet on 3-channel images through the Trainer: the loss falls on a memorisable set', async () => {
    const rng = new Rng(4);
    // four smooth 8×8 RGB images (a colour gradient each): memorisable
    const px = new Float32Array(4 * 3 * 64);
    for (let n = 0; n < 4; n++) {
      const col = [rng.uniform(), rng.uniform(), rng.uniform()];
      for (let c = 0; c < 3; c++) for (let p = 0; p < 64; p++) px[(n * 3 + c) * 64 + p] = col[c] * ((p % 8) + Math.floor(p / 8) + 2) / 16;
    }
    const set = data.imageSet(px, [4, 3, 8, 8], { labels: [0, 1, 0, 1] });
    const spec: nn.NetSpec = { arch: 'unet', model: { ...nn.defaultUNetConfig(16, 2), inChannels: 3, outChannels: 3, imageSize: 8, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1 } };
    const net = nn.buildNet(spec, 1);
    expect(net.sampleShape).toEqual([3, 8, 8]);
    const t = new train.Trainer({ net, data: new data.ImageDataset(set).batches(4, 1), steps: 120, lr: 3e-3, ema: 0, logEvery: 10, labelDropout: 0.1, seed: 2 });
    const r = await t.run();
    const loss = r.history.loss;
    expect(loss.every(Number.isFinite)).toBe(true);
    const first = (loss[0] + loss[1]) / 2;
    const last = (loss[loss.length - 1] + loss[loss.length - 2]) / 2;
    // E‖x1 − x0‖² per value starts near 1 + E[x1²] ≈ 1.3 and falls well below it on a memorised set
    expect(last).toBeLessThan(0.5 * first); // measured: 1.17 → 0.46
    const v = net.forward(tensor(new Float32Array(2 * 192), [2, 3, 8, 8]), tensor(Float32Array.of(0.5, 0.5), [2]), tensor(Int32Array.of(0, 1), [2], 'i32'));
    expect(v.shape).toEqual([2, 3, 8, 8]);
    v.dispose();
    t.dispose();
    net.module.dispose();
  });

  it('flowgpu train images on a small RGB folder writes the run files, and flowgpu sample reads the run', async () => {
    const dir = tmp('fg-run-');
    const rng = new Rng(5);
    for (const cls of ['blue', 'red']) {
      mkdirSync(join(dir, 'data', cls), { recursive: true });
      for (let i = 0; i < 12; i++) writePng(join(dir, 'data', cls, `${i}.png`), randomImage(rng, 8, 8, 3));
    }
    const out = join(dir, 'run');
    const o = imagesConfig(['--data', join(dir, 'data'), '--hidden', '8', '--layers', '1', '--steps', '6', '--batch', '8', '--log-every', '3',
      '--ckpt-every', '6', '--samples', '4', '--nfe', '2', '--out', out, '--holdout', '0.2']);
    expect(o.cfg.classes).toBe(2);
    expect(o.cfg.classNames).toEqual(['blue', 'red']);
    expect(o.images.count + o.heldOut!.count).toBe(24);
    const r = await runImages(o);
    for (const f of ['model.safetensors', 'checkpoint.safetensors', 'samples.npy', 'samples.labels.npy', 'grid.png', 'loss.png', 'metrics.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const s = readNpy(join(out, 'samples.npy'));
    expect(s.shape).toEqual([4, 3, 8, 8]);
    expect(s.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect([...readNpy(join(out, 'samples.labels.npy')).data]).toEqual([0, 0, 1, 1]);
    const grid = decodePng(readFileSync(join(out, 'grid.png')));
    expect(grid.channels).toBe(3);
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(m).toMatchObject({ shape: [3, 8, 8], classes: 2, model: 'unet', steps: 6 });
    expect(Number.isFinite(m.sw2) && Number.isFinite(m.sw2Floor)).toBe(true);
    expect(r.quality!.n).toBe(4);
    const again = join(dir, 'again.npy');
    await sampleCkpt([out, '--n', '4', '--per-class', '--nfe', '2', '--out', again, '--png', join(dir, 'again.png')]);
    expect(readNpy(again).shape).toEqual([4, 3, 8, 8]);
    expect([...readNpy(join(dir, 'again.labels.npy')).data]).toEqual([0, 0, 1, 1]);
    expect(decodePng(readFileSync(join(dir, 'again.png'))).channels).toBe(3);
  });
});
