/**
 * PNG encoder and plots. The PNG check is an independent minimal decoder: signature, chunk layout,
 * every CRC recomputed with node:zlib's crc32, IHDR fields, the IDAT inflated with node:zlib, all
 * five scanline filters undone, and the pixels compared exactly. Plots are checked for geometry
 * (a point lands on the pixel its coordinates map to, grid cells are where they should be) and for
 * their helpers (ticks, labels, smoothing) against direct computation.
 */
import { crc32 as zlibCrc32, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { zlibDeflate } from '../src/io/node-files.js';
import { Canvas, COLORS, emaSmooth, formatTick, imageGrid, logTicks, lossPlot, niceTicks, scatterPlot, squareLimits, trajectoryPlot } from '../src/io/plot.js';
import { adler32, crc32, encodePng, zlibStored, type RasterImage } from '../src/io/png.js';
import { Rng } from './helpers.js';

/** Decodes a non-interlaced 8-bit PNG (gray, RGB, RGBA), verifying structure and checksums. */
function decodePng(png: Uint8Array): RasterImage {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  expect(Array.from(png.subarray(0, 8))).toEqual(sig);
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let p = 8;
  const chunks: { type: string; data: Uint8Array }[] = [];
  while (p < png.length) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(...png.subarray(p + 4, p + 8));
    const data = png.subarray(p + 8, p + 8 + len);
    const crc = dv.getUint32(p + 8 + len);
    expect(crc, `CRC of ${type}`).toBe(zlibCrc32(png.subarray(p + 4, p + 8 + len)));
    chunks.push({ type, data });
    p += 12 + len;
  }
  expect(p).toBe(png.length);
  expect(chunks[0].type).toBe('IHDR');
  expect(chunks[chunks.length - 1].type).toBe('IEND');
  const ih = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset, 13);
  const width = ih.getUint32(0);
  const height = ih.getUint32(4);
  expect(chunks[0].data[8]).toBe(8); // bit depth
  const ct = chunks[0].data[9];
  expect([0, 2, 6]).toContain(ct);
  expect(Array.from(chunks[0].data.subarray(10, 13))).toEqual([0, 0, 0]);
  const channels = ct === 0 ? 1 : ct === 2 ? 3 : 4;
  const idat = Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data));
  const raw = new Uint8Array(inflateSync(idat));
  const stride = width * channels;
  expect(raw.length).toBe((stride + 1) * height);
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i];
      const a = i >= channels ? px[y * stride + i - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + i] : 0;
      const c = i >= channels && y > 0 ? px[(y - 1) * stride + i - channels] : 0;
      let pred: number;
      if (f === 0) pred = 0;
      else if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) {
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new Error(`bad filter ${f}`);
      px[y * stride + i] = (x + pred) & 0xff;
    }
  }
  return { width, height, channels: channels as 1 | 3 | 4, pixels: px };
}

function randomImage(w: number, h: number, channels: 1 | 3 | 4, seed: number): RasterImage {
  const rng = new Rng(seed);
  const pixels = Uint8Array.from({ length: w * h * channels }, (_, i) => (i % 7 < 3 ? 200 : rng.int(0, 255)));
  return { width: w, height: h, channels, pixels };
}

describe('PNG encoder', () => {
  it.each([
    ['gray, stored', 1, false],
    ['RGB, stored', 3, false],
    ['RGBA, stored', 4, false],
    ['gray, zlib', 1, true],
    ['RGB, zlib', 3, true],
    ['RGBA, zlib', 4, true],
  ] as const)('%s: decodes to the same pixels with valid CRCs', (_, channels, compress) => {
    const img = randomImage(37, 23, channels, 11 + channels);
    const back = decodePng(encodePng(img, compress ? zlibDeflate : undefined));
    expect(back.width).toBe(37);
    expect(back.height).toBe(23);
    expect(back.channels).toBe(channels);
    expect(Buffer.from(back.pixels).equals(Buffer.from(img.pixels))).toBe(true);
  });

  it('stored deflate splits images larger than one 65 535-byte block; zlib compresses plots', () => {
    const img = randomImage(300, 100, 3, 5); // 90 100 raw bytes → 2 stored blocks
    const png = encodePng(img);
    expect(Buffer.from(decodePng(png).pixels).equals(Buffer.from(img.pixels))).toBe(true);
    // A plot-like image (white with a few dots) shrinks more than 20× with node:zlib.
    const flat = new Uint8Array(300 * 100 * 3).fill(255);
    for (let i = 0; i < 200; i++) flat.set([31, 119, 180], 3 * ((i * 7919) % (300 * 100)));
    const plot: RasterImage = { width: 300, height: 100, channels: 3, pixels: flat };
    const small = encodePng(plot, zlibDeflate);
    expect(small.length).toBeLessThan(encodePng(plot).length / 20);
    expect(Buffer.from(decodePng(small).pixels).equals(Buffer.from(flat))).toBe(true);
  });

  it('crc32, adler32 and the stored zlib stream agree with node:zlib', () => {
    const rng = new Rng(3);
    const data = Uint8Array.from({ length: 70_000 }, () => rng.int(0, 255));
    expect(crc32(data)).toBe(zlibCrc32(data));
    expect(crc32(new TextEncoder().encode('IEND'))).toBe(0xae426082);
    // Adler-32 of "Wikipedia" is 0x11E60398 (the worked example of the algorithm).
    expect(adler32(new TextEncoder().encode('Wikipedia'))).toBe(0x11e60398);
    expect(Buffer.from(inflateSync(zlibStored(data))).equals(Buffer.from(data))).toBe(true);
    expect(inflateSync(zlibStored(new Uint8Array(0))).length).toBe(0);
  });

  it('rejects inconsistent images', () => {
    expect(() => encodePng({ width: 2, height: 2, channels: 3, pixels: new Uint8Array(11) })).toThrow(/11 bytes for 2×2×3 \(want 12\)/);
    expect(() => encodePng({ width: 0, height: 2, channels: 1, pixels: new Uint8Array(0) })).toThrow(/invalid size/);
  });
});

