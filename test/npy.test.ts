/**
 * .npy: headers byte-identical to what NumPy 2.4.6 writes (recorded below from `np.save` and
 * `numpy.lib._format_impl._write_array_header(fp, d, (1, 0))`; the tests stay Node-only), data
 * bytes identical, round trips, and clear errors for files flowgpu cannot read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlowGpuError } from '../src/gpu/errors.js';
import { readNpy, writeNpy } from '../src/io/node-files.js';
import { decodeNpy, encodeNpy, npyHeader } from '../src/io/npy.js';

const latin1 = (b: Uint8Array) => Array.from(b, (c) => String.fromCharCode(c)).join('');

/** NumPy's header: magic, version 1.0, u16 length, the dict, `spaces` spaces, '\n'. */
function numpyHeader(hlen: number, dict: string, spaces: number): string {
  return `\x93NUMPY\x01\x00${String.fromCharCode(hlen & 0xff, hlen >> 8)}${dict}${' '.repeat(spaces)}\n`;
}

describe('npy header matches NumPy byte for byte', () => {
  // [shape, descr, header length field, dict, spaces before '\n'] as NumPy 2.4.6 writes them.
  const cases: [number[], '<f4' | '<i4', number, string, number][] = [
    [[3, 2], '<f4', 118, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 58],
    [[5], '<i4', 118, "{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }", 60],
    [[], '<f4', 118, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 62],
    [[0, 2], '<f4', 118, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }", 58],
    [[7, 1, 28, 28], '<f4', 118, "{'descr': '<f4', 'fortran_order': False, 'shape': (7, 1, 28, 28), }", 50],
    // Longer than one 64-byte block: NumPy pads to 192.
    [new Array(8).fill(1e9), '<f4', 182,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000, 1000000000, 1000000000, 1000000000, 1000000000, 1000000000, 1000000000), }", 32],
    [[123456, ...new Array(20).fill(2)], '<f4', 182,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (123456, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2), }", 60],
  ];
  it.each(cases)('shape [%j] %s', (shape, descr, hlen, dict, spaces) => {
    const h = npyHeader(descr, shape);
    expect(latin1(h)).toBe(numpyHeader(hlen, dict, spaces));
    expect(h.length % 64).toBe(0);
  });

  it('writes the data bytes NumPy writes (little-endian, C order)', () => {
    // np.save(np.array([[1.5, -2], [0.25, 3], [1e-45, -0.0]], dtype='<f4')) bytes after the header.
    const f = encodeNpy(Float32Array.of(1.5, -2, 0.25, 3, 1e-45, -0), [3, 2]);
    expect(f.length).toBe(128 + 24);
    expect(Array.from(f.subarray(128))).toEqual([0, 0, 192, 63, 0, 0, 0, 192, 0, 0, 128, 62, 0, 0, 64, 64, 1, 0, 0, 0, 0, 0, 0, 128]);
    // np.save(np.array([3, -4, 2**31 - 1, -2**31, 0], dtype='<i4')).
    const i = encodeNpy(Int32Array.of(3, -4, 2147483647, -2147483648, 0), [5]);
    expect(Array.from(i.subarray(128))).toEqual([3, 0, 0, 0, 252, 255, 255, 255, 255, 255, 255, 127, 0, 0, 0, 128, 0, 0, 0, 0]);
    expect(latin1(i.subarray(0, 128))).toBe(numpyHeader(118, "{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }", 60));
  });
});

