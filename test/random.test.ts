import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { streamConstants } from '../src/flow/random.js';
import {
  normalCdf,
  normalsCpu,
  philox4x32,
  philoxWordsGpu,
  randNormal,
  randUniform,
  STREAM,
  tidy,
  uniformsCpu,
} from '../src/internal.js';
import { Rng, useGpu } from './helpers.js';

useGpu();

/** Random123's known-answer vectors for philox4x32-10 (kat_vectors): counter, key → output. */
const KAT: [number[], number[], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
  [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
];

/** An independent Philox4x32-10 in BigInt (64-bit products taken literally). */
function philoxBig(ctr: number[], key: number[]): number[] {
  const mask = 0xffffffffn;
  let [c0, c1, c2, c3] = ctr.map((v) => BigInt(v >>> 0));
  let [k0, k1] = key.map((v) => BigInt(v >>> 0));
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + 0x9e3779b9n) & mask;
      k1 = (k1 + 0xbb67ae85n) & mask;
    }
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & mask, p1 & mask, ((p0 >> 32n) ^ c3 ^ k1) & mask, p0 & mask];
  }
  return [c0, c1, c2, c3].map(Number);
}

/** Kolmogorov–Smirnov statistic of a sample against a continuous CDF. */
function ks(values: ArrayLike<number>, cdf: (x: number) => number): number {
  const v = Float64Array.from(values).sort();
  const n = v.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(v[i]);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return d;
}

/** KS critical value at significance 0.001 (asymptotic: 1.95/√n). */
const ksCritical = (n: number) => 1.95 / Math.sqrt(n);

const u32 = (a: ArrayLike<number>) => Array.from(a, (v) => v >>> 0);

describe('Philox4x32-10', () => {
  it('CPU mirror matches Random123 known answers and an independent BigInt implementation', () => {
    for (const [c, k, want] of KAT) {
      expect(u32(philox4x32(c, k))).toEqual(want);
      expect(philoxBig(c, k)).toEqual(want);
    }
    const rng = new Rng(11);
    for (let i = 0; i < 500; i++) {
      const c = [0, 0, 0, 0].map(() => Math.floor(rng.uniform() * 4294967296));
      const k = [0, 0].map(() => Math.floor(rng.uniform() * 4294967296));
      expect(u32(philox4x32(c, k))).toEqual(philoxBig(c, k));
    }
  });

  it('GPU kernel is bit-exact on known answers and on random counters and keys', async () => {
    const rng = new Rng(12);
    const items: number[] = [];
    for (const [c, k] of KAT) items.push(...c, ...k);
    for (let i = 0; i < 300; i++) for (let j = 0; j < 6; j++) items.push(Math.floor(rng.uniform() * 4294967296));
    const words = tidy(() => philoxWordsGpu(items));
    const got = u32(await words.data());
    words.dispose();
    for (let i = 0; i < items.length / 6; i++) {
      const want = i < KAT.length ? KAT[i][2] : philoxBig(items.slice(6 * i, 6 * i + 4), items.slice(6 * i + 4, 6 * i + 6));
      expect(got.slice(4 * i, 4 * i + 4), `item ${i}`).toEqual(want);
    }
  });
});

