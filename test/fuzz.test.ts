// Fuzzing the readers: valid safetensors, checkpoint / model files, .npy, IDX and PNG bytes, mutated by a
// seeded generator (byte overwrites with a bias towards the headers, truncations, insertions, and
// edits of the JSON header's numbers and strings). Every case must either decode or throw a
// FlowGpuError — never another exception type, a hang or a crash. loadModel goes a step further and
// builds the network the mutated config describes, on the GPU.
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, decodeNpy, decodeSafetensors, encodeCheckpoint, encodeNpy, encodeSafetensors, FlowGpuError, io, nn, parseIdx, parseMnist, readTensors } from '../src/internal.js';
import { crc32, encodePng } from '../src/io/png.js';
import { decodePng } from '../src/io/png-decode.js';
import { zlibDeflate } from '../src/io/node-files.js';
import { Rng, useGpu } from './helpers.js';

useGpu();

function mutate(src: Uint8Array, rng: Rng, headerEnd: number): Uint8Array {
  const pick = rng.uniform();
  const at = (end: number) => Math.floor(rng.uniform() * Math.max(1, end));
  if (pick < 0.15) return src.slice(0, at(src.length)); // truncated
  if (pick < 0.25) {
    const i = at(src.length);
    const extra = Uint8Array.from({ length: 1 + at(16) }, () => at(256));
    return Uint8Array.from([...src.subarray(0, i), ...extra, ...src.subarray(i)]);
  }
  const out = src.slice();
  if (pick < 0.5) {
    // a number or a character of the text header: digits, signs, quotes, brackets
    const i = at(headerEnd);
    out[i] = '0123456789-+.eE"[]{},:x '.charCodeAt(at(24));
    return out;
  }
  const n = 1 + at(4);
  for (let k = 0; k < n; k++) out[rng.uniform() < 0.7 ? at(headerEnd) : at(out.length)] = at(256);
  return out;
}

