/**
 * safetensors: byte-exact agreement with the reference implementation's own test vectors
 * (huggingface/safetensors, safetensors/src/tensor.rs: test_serialization, test_empty,
 * test_serialization_forced_alignement) and with a file built by hand from the format spec;
 * round trips; every corruption gets its clear error; checkpoints against a module's parameters on
 * the GPU; atomic file writes.
 *
 * Checked by hand once more against the Python package (safetensors 0.8.0, numpy backend): the
 * three-tensor file below with metadata {format: 'pt'} written by `safetensors.numpy.save_file` and
 * by encodeSafetensors were byte-identical, and each side loaded the other's file.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlowGpuError } from '../src/gpu/errors.js';
import { decodeCheckpoint, encodeCheckpoint, loadModuleTensors, moduleTensors } from '../src/io/checkpoint.js';
import { readCheckpoint, readFileBytes, readSafetensors, writeCheckpoint, writeFileAtomic, writeSafetensors } from '../src/io/node-files.js';
import { decodeSafetensors, encodeSafetensors, f16ToF32, f32ToF16, matchTensors, toHalf, widenHalf, type NamedTensor } from '../src/io/safetensors.js';
import { Linear, Sequential, SiLU } from '../src/nn/layers.js';
import { HostRng } from '../src/nn/module.js';
import { useGpu } from './helpers.js';

const f32 = (...v: number[]) => Float32Array.from(v);
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const le64 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff, 0, 0, 0, 0];
const bytesOf = (a: Float32Array | Int32Array | Uint16Array) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

/** A file from a raw header string (padded to 8 with spaces, like the reference) and data bytes. */
function rawFile(header: string, data: number[] | Uint8Array, pad = true): Uint8Array {
  const h = ascii(header);
  while (pad && h.length % 8) h.push(0x20);
  return Uint8Array.from([...le64(h.length), ...h, ...data]);
}

describe('safetensors encoding matches the reference implementation byte for byte', () => {
  it('test_serialization: one F32 tensor "attn.0" [1, 2, 3]', () => {
    const out = encodeSafetensors([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data: f32(0, 1, 2, 3, 4, 5) }], null);
    // From safetensors/src/tensor.rs (the header is exactly 64 bytes, so no padding).
    expect(Array.from(out)).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
      116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
      58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
      101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
      0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
  });

  it('test_serialization_forced_alignement: the header is space-padded to a multiple of 8', () => {
    const out = encodeSafetensors([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], data: f32(0, 1, 2, 3, 4, 5) }], null);
    expect(Array.from(out)).toEqual([
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
      121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
      91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
      115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
      32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
      160, 64,
    ]);
  });

  it('test_empty: no tensors, with and without metadata', () => {
    expect(Array.from(encodeSafetensors([], null))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(Array.from(encodeSafetensors([], { framework: 'pt' }))).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
      95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
      116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
    expect(decodeSafetensors(encodeSafetensors([], { framework: 'pt' }))).toEqual({ tensors: [], metadata: { framework: 'pt' } });
  });

  it('agrees with a file built by hand from the spec (F32 before I32, then by name; metadata first)', () => {
    const w = f32(1.5, -2, 0.25, 3, 4, 5);
    const b = f32(-1, 7);
    const lab = Int32Array.of(3, -4, 5);
    // Written in state-dict order; the format sorts by descending dtype alignment, then name.
    const tensors: NamedTensor[] = [
      { name: 'net.0.weight', dtype: 'F32', shape: [2, 3], data: w },
      { name: 'labels', dtype: 'I32', shape: [3], data: lab },
      { name: 'net.0.bias', dtype: 'F32', shape: [2], data: b },
    ];
    const header =
      '{"__metadata__":{"format":"pt","config":"{\\"hidden\\":4}"},' +
      '"net.0.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"net.0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]},' +
      '"labels":{"dtype":"I32","shape":[3],"data_offsets":[32,44]}}';
    const want = rawFile(header, [...bytesOf(b), ...bytesOf(w), ...bytesOf(lab)]);
    const got = encodeSafetensors(tensors, { format: 'pt', config: JSON.stringify({ hidden: 4 }) });
    expect(Array.from(got)).toEqual(Array.from(want));
    expect((8 + (got[0] | (got[1] << 8))) % 8).toBe(0);
    const back = decodeSafetensors(got);
    expect(back.metadata).toEqual({ format: 'pt', config: '{"hidden":4}' });
    expect(back.tensors.map((t) => t.name)).toEqual(['net.0.bias', 'net.0.weight', 'labels']);
    for (const t of tensors) {
      const u = back.tensors.find((x) => x.name === t.name)!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(u.data.constructor).toBe(t.data.constructor);
      expect(Array.from(u.data)).toEqual(Array.from(t.data));
    }
  });

  it('round-trips every float32 bit pattern class (±0, subnormal, ±inf, NaN, extremes)', () => {
    const data = f32(0, -0, 1e-45, -3.4028235e38, 3.4028235e38, Infinity, -Infinity, NaN, Math.PI);
    const back = decodeSafetensors(encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [9], data }])).tensors[0];
    expect(bytesOf(back.data)).toEqual(bytesOf(data));
  });

  it('refuses to write what it could not read back', () => {
    expect(() => encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [2, 2], data: f32(1, 2, 3) }])).toThrow(/shape \[2, 2\] \(4 elements\) but 3 values/);
    expect(() => encodeSafetensors([{ name: 'x', dtype: 'I32', shape: [1], data: f32(1) }])).toThrow(/is I32 but its data is a Float32Array/);
    expect(() => encodeSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: f32(1) }, { name: 'a', dtype: 'F32', shape: [1], data: f32(1) }])).toThrow(/appears twice/);
    expect(() => encodeSafetensors([], { step: 3 as unknown as string })).toThrow(/metadata 'step' must be a string/);
  });
});