describe('random fills', () => {
  const n = 1 << 16;

  it('uniforms are bit-exact with the CPU mirror and lie strictly inside (0, 1)', async () => {
    for (const [seed, step, size] of [[7, 0, 1003], [2 ** 40 + 5, 2 ** 33 + 9, 4096]]) {
      const t = tidy(() => randUniform([size], { seed, step, stream: STREAM.user }));
      const got = await t.f32();
      t.dispose();
      const want = uniformsCpu(size, seed, step, STREAM.user);
      // exact: every step of u01 is exact in f32 (see random.wgsl)
      expect(Array.from(got)).toEqual(Array.from(want, Math.fround));
      expect(Math.min(...got)).toBeGreaterThan(0);
      expect(Math.max(...got)).toBeLessThan(1);
    }
  });

  it('normals match the CPU mirror drawn from the same words', async () => {
    const t = tidy(() => randNormal([4099], { seed: 3, step: 17 }));
    const got = await t.f32();
    t.dispose();
    const want = normalsCpu(4099, 3, 17, STREAM.user);
    // Worst case per element from WGSL's accuracy rules: log is 2⁻²¹ absolute near 1 (→ ≤ 1.4e-3 in
    // r = √(−2 ln u)), sin/cos 2⁻¹¹ absolute on [−π, π] (× r ≤ 5.8 → 2.8e-3). Typical errors are a
    // few ulps, so the mean error must be far smaller; a different draw would differ by O(1).
    let sum = 0;
    for (let i = 0; i < want.length; i++) {
      const e = Math.abs(got[i] - want[i]);
      expect(e, `element ${i}: ${got[i]} vs ${want[i]}`).toBeLessThan(5e-3);
      sum += e;
    }
    expect(sum / want.length).toBeLessThan(1e-4);
  });

  it('normals have mean 0, variance 1 and pass a KS test against Φ', async () => {
    const t = tidy(() => randNormal([n], { seed: 42, step: 1 }));
    const z = await t.f32();
    t.dispose();
    let m = 0;
    for (const v of z) m += v;
    m /= n;
    let v2 = 0;
    for (const v of z) v2 += (v - m) ** 2;
    v2 /= n - 1;
    // 4 standard errors: sd(mean) = 1/√n, sd(variance) = √(2/n)
    expect(Math.abs(m)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(v2 - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    const d = ks(z, normalCdf);
    expect(d).toBeLessThan(ksCritical(n));
    // the test has power: a mean shift of 0.05 is rejected by the same threshold
    expect(ks(z, (x) => normalCdf(x - 0.05))).toBeGreaterThan(ksCritical(n));
    // neighbours (the two outputs of one Box–Muller pair, and across calls) are uncorrelated
    for (const lag of [1, 2, 4]) {
      let c = 0;
      for (let i = 0; i + lag < n; i++) c += z[i] * z[i + lag];
      expect(Math.abs(c / (n - lag)), `lag ${lag}`).toBeLessThan(4 / Math.sqrt(n));
    }
  });

  it('uniforms pass a KS test against U(0, 1)', async () => {
    const t = tidy(() => randUniform([n], { seed: 5, step: 2 }));
    const u = await t.f32();
    t.dispose();
    expect(ks(u, (x) => Math.min(1, Math.max(0, x)))).toBeLessThan(ksCritical(n));
  });

  it('same seed and step give identical bits; another step, stream or seed gives other draws', async () => {
    const draw = async (seed: number, step: number, stream: number) => {
      const t = tidy(() => randNormal([257], { seed, step, stream }));
      const v = await t.f32();
      t.dispose();
      return new Uint32Array(v.buffer);
    };
    const a = await draw(9, 100, 16);
    expect(await draw(9, 100, 16)).toEqual(a);
    for (const other of [await draw(9, 101, 16), await draw(9, 100, 17), await draw(10, 100, 16)]) {
      let same = 0;
      for (let i = 0; i < a.length; i++) if (a[i] === other[i]) same++;
      expect(same).toBeLessThan(3);
    }
  });
});

describe('stream ids', () => {
  it('kernels use the generated STREAM_* constants of src/flow/random.ts, never their own numbers', () => {
    const generated = new Set([...streamConstants().matchAll(/const (STREAM_\w+)/g)].map((m) => m[1]));
    expect(generated.has('STREAM_LABEL_DROP')).toBe(true);
    const dir = join(__dirname, '..', 'kernels');
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.wgsl'))) {
      const src = readFileSync(join(dir, f), 'utf8').replace(/\/\/.*$/gm, '');
      expect(src, `${f} declares its own stream id`).not.toMatch(/const\s+STREAM_/);
      for (const m of src.matchAll(/\bSTREAM_\w+/g)) expect(generated.has(m[0]), `${f}: ${m[0]} is not in STREAM`).toBe(true);
    }
  });
});