describe('npy round trips and reading', () => {
  it('round-trips float32 [N, 2], images [N, 1, H, W], int32 labels and scalars', () => {
    const pts = Float32Array.from({ length: 20 }, (_, k) => Math.sin(k) * 100);
    const a = decodeNpy(encodeNpy(pts, [10, 2]));
    expect(a).toEqual({ dtype: 'float32', shape: [10, 2], data: pts });
    const img = Float32Array.from({ length: 2 * 1 * 3 * 4 }, (_, k) => k / 23);
    expect(decodeNpy(encodeNpy(img, [2, 1, 3, 4])).shape).toEqual([2, 1, 3, 4]);
    const lab = Int32Array.of(0, 9, 3);
    expect(decodeNpy(encodeNpy(lab, [3]))).toEqual({ dtype: 'int32', shape: [3], data: lab });
    expect(decodeNpy(encodeNpy(Float32Array.of(2.5), []))).toEqual({ dtype: 'float32', shape: [], data: Float32Array.of(2.5) });
    expect(decodeNpy(encodeNpy(new Float32Array(0), [0, 2])).shape).toEqual([0, 2]);
  });

  it('reads uint8 arrays (8-bit images) byte for byte', () => {
    // numpy.save of np.arange(250, 256, dtype=np.uint8).reshape(2, 3): the header dict padded to 128 bytes
    const dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }";
    const header = dict + ' '.repeat(128 - 10 - dict.length - 1) + '\n';
    const bytes = Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0, ...Array.from(header, (c) => c.charCodeAt(0)), 250, 251, 252, 253, 254, 255]);
    expect(decodeNpy(bytes)).toEqual({ dtype: 'uint8', shape: [2, 3], data: Uint8Array.of(250, 251, 252, 253, 254, 255) });
    expect(() => decodeNpy(bytes.subarray(0, bytes.length - 1))).toThrow(/shape \(2, 3\) needs 6 bytes of data, 5 present/);
  });

  it('reads format 2.0 and headers written by other tools (no spare space, no padding)', () => {
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
    const v2 = Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, dict.length, 0, 0, 0, ...Array.from(dict, (c) => c.charCodeAt(0)), 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
    expect(decodeNpy(v2)).toEqual({ dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) });
  });

  it('rejects what it cannot read, saying what it found', () => {
    const good = encodeNpy(Float32Array.of(1, 2, 3, 4), [2, 2]);
    const withHeader = (from: string, to: string) => {
      const b = good.slice();
      const s = latin1(b).replace(from, to);
      return Uint8Array.from(s, (c) => c.charCodeAt(0));
    };
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.of(1, 2, 3), /not a \.npy file \(bad magic/],
      [Uint8Array.from([...good.subarray(0, 10)].map((v, i) => (i === 1 ? 0x58 : v))), /bad magic/],
      [withHeader("'<f4'", "'<f8'"), /unsupported \.npy dtype '<f8': flowgpu reads float32 \('<f4'\), int32 \('<i4'\) and uint8 \('\|u1'\)/],
      [withHeader("'<f4'", "'>f4'"), /unsupported \.npy dtype '>f4'/],
      [withHeader("'<f4'", "'<u2'"), /unsupported \.npy dtype '<u2'/],
      [withHeader('False', 'True '), /fortran_order is True/],
      [withHeader("'shape'", "'shope'"), /corrupt \.npy header/],
      [good.subarray(0, good.length - 1), /truncated \.npy file: shape \(2, 2\) needs 16 bytes of data, 15 present/],
      [good.subarray(0, 60), /truncated \.npy file: the header needs 118 bytes/],
      [Uint8Array.from([...good, 0, 0, 0, 0]), /4 bytes after the data/],
      [Uint8Array.from([...good.subarray(0, 6), 4, 0, ...good.subarray(8)]), /unsupported \.npy format version 4\.0/],
    ];
    for (const [bytes, msg] of cases) {
      let e: unknown;
      try {
        decodeNpy(bytes, 'samples.npy');
      } catch (x) {
        e = x;
      }
      expect(e, String(msg)).toBeInstanceOf(FlowGpuError);
      expect((e as Error).message).toMatch(/^samples\.npy: /);
      expect((e as Error).message).toMatch(msg);
    }
    expect(() => encodeNpy(Float32Array.of(1, 2, 3), [2, 2])).toThrow(/holds 4 values, got 3/);
  });
});

describe('npy files (Node)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowgpu-npy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('writes and reads back a file', () => {
    const p = join(dir, 'samples.npy');
    writeNpy(p, Float32Array.of(1, -1, 0.5, 2), [2, 2]);
    expect(readNpy(p)).toEqual({ dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, -1, 0.5, 2) });
    expect(() => readNpy(join(dir, 'nope.npy'))).toThrow(/nope\.npy: no such file/);
  });
});