describe('F16 (half precision)', () => {
  // An independent reference: the value of half bits from the IEEE 754 definition in float64, and
  // the nearest half to x by binary search over all 31 744 finite non-negative halves in order.
  const refValue = (h: number): number => {
    const e = (h >> 10) & 31;
    const m = h & 1023;
    const s = h >> 15 ? -1 : 1;
    return e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * (m / 1024) * 2 ** -14 : s * (1 + m / 1024) * 2 ** (e - 15);
  };
  const positives = Array.from({ length: 0x7c00 }, (_, h) => refValue(h)); // increasing with h
  const refNearest = (x: number): number => {
    const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
    const a = Math.abs(x);
    if (a >= 65520) return sign | 0x7c00; // 65520 = halfway from 65504 to 2¹⁶: ties to even → ∞
    let lo = 0;
    let hi = positives.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (positives[mid] <= a) lo = mid;
      else hi = mid;
    }
    const dl = a - positives[lo];
    const dh = positives[hi] - a;
    return sign | (dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi);
  };

  it('every one of the 65 536 half bit patterns widens to its IEEE value and narrows back to itself', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const wide = f16ToF32(all);
    const back = f32ToF16(wide);
    for (let h = 0; h < 65536; h++) {
      const want = refValue(h);
      if (Number.isNaN(want)) {
        expect(Number.isNaN(wide[h]), `0x${h.toString(16)}`).toBe(true);
        expect(back[h] & 0x7c00).toBe(0x7c00);
        expect(back[h] & 0x3ff).not.toBe(0); // still a NaN, not ∞
      } else {
        if (!Object.is(wide[h], want)) expect(wide[h], `0x${h.toString(16)}`).toBe(want);
        if (back[h] !== h) expect(back[h], `0x${h.toString(16)}`).toBe(h);
      }
    }
  });

  it('rounds to the nearest half, ties to even, against the reference (random values, midpoints and their neighbours)', () => {
    const rng = new HostRng(7);
    const xs: number[] = [];
    for (let i = 0; i < 20000; i++) xs.push(Math.fround((rng.uniform() - 0.5) * 2 ** (rng.uniform() * 44 - 28)));
    // every midpoint between neighbouring halves (exact in float32: 12 significant bits) and one float32 ulp either side
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 0x7bff; h += 7) {
      f[0] = (positives[h] + positives[h + 1]) / 2;
      const mid = f[0];
      expect(mid).toBe((positives[h] + positives[h + 1]) / 2);
      xs.push(mid, -mid);
      if (mid > 0) {
        u[0] -= 1; xs.push(f[0]);
        u[0] += 2; xs.push(f[0]);
      }
    }
    xs.push(65504, 65519.99, 65520, 1e6, -1e6, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 2 ** -26, 3 * 2 ** -25, 1e-45, -1e-45, 0, -0);
    const got = f32ToF16(xs);
    let wrong = 0;
    xs.forEach((x, i) => {
      const want = refNearest(x);
      if (got[i] !== want && wrong++ < 5) expect(`${x} → 0x${got[i].toString(16)}`).toBe(`${x} → 0x${want.toString(16)}`);
    });
    expect(wrong).toBe(0);
  });

  it('the edges: ±0, the subnormals, the largest half, overflow to ±∞, ∞ and NaN', () => {
    const bits = (v: number) => f32ToF16([v])[0];
    expect(bits(0)).toBe(0);
    expect(bits(-0)).toBe(0x8000);
    expect(bits(2 ** -24)).toBe(1); // smallest subnormal
    expect(bits(2 ** -25)).toBe(0); // halfway to 0: ties to even
    expect(bits(3 * 2 ** -25)).toBe(2); // halfway between 1 and 2 subnormal units: even
    expect(bits(1023 * 2 ** -24)).toBe(0x3ff); // largest subnormal
    expect(bits(2 ** -14)).toBe(0x400); // smallest normal
    expect(bits(2 ** -14 - 2 ** -26)).toBe(0x400); // rounds up out of the subnormals
    expect(bits(1 + 2 ** -11)).toBe(0x3c00); // 1 + half an ulp: even (down)
    expect(bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // 1 + 1.5 ulp: even (up)
    expect(bits(65504)).toBe(0x7bff);
    expect(bits(65519)).toBe(0x7bff);
    expect(bits(65520)).toBe(0x7c00);
    expect(bits(-1e9)).toBe(0xfc00);
    expect(bits(Infinity)).toBe(0x7c00);
    expect(bits(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(f16ToF32(f32ToF16([NaN]))[0])).toBe(true);
    expect(Array.from(f16ToF32(Uint16Array.of(0x3555, 0xc000, 0x0001, 0x8000)))).toEqual([0.333251953125, -2, 2 ** -24, -0]);
  });

  it('F16 tensors round-trip through a file (reference dtype order: F32 before F16), and widen to F32 for loading', () => {
    const w = f32(0.1, -2.5, 1e-5, 3000.7);
    const tensors: NamedTensor[] = [
      { name: 'b', dtype: 'F32', shape: [2], data: f32(1, 2) },
      { name: 'a', dtype: 'F16', shape: [2, 2], data: f32ToF16(w) },
    ];
    const bytes = encodeSafetensors(tensors, null);
    const header = '{"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F16","shape":[2,2],"data_offsets":[8,16]}}';
    expect(Array.from(bytes)).toEqual(Array.from(rawFile(header, [...bytesOf(f32(1, 2)), ...new Uint8Array(f32ToF16(w).buffer)])));
    const back = decodeSafetensors(bytes);
    const a = back.tensors.find((t) => t.name === 'a')!;
    expect(a.dtype).toBe('F16');
    expect(a.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(a.data)).toEqual(Array.from(f32ToF16(w)));
    const wide = widenHalf(back).tensors.find((t) => t.name === 'a')!;
    expect(wide.dtype).toBe('F32');
    // each value within half an ulp of half precision (2⁻¹¹ relative for normals)
    Array.from(wide.data).forEach((v, i) => expect(Math.abs(v - w[i])).toBeLessThanOrEqual(Math.abs(w[i]) * 2 ** -11 + 2 ** -25));
    expect(decodeCheckpoint(encodeCheckpoint({ tensors: toHalf(tensors), config: { k: 1 } })).tensors.every((t) => t.dtype === 'F32')).toBe(true);
    expect(() => encodeSafetensors([{ name: 'h', dtype: 'F16', shape: [1], data: f32(1) }])).toThrow(/is F16 but its data is a Float32Array/);
    expect(() => toHalf([{ name: 'big', dtype: 'F32', shape: [2], data: f32(1, 70000) }])).toThrow(/'big' holds 70000 at element 1, beyond half precision/);
    expect(toHalf([{ name: 'i', dtype: 'I32', shape: [1], data: Int32Array.of(70000) }])[0].dtype).toBe('I32');
  });
});

