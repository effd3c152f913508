/**
 * A small PNG encoder (8-bit grayscale, RGB or RGBA; no interlacing), browser-safe.
 *
 * The image data go through a zlib stream. By default it is built from stored (uncompressed)
 * deflate blocks, which needs no compression library; in Node, src/io/node-files.ts passes
 * node:zlib's deflate, which makes plots 20–100× smaller. Every scanline uses filter 0 (None) with
 * the stored stream, and filter 1 (Sub) with a real compressor (it turns flat runs into zeros).
 *
 * Written instead of depending on `pngjs`: the encoder is ~100 lines, has no Node-only imports in
 * its browser path, and the tests decode its output independently.
 */
import { FlowGpuError } from '../gpu/errors.js';

/** An 8-bit image: width, height, channels (1 gray, 3 RGB, 4 RGBA) and row-major pixel bytes. */
export interface RasterImage {
  width: number;
  height: number;
  /** 1 = gray, 3 = RGB, 4 = RGBA. */
  channels: 1 | 3 | 4;
  /** Row-major, `channels` bytes per pixel. */
  pixels: Uint8Array;
}

/** zlib-compresses bytes (RFC 1950 stream), e.g. node:zlib's deflateSync. */
export type ZlibDeflate = (raw: Uint8Array) => Uint8Array;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG and zlib's crc32 compute it). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Adler-32 (the zlib stream checksum). */
export function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  const MOD = 65521;
  for (let i = 0; i < bytes.length; ) {
    const end = Math.min(i + 3800, bytes.length); // keeps b below 2^31 between reductions
    for (; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  return ((b << 16) | a) >>> 0;
}

/** A valid zlib stream of stored (uncompressed) deflate blocks: no compression, no dependency. */
export function zlibStored(raw: Uint8Array): Uint8Array {
  const BLOCK = 65535;
  const blocks = Math.max(1, Math.ceil(raw.length / BLOCK));
  const out = new Uint8Array(2 + blocks * 5 + raw.length + 4);
  out[0] = 0x78; // CMF: deflate, 32 KiB window
  out[1] = 0x01; // FLG: no dictionary, fastest; (0x78·256 + 0x01) % 31 == 0
  let p = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * BLOCK;
    const len = Math.min(BLOCK, raw.length - start);
    out[p++] = b === blocks - 1 ? 1 : 0; // BFINAL, BTYPE 00
    out[p++] = len & 0xff;
    out[p++] = len >> 8;
    out[p++] = ~len & 0xff;
    out[p++] = (~len >> 8) & 0xff;
    out.set(raw.subarray(start, start + len), p);
    p += len;
  }
  const ad = adler32(raw);
  out[p++] = ad >>> 24;
  out[p++] = (ad >>> 16) & 0xff;
  out[p++] = (ad >>> 8) & 0xff;
  out[p++] = ad & 0xff;
  return out;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/** Encodes an image as PNG bytes. Pass `deflate` (node:zlib) for real compression. */
export function encodePng(img: RasterImage, deflate?: ZlibDeflate): Uint8Array {
  const { width, height, channels, pixels } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new FlowGpuError(`png: invalid size ${width}×${height}`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new FlowGpuError(`png: ${channels} channels (use 1, 3 or 4)`);
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    throw new FlowGpuError(`png: ${pixels.length} bytes for ${width}×${height}×${channels} (want ${stride * height})`);
  }
  const filter = deflate ? 1 : 0;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1);
    raw[row] = filter;
    const src = pixels.subarray(y * stride, (y + 1) * stride);
    if (filter === 0) raw.set(src, row + 1);
    else for (let i = 0; i < stride; i++) raw[row + 1 + i] = (src[i] - (i >= channels ? src[i - channels] : 0)) & 0xff;
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : channels === 3 ? 2 : 6; // colour type
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  const parts = [
    new Uint8Array(SIGNATURE),
    chunk('IHDR', ihdr),
    chunk('IDAT', (deflate ?? zlibStored)(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}