describe('plots', () => {
  it('scatterPlot puts a point where its coordinates map and counts samples outside the view', () => {
    // Data spans [−1, 1]²; squareLimits adds 8 % per side → limits ±1.16.
    const data = Float32Array.of(-1, -1, 1, 1, 0.5, -0.25);
    const samples = Float32Array.of(0.5, -0.25, 50, 50, NaN, 0);
    const lim = squareLimits([data]);
    expect(lim.xlim[0]).toBeCloseTo(-1.16, 12);
    expect(lim.ylim[1]).toBeCloseTo(1.16, 12);
    const img = scatterPlot(data, samples, { size: 200 });
    // Layout: left margin 48, top 40, panel 200, gap 60. (0.5, −0.25) → panel pixel
    // x = 100 + 0.5/1.16·100 ≈ 143.1, y = 100 + 0.25/1.16·100 ≈ 121.6.
    const at = (x: number, y: number) => Array.from(img.pixels.subarray(3 * (y * img.width + x), 3 * (y * img.width + x) + 3));
    const first = at(48 + 143, 40 + 121);
    const second = at(48 + 200 + 60 + 143, 40 + 121);
    // Blue-ish in the data panel, orange-ish in the samples panel (blended over white).
    expect(first[2]).toBeGreaterThan(first[0] + 20);
    expect(second[0]).toBeGreaterThan(second[2] + 20);
    // Far from any point: white.
    expect(at(48 + 20, 40 + 90)).toEqual([255, 255, 255]);
    // The samples title mentions the point outside the view and the non-finite one: its drawn
    // text is much wider than the bare "samples" of a plot whose samples are all inside.
    const titleSpan = (im: RasterImage) => {
      let lo = Infinity, hi = -Infinity;
      for (let y = 10; y < 36; y++) { // the title rows, above the frame
        for (let x = 250; x < im.width; x++) {
          if (im.pixels[3 * (y * im.width + x)] < 100) {
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
          }
        }
      }
      return hi - lo;
    };
    // "samples" at scale 2 is 82 px wide; "samples (1 outside, 1 non-finite)" at scale 1 is 203
    // (the measured span is shorter by the blank edge columns of the first and last glyphs).
    expect(titleSpan(scatterPlot(data, data, { size: 200 }))).toBeLessThanOrEqual(82);
    expect(titleSpan(img)).toBeGreaterThanOrEqual(180);
  });

  it('imageGrid tiles images 10 per row with 1-pixel gaps', () => {
    const n = 12, h = 2, w = 3;
    const imgs = new Float32Array(n * h * w);
    for (let k = 0; k < n; k++) for (let i = 0; i < h * w; i++) imgs[k * h * w + i] = k / 11;
    imgs[5 * h * w + 1 * w + 2] = 2; // clamped to 1
    imgs[7 * h * w] = -1; // clamped to 0
    const g = imageGrid(imgs, n, h, w);
    expect(g.channels).toBe(1);
    expect(g.width).toBe(10 * 3 + 11);
    expect(g.height).toBe(2 * 2 + 3);
    const at = (x: number, y: number) => g.pixels[y * g.width + x];
    // Image k sits at x = 1 + (k % 10)·4, y = 1 + floor(k / 10)·3.
    for (let k = 0; k < n; k++) {
      const ox = 1 + (k % 10) * 4, oy = 1 + Math.floor(k / 10) * 3;
      if (k !== 5 && k !== 7) expect(at(ox + 1, oy + 1)).toBe(Math.round((k / 11) * 255));
      expect(at(ox - 1, oy)).toBe(128); // gap
    }
    expect(at(1 + 5 * 4 + 2, 1 + 1)).toBe(255);
    expect(at(1 + 7 * 4, 1)).toBe(0);
    // Empty cells of the last row are gap-coloured.
    expect(at(1 + 5 * 4 + 1, 4 + 1)).toBe(128);
    expect(() => imageGrid(imgs, n + 1, h, w)).toThrow(/are not 13 images of 1×2×3/);
    // Upscaling repeats pixels.
    const big = imageGrid(Float32Array.of(0, 1, 1, 0), 1, 2, 2, { scale: 3, gap: 0 });
    expect(big.width).toBe(6);
    expect(Array.from(big.pixels.subarray(0, 6))).toEqual([0, 0, 0, 255, 255, 255]);
  });

  it('lossPlot and trajectoryPlot draw without throwing on awkward input and check their arguments', () => {
    const loss = Float32Array.of(5, NaN, 4, 0, -1, 3, Infinity, 2.5);
    const img = lossPlot(loss);
    expect(img.width * img.height * 3).toBe(img.pixels.length);
    expect(lossPlot([]).pixels.length).toBeGreaterThan(0);
    expect(lossPlot([3.7]).pixels.length).toBeGreaterThan(0);
    expect(() => lossPlot([1, 2], { steps: [1] })).toThrow(/1 steps for 2 values/);
    const x0 = Float32Array.of(0, 0, 1, 1), x1 = Float32Array.of(2, 2, 3, 3);
    expect(trajectoryPlot([x0, x1]).width).toBeGreaterThan(0);
    expect(() => trajectoryPlot([x0])).toThrow(/at least the start and end/);
    expect(() => trajectoryPlot([x0, Float32Array.of(1, 2)])).toThrow(/state 1 has 1 points, state 0 has 2/);
    // A path's end pixel is red-ish, its start blue-ish.
    const t = trajectoryPlot([Float32Array.of(-1, -1), Float32Array.of(1, 1)], { size: 100 });
    // Limits ±1.16 → (−1, −1) at (48 + 50 − 43.1, 40 + 50 + 43.1), (1, 1) at (48 + 93.1, 40 + 6.9).
    const at = (x: number, y: number) => Array.from(t.pixels.subarray(3 * (y * t.width + x), 3 * (y * t.width + x) + 3));
    const s = at(54, 133), e = at(141, 46);
    expect(s[2]).toBeGreaterThan(s[0] + 40);
    expect(e[0]).toBeGreaterThan(e[2] + 40);
  });

  it('Canvas blends, clips and draws text', () => {
    const c = new Canvas(20, 10, COLORS.white);
    c.blend(0, 0, COLORS.black, 0.5);
    expect(Array.from(c.pixels.subarray(0, 3))).toEqual([128, 128, 128]);
    c.blend(-1, 0, COLORS.black);
    c.blend(25, 3, COLORS.black);
    c.line(-1e9, 5, 1e9, 5, COLORS.black); // clipped, does not hang
    expect(c.pixels[3 * (5 * 20 + 10)]).toBeLessThan(10);
    const t = new Canvas(12, 7);
    t.text('1', 0, 0, { color: COLORS.black });
    // Glyph '1': rows 00100 01100 00100 … → column 2 is set in every row but the last has 01110.
    for (let row = 0; row < 7; row++) expect(t.pixels[3 * (row * 12 + 2)]).toBe(0);
    expect(t.pixels[3 * (0 * 12 + 0)]).toBe(255);
    expect(Canvas.textWidth('abc', 2)).toBe((3 * 6 - 1) * 2);
  });

  it('ticks, labels and smoothing', () => {
    expect(niceTicks(-4.4, 4.4)).toEqual([-4, -2, 0, 2, 4]);
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
    expect(niceTicks(1, 5000, 5)).toEqual([1000, 2000, 3000, 4000, 5000]);
    expect(logTicks(0.0015, 3)).toEqual([0.01, 0.1, 1]);
    expect(logTicks(2.9, 7.3)).toEqual([3, 4, 5, 6, 7]);
    expect(formatTick(0.6000000000000001)).toBe('0.6');
    expect(formatTick(5000)).toBe('5000');
    expect(formatTick(2.5e-4)).toBe('2.5e-4');
    expect(formatTick(1e6)).toBe('1e6');
    expect(formatTick(-2.5)).toBe('-2.5');
    // EMA with bias correction: constant input stays constant; otherwise matches the recurrence.
    expect(Array.from(emaSmooth([2, 2, 2], 5))).toEqual([2, 2, 2]);
    const v = [1, 3, NaN, 2];
    const beta = Math.exp(-1 / 2);
    const m1 = (1 - beta) * 1, w1 = 1 - beta;
    const m2 = beta * m1 + (1 - beta) * 3, w2 = beta * w1 + (1 - beta);
    const m4 = beta * m2 + (1 - beta) * 2, w4 = beta * w2 + (1 - beta);
    const got = emaSmooth(v, 2);
    expect(got[0]).toBeCloseTo(1, 14);
    expect(got[1]).toBeCloseTo(m2 / w2, 14);
    expect(got[2]).toBeCloseTo(m2 / w2, 14);
    expect(got[3]).toBeCloseTo(m4 / w4, 14);
  });
});