describe('decoding from a Node Buffer', () => {
  it('copies each tensor out of the Buffer\'s pooled memory (Buffer.slice is a view)', () => {
    const bytes = encodeSafetensors([
      { name: 'a', dtype: 'F32', shape: [3], data: f32(1, 2, 3) },
      { name: 'b', dtype: 'F32', shape: [2], data: f32(4, 5) },
    ]);
    // a small Buffer.from lives at an offset inside Node's shared pool
    const buf = Buffer.from(bytes);
    const file = decodeSafetensors(buf);
    expect([...file.tensors[0].data]).toEqual([1, 2, 3]);
    expect([...file.tensors[1].data]).toEqual([4, 5]);
  });
});

describe('decoding corrupt files gives a clear error', () => {
  const good = encodeSafetensors(
    [
      { name: 'a', dtype: 'F32', shape: [2], data: f32(1, 2) },
      { name: 'b', dtype: 'F32', shape: [1], data: f32(3) },
    ],
    { k: 'v' },
  );
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty file', new Uint8Array(0), /shorter than the 8-byte header length/],
    ['7 bytes', good.subarray(0, 7), /shorter than the 8-byte header length/],
    ['header length beyond the file', good.subarray(0, 20), /truncated safetensors file: the header length says \d+ bytes but only 12 follow/],
    ['huge header length', Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 0, 123, 125]), /header length 4294967296 is beyond the 100 MB limit/],
    ['data cut off', good.subarray(0, good.length - 1), /truncated safetensors file: tensor 'b' needs bytes \[8, 12\) of the data section, which has only 11/],
    ['bad JSON', rawFile('{"a":{"dtype":"F32",', [0, 0, 0, 0]), /corrupt safetensors header: bad JSON/],
    ['not UTF-8', Uint8Array.from([...le64(8), 0x7b, 0xff, 0xfe, 0x7d, 32, 32, 32, 32]), /not valid UTF-8/],
    ['JSON array', rawFile('[1,2]', []), /the JSON is not an object/],
    ['tensor entry not an object', rawFile('{"a":3}', []), /tensor 'a' is not an object/],
    ['missing dtype', rawFile('{"a":{"shape":[1],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /tensor 'a' has no dtype/],
    ['bad shape', rawFile('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /tensor 'a' has an invalid shape/],
    ['bad offsets', rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', [0, 0, 0, 0]), /tensor 'a' has invalid data_offsets/],
    ['unknown dtype', rawFile('{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /tensor 'a' has an unknown dtype 'F31'/],
    ['unsupported dtype', rawFile('{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /tensor 'a' has dtype BF16; flowgpu reads F32, I32 and F16/],
    ['shape × dtype ≠ bytes', rawFile('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Array(8).fill(0)), /tensor 'a' is F32 \[3\] \(12 bytes\) but its data_offsets \[0, 8\] span 8 bytes/],
    ['offsets backwards', rawFile('{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}', new Array(8).fill(0)), /data_offsets \[8, 4\] that end before they begin/],
    ['offsets out of range', rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', new Array(8).fill(0)), /tensor 'a' needs bytes \[8, 12\) of the data section, which has only 8/],
    ['overlapping tensors', rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Array(8).fill(0)), /tensors 'a' and 'b' overlap/],
    ['a gap', rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Array(8).fill(0)), /bytes \[0, 4\) of the data section belong to no tensor/],
    ['trailing bytes', Uint8Array.from([...good, 0, 0, 0, 0]), /4 trailing bytes after the last tensor/],
    ['metadata not strings', rawFile('{"__metadata__":{"step":3}}', []), /__metadata__ 'step' is not a string/],
  ];
  it.each(cases)('%s', (_, bytes, msg) => {
    let e: unknown;
    try {
      decodeSafetensors(bytes, 'model.safetensors');
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(FlowGpuError);
    expect((e as Error).message).toMatch(/^model\.safetensors: /);
    expect((e as Error).message).toMatch(msg);
  });

  it('accepts the unpadded header older writers produce', () => {
    const t = decodeSafetensors(rawFile('{"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}', [7, 0, 0, 0], false));
    expect(Array.from(t.tensors[0].data)).toEqual([7]);
  });
});

describe('matching a file against the tensors a model expects', () => {
  const file = decodeSafetensors(
    encodeCheckpoint({
      tensors: [
        { name: 'net.0.weight', dtype: 'F32', shape: [512, 3], data: new Float32Array(1536) },
        { name: 'net.0.bias', dtype: 'F32', shape: [512], data: new Float32Array(512) },
      ],
      config: { hidden: 512, depth: 3, data: 'moons' },
    }),
  );
  it('returns the tensors in the expected order when everything matches', () => {
    const got = matchTensors(file, [['net.0.weight', [512, 3]], ['net.0.bias', [512]]]);
    expect(got.map((t) => t.name)).toEqual(['net.0.weight', 'net.0.bias']);
  });
  it('names a shape mismatch, with the caller\'s hint and the config difference', () => {
    expect(() => matchTensors(file, [['net.0.weight', [256, 3]], ['net.0.bias', [256]]], {
      hint: (_n, got) => `was it trained with --hidden ${got[0]}?`,
    })).toThrow("checkpoint has 'net.0.weight' [512, 3] but the model expects [256, 3]: was it trained with --hidden 512?");
    expect(() => matchTensors(file, [['net.0.weight', [256, 3]]], { config: { hidden: 256, depth: 3, data: 'moons' } }))
      .toThrow(/expects \[256, 3\] \(the checkpoint's config differs: hidden: 512 vs 256\)/);
  });
  it('names a missing tensor, an extra tensor and a dtype mismatch', () => {
    expect(() => matchTensors(file, [['net.0.weight', [512, 3]], ['net.0.bias', [512]], ['net.2.weight', [2, 512]]]))
      .toThrow(/checkpoint has no tensor 'net.2.weight' \[2, 512\], which the model expects \(it has: net.0.bias, net.0.weight\)/);
    expect(() => matchTensors(file, [['net.0.weight', [512, 3]]])).toThrow(/checkpoint has a tensor 'net.0.bias' \[512\] that the model does not have/);
    expect(matchTensors(file, [['net.0.weight', [512, 3]]], { allowExtra: true })).toHaveLength(1);
    expect(() => matchTensors(file, [['net.0.weight', [512, 3], 'I32'], ['net.0.bias', [512]]])).toThrow(/as F32 but the model expects I32/);
  });
  it('parses config and training state from the metadata', () => {
    const c = decodeCheckpoint(encodeCheckpoint({ tensors: [], config: { hidden: 64 }, trainingState: { step: 1200, seed: 7 } }));
    expect(c.config).toEqual({ hidden: 64 });
    expect(c.trainingState).toEqual({ step: 1200, seed: 7 });
    expect(c.metadata.format).toBe('pt');
    expect(() => decodeCheckpoint(encodeSafetensors([], { config: '{oops' }), 'x.safetensors')).toThrow(/x.safetensors: checkpoint metadata 'config' is not valid JSON/);
  });
});

describe('checkpoints of GPU modules', () => {
  useGpu();
  const mlp = (hidden: number, seed: number) => {
    const rng = new HostRng(seed);
    return new Sequential(new Linear(3, hidden, { rng }), new SiLU(), new Linear(hidden, 2, { rng }));
  };

  it('saves PyTorch names and layouts and loads them into a fresh model exactly', async () => {
    const a = mlp(8, 1);
    const saved = await moduleTensors(a);
    expect(saved.map((t) => [t.name, t.shape])).toEqual([
      ['0.weight', [8, 3]], ['0.bias', [8]], ['2.weight', [2, 8]], ['2.bias', [2]],
    ]);
    const bytes = encodeCheckpoint({ tensors: saved, config: { hidden: 8 }, trainingState: { step: 5 } });
    const b = mlp(8, 2);
    b.flatten(); // loading also works into views of the flat parameter buffer
    loadModuleTensors(b, decodeCheckpoint(bytes));
    const back = await moduleTensors(b);
    for (let i = 0; i < saved.length; i++) expect(bytesOf(back[i].data)).toEqual(bytesOf(saved[i].data));
    a.dispose();
    b.dispose();
  });

  it('rejects a checkpoint of another width and leaves the model untouched', async () => {
    const a = mlp(8, 1);
    const file = decodeCheckpoint(encodeCheckpoint({ tensors: await moduleTensors(a), config: { hidden: 8 } }));
    const c = mlp(4, 3);
    const before = await moduleTensors(c);
    expect(() => loadModuleTensors(c, file, { config: { hidden: 4 } }))
      .toThrow("checkpoint has '0.weight' [8, 3] but the model expects [4, 3] (the checkpoint's config differs: hidden: 8 vs 4)");
    const after = await moduleTensors(c);
    for (let i = 0; i < before.length; i++) expect(bytesOf(after[i].data)).toEqual(bytesOf(before[i].data));
    a.dispose();
    c.dispose();
  });
});

describe('files (Node)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowgpu-st-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes atomically: replaces the old file, leaves no temporary behind', () => {
    const p = join(dir, 'sub', 'model.safetensors');
    writeSafetensors(p, [{ name: 'x', dtype: 'F32', shape: [2], data: f32(1, 2) }]);
    writeCheckpoint(p, { tensors: [{ name: 'x', dtype: 'F32', shape: [3], data: f32(4, 5, 6) }], config: { a: 1 } });
    expect(readdirSync(join(dir, 'sub'))).toEqual(['model.safetensors']);
    const c = readCheckpoint(p);
    expect(Array.from(c.tensors[0].data)).toEqual([4, 5, 6]);
    expect(c.config).toEqual({ a: 1 });
    expect(readSafetensors(p).metadata.format).toBe('pt');
  });

  it('names the file in read errors', () => {
    expect(() => readSafetensors(join(dir, 'missing.safetensors'))).toThrow(/missing.safetensors: no such file/);
    const p = join(dir, 'cut.safetensors');
    const full = encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [4], data: f32(1, 2, 3, 4) }]);
    writeFileSync(p, full.subarray(0, full.length - 3));
    expect(() => readCheckpoint(p)).toThrow(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: truncated safetensors file`));
    expect(() => readFileBytes(dir)).toThrow(/is a directory/);
  });

  it('reports a failed write and cleans up', () => {
    const blocker = join(dir, 'blocker');
    writeFileAtomic(blocker, Uint8Array.of(1));
    // A path under a regular file cannot be created.
    expect(() => writeFileAtomic(join(blocker, 'x.bin'), Uint8Array.of(1))).toThrow(/could not write .*blocker\/x.bin/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