/** Runs `n` mutations of `bytes` through `read`; returns how many decoded and the errors that were not FlowGpuErrors. */
async function fuzz(bytes: Uint8Array, headerEnd: number, n: number, seed: number, read: (b: Uint8Array) => unknown) {
  const rng = new Rng(seed);
  let ok = 0;
  const wrong: string[] = [];
  for (let i = 0; i < n; i++) {
    const b = mutate(bytes, rng, headerEnd);
    try {
      await read(b);
      ok++;
    } catch (e) {
      if (!(e instanceof FlowGpuError)) wrong.push(`case ${i}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
  }
  return { ok, wrong };
}

const headerEndOf = (st: Uint8Array) => 8 + Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));

describe('fuzzed inputs get a FlowGpuError or decode', () => {
  it('safetensors (2000 cases)', async () => {
    const st = encodeSafetensors(
      [
        { name: 'a.weight', dtype: 'F32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 7) },
        { name: 'a.bias', dtype: 'F32', shape: [3], data: Float32Array.of(1, 2, 3) },
        { name: 'idx', dtype: 'I32', shape: [2], data: Int32Array.of(-1, 7) },
      ],
      { format: 'pt', config: '{"x":1}' },
    );
    const r = await fuzz(st, headerEndOf(st), 2000, 1, (b) => decodeSafetensors(b, 'fuzz'));
    expect(r.wrong).toEqual([]);
    expect(r.ok).toBeGreaterThan(50); // data-byte edits still decode: the generator is not all noise
  });

  it('.npy (2000 cases)', async () => {
    const f = encodeNpy(Float32Array.from({ length: 10 }, (_, i) => i), [5, 2]);
    const i32 = encodeNpy(Int32Array.of(1, 2, 3), [3]);
    for (const [bytes, seed] of [[f, 2], [i32, 3]] as const) {
      const r = await fuzz(bytes, 10 + new DataView(bytes.buffer).getUint16(8, true), 1000, seed, (b) => decodeNpy(b, 'fuzz'));
      expect(r.wrong).toEqual([]);
    }
  });

  it('IDX images and labels (2000 cases)', async () => {
    const images = Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4, ...Array.from({ length: 48 }, (_, i) => (i * 37) % 256)]);
    const labels = Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 9]);
    const a = await fuzz(images, 16, 1000, 4, (b) => parseMnist(b, labels));
    const b = await fuzz(labels, 8, 1000, 5, (x) => parseIdx(x, 'labels', 1));
    expect([...a.wrong, ...b.wrong]).toEqual([]);
  });

  it('PNG images (2400 cases; in half of them the chunk CRCs are repaired, so the damage reaches the decoder)', async () => {
    const rng = new Rng(8);
    const img = (channels: 1 | 3) => ({ width: 7, height: 5, channels, pixels: Uint8Array.from({ length: 35 * channels }, () => Math.floor(rng.uniform() * 256)) });
    /** Recomputes the CRC of every whole chunk, so a mutation is not caught by the checksum alone. */
    const repair = (b: Uint8Array) => {
      const out = b.slice();
      const dv = new DataView(out.buffer);
      for (let at = 8; at + 12 <= out.length; ) {
        const len = dv.getUint32(at);
        if (at + 12 + len > out.length) break;
        dv.setUint32(at + 8 + len, crc32(out, at + 4, at + 8 + len));
        at += 12 + len;
      }
      return out;
    };
    const read = (b: Uint8Array) => {
      const r = decodePng(b, 'fuzz');
      if (r.pixels.length !== r.width * r.height * r.channels || (r.channels !== 1 && r.channels !== 3)) throw new Error(`inconsistent image ${r.width}×${r.height}×${r.channels}`);
    };
    const wrong: string[] = [];
    let decoded = 0;
    for (const [bytes, seed] of [[encodePng(img(3), zlibDeflate), 11], [encodePng(img(1)), 12]] as const) {
      read(bytes); // the base case is valid
      const plain = await fuzz(bytes, 33, 600, seed, read);
      const fixed = await fuzz(bytes, 33, 600, seed + 100, (b) => read(repair(b)));
      wrong.push(...plain.wrong, ...fixed.wrong);
      decoded += fixed.ok;
    }
    expect(wrong).toEqual([]);
    expect(decoded).toBeGreaterThan(20); // repaired data-byte edits still decode: the generator is not all noise
  });

  it('model files through loadModel, which builds the network the config describes (400 cases)', async () => {
    const net = nn.buildNet(nn.mlpSpec({ dim: 2, hidden: 8, hiddenLayers: 2 }), 0);
    const file = encodeCheckpoint({ tensors: await readTensors(net.module.namedParameters()), config: { net: net.spec }, trainingState: { step: 3, weights: 'ema' } });
    net.module.dispose();
    decodeCheckpoint(file); // the base case is valid
    const r = await fuzz(file, headerEndOf(file), 400, 6, (b) => io.loadModel(b, { where: 'fuzz' }).net.module.dispose());
    expect(r.wrong).toEqual([]);
    // and the configs a mutation rarely hits: absurd sizes, negative or missing fields, unknown archs
    const bad = [
      { hidden: 100_000_000 }, { hidden: 1e300 }, { hiddenLayers: 0 }, { dim: -1 }, { dim: 2.5 }, { condDim: 'x' }, { timeEmbedding: 'cubic' },
    ].map((patch) => ({ net: { ...net.spec, model: { ...net.spec.model, ...patch } } }));
    bad.push({ net: { arch: 'transformer', model: {} } } as never, { net: { arch: 'unet', model: { imageSize: 16, channelMults: 'x' } } } as never);
    for (const config of bad) {
      const f = encodeCheckpoint({ tensors: [], config, trainingState: { step: 0 } });
      let thrown: unknown = null;
      try {
        io.loadModel(f).net.module.dispose();
      } catch (e) {
        thrown = e;
      }
      expect(thrown, JSON.stringify(config)).toBeInstanceOf(FlowGpuError);
    }
  });
});
