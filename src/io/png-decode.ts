/**
 * PNG decoding for training images (bytes → an 8-bit gray or RGB `RasterImage`), browser-safe.
 *
 * The decoding itself is the npm package `fast-png` (image-js; pure TypeScript, ESM, no Node
 * built-ins: it inflates with `fflate`, so the same code runs in Node and in browsers). It handles
 * every PNG colour type, bit depths 1–16 and Adam7 interlacing; CRCs are checked, so a corrupted
 * file is an error rather than silently wrong pixels. What flowgpu adds: the checks and conversions
 * a training set needs, each failure a FlowGpuError naming the file and the fix.
 *
 *   gray 1/2/4/8 bit            → gray, values scaled to 0…255 (v·255/(2^depth − 1))
 *   RGB 8 bit                   → RGB
 *   16 bit (gray or RGB)        → 8 bit: round(v / 257) (the nearest 8-bit value: 257·b = b·0x0101)
 *   palette                     → RGB (refused when a pixel uses a transparent palette entry)
 *   gray + alpha, RGBA          → gray / RGB when every pixel is opaque; refused otherwise (flatten it)
 *   a colour key (tRNS, gray/RGB) → ignored: pixels keep their stored colour
 *
 * Sizes are checked from the IHDR chunk before anything is decoded (at most 16384 pixels a side and
 * 2^26 pixels in all), so a corrupt header cannot ask for gigabytes.
 */
import { decode as fastPngDecode, convertIndexedToRgb, type DecodedPng } from 'fast-png';
import { FlowGpuError } from '../gpu/errors.js';
import type { RasterImage } from './png.js';

/** The largest side and pixel count `decodePng` accepts (training images are small). */
export const PNG_LIMITS = { side: 16384, pixels: 2 ** 26 } as const;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Decodes PNG bytes into an 8-bit gray (channels 1) or RGB (channels 3) image; `what` (a file name)
 * starts every error message. See the file comment for the conversions and what is refused.
 */
export function decodePng(bytes: Uint8Array, what = 'PNG image'): RasterImage {
  const fail = (msg: string) => new FlowGpuError(`${what}: ${msg}`);
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw fail('not a PNG file (it does not start with the PNG signature): convert it to PNG, or remove it from the folder');
  }
  const ihdr = bytes.length >= 24 && String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]) === 'IHDR';
  if (!ihdr) throw fail('corrupt PNG: no IHDR chunk after the signature (re-export the image)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w0 = dv.getUint32(16);
  const h0 = dv.getUint32(20);
  if (w0 < 1 || h0 < 1 || w0 > PNG_LIMITS.side || h0 > PNG_LIMITS.side || w0 * h0 > PNG_LIMITS.pixels) {
    throw fail(`the header declares ${w0}×${h0} pixels; flowgpu reads images of 1…${PNG_LIMITS.side} pixels a side (corrupt, or far too large to train on)`);
  }
  let png: DecodedPng;
  try {
    png = fastPngDecode(bytes, { checkCrc: true });
  } catch (e) {
    throw fail(`corrupt or unreadable PNG (${(e as Error).message.replace(/\s+$/, '').replace(/:$/, '')}${(e as Error).cause ? `: ${((e as Error).cause as Error).message}` : ''}): re-export or remove the file`);
  }
  const { width, height, depth } = png;
  if (width !== w0 || height !== h0) throw fail(`corrupt PNG: decoded ${width}×${height}, the header says ${w0}×${h0}`);
  let channels = png.channels;
  let samples: ArrayLike<number>;
  let max = 255;
  if (png.palette) {
    try {
      samples = convertIndexedToRgb(png);
    } catch (e) {
      throw fail(`corrupt PNG palette data (${(e as Error).message}): re-export or remove the file`);
    }
    channels = png.palette[0]?.length ?? 3; // 4 when a tRNS chunk gave the palette alpha values
  } else if (depth < 8) {
    samples = unpackBits(png.data as Uint8Array, width, height, channels, depth);
    max = 2 ** depth - 1;
  } else {
    samples = png.data;
    if (depth === 16) max = 65535;
  }
  const n = width * height;
  if (samples.length < n * channels) throw fail(`corrupt PNG: ${samples.length} samples decoded for ${width}×${height}×${channels}`);
  let colour = channels;
  if (channels === 2 || channels === 4) {
    colour = channels - 1;
    for (let i = 0; i < n; i++) {
      if (samples[i * channels + colour] !== (png.palette ? 255 : max)) {
        throw fail(`pixel (${i % width}, ${Math.floor(i / width)}) is transparent: flowgpu trains on gray or RGB images; flatten the alpha channel onto a background (e.g. ImageMagick: convert IN -background white -flatten OUT)`);
      }
    }
  }
  if (colour !== 1 && colour !== 3) throw fail(`unsupported PNG with ${channels} channels`);
  const pixels = new Uint8Array(n * colour);
  const scale = png.palette ? 1 : 255 / max;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < colour; c++) {
      const v = samples[i * channels + c];
      pixels[i * colour + c] = scale === 1 ? v : Math.round(v * scale);
    }
  }
  return { width, height, channels: colour as 1 | 3, pixels };
}

/** Samples of `depth` < 8 bits, packed MSB first with each row padded to a byte, one per entry. */
function unpackBits(data: Uint8Array, width: number, height: number, channels: number, depth: number): Uint8Array {
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const out = new Uint8Array(perRow * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < perRow; i++) {
      const bit = i * depth;
      const byte = data[y * rowBytes + (bit >> 3)] ?? 0;
      out[y * perRow + i] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}
