import { describe, expect, it } from 'vitest';
import { acquireDevice } from '../src/gpu/device.js';
import { Gpu } from '../src/gpu/runtime.js';
import { empty, FlowGpuError, tensor, tidy, raw } from '../src/internal.js';
import { useGpu } from './helpers.js';

const { gpu } = useGpu();

describe('gpu runtime', () => {
  it('a missing adapter is an error that says how to install a driver', async () => {
    const g = globalThis as { navigator?: unknown };
    const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter: async () => null } }, configurable: true });
    try {
      await expect(acquireDevice()).rejects.toThrow(/No WebGPU adapter.*mesa-vulkan-drivers/s);
    } finally {
      if (had) Object.defineProperty(globalThis, 'navigator', had);
      else delete g.navigator;
    }
  });

  it('a kernel the driver rejects surfaces at the next sync, naming the kernel', async () => {
    const fam = gpu().family({
      name: 'deliberately_broken',
      code: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
             @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { y[g.x] = g.x; }`,
    });
    const t = empty([4]);
    gpu().dispatch(fam, 'main', { buffers: { y: t.arg() }, workgroups: [1] });
    await expect(gpu().sync()).rejects.toThrow(/deliberately_broken/);
    t.dispose();
    // the runtime keeps working afterwards
    const x = tensor([1, 2, 3]);
    expect([...(await raw.unaryRaw('neg', x).data())]).toEqual([-1, -2, -3]);
  });

  it('a tensor larger than the adapter allows is a clear out-of-memory error, before any GPU call', () => {
    const max = Math.min(gpu().limits.maxBufferSize, gpu().limits.maxStorageBufferBindingSize);
    expect(() => tidy(() => empty([Math.ceil(max / 4) + 1024]))).toThrow(/out of memory.*largest storage buffer.*smaller batch/s);
  });

  it('wrong bindings are rejected before the GPU sees them', () => {
    tidy(() => {
      const fam = raw.kernel('elementwise');
      const x = tensor([1, 2]);
      const y = empty([2]);
      expect(() => gpu().dispatch(fam, 'unary_forward', { buffers: { x: x.arg() }, params: { n: 2, a: 0, b: 0 }, workgroups: [1] })).toThrow(/missing buffer for binding 'y'/);
      expect(() => gpu().dispatch(fam, 'unary_forward', { buffers: { x: x.arg(), y: y.arg(), z: y.arg() }, params: { n: 2, a: 0, b: 0 }, workgroups: [1] })).toThrow(/unknown binding/);
      expect(() => gpu().dispatch(fam, 'unary_forward', { buffers: { x: x.arg(), y: y.arg() }, params: { n: 2, a: 0 }, workgroups: [1] })).toThrow(/missing uniform parameter 'b'/);
      expect(() => gpu().dispatch(fam, 'unary_forward', { buffers: { x: y.arg(), y: y.arg() }, params: { n: 2, a: 0, b: 0 }, workgroups: [1] })).toThrow(/shares its buffer/);
      const idx = tensor([0, 1], [2], 'i32');
      expect(() => gpu().dispatch(fam, 'unary_forward', { buffers: { x: idx.arg(), y: y.arg() }, params: { n: 2, a: 0, b: 0 }, workgroups: [1] })).toThrow(/holds f32 but was given a i32/);
    });
  });

  it('device loss is reported, never hung on', async () => {
    const g2 = await Gpu.create();
    const buf = g2.alloc(16);
    g2.device.destroy();
    await expect(g2.read(buf, 0, 16)).rejects.toThrow(/GPU device lost/);
    expect(() => g2.alloc(16)).toThrow(/GPU device lost/);
  });

  it('a steady-state step creates no buffer and submits once', async () => {
    const x = tensor(new Float32Array(256).fill(1), [16, 16]);
    const step = () => tidy(() => { raw.reduceRaw('sum', raw.matmulRaw(x, x), 1); });
    step();
    await gpu().sync();
    const before = { ...gpu().stats };
    for (let i = 0; i < 20; i++) {
      step();
      gpu().flush();
    }
    await gpu().sync();
    expect(gpu().stats.buffersCreated).toBe(before.buffersCreated);
    expect(gpu().stats.submits - before.submits).toBe(20);
    expect(gpu().stats.readbacks).toBe(before.readbacks);
    x.dispose();
  });

  it('a profile times every dispatch on the GPU, grouped by kernel, label and grid', async () => {
    const g = gpu();
    if (!g.hasFeature('timestamp-query')) {
      expect(() => g.startProfile()).toThrow(/timestamp-query/);
      return;
    }
    await expect(g.stopProfile()).rejects.toThrow(/no profile is running/);
    const x = tensor(new Float32Array(64 * 64).fill(0.5), [64, 64]);
    g.startProfile();
    expect(() => g.startProfile()).toThrow(/already running/);
    const before = g.stats.submits;
    for (let i = 0; i < 3; i++) {
      tidy(() => { raw.reduceRaw('sum', raw.matmulRaw(x, x), 1); });
      g.flush();
    }
    const y = raw.matmulRaw(x, x);
    const rows = await g.stopProfile();
    expect(g.stats.submits - before, 'profiling keeps one submit per flush').toBe(4);
    const mm = rows.filter((r) => r.kernel.startsWith('matmul.'));
    const red = rows.filter((r) => r.kernel.startsWith('reduce.'));
    expect(mm.reduce((a, r) => a + r.count, 0)).toBe(4);
    expect(red.reduce((a, r) => a + r.count, 0)).toBe(3);
    // a tiny dispatch may fall within one tick of a software driver's timestamps (SwiftShader gave a
    // 0 ms row once): each row is ≥ 0 and the profile as a whole measured time
    for (const r of rows) expect(r.ms).toBeGreaterThanOrEqual(0);
    expect(rows.reduce((a, r) => a + r.ms, 0)).toBeGreaterThan(0);
    expect(rows.map((r) => r.ms)).toEqual([...rows.map((r) => r.ms)].sort((a, b) => b - a));
    // the profiled work computed what it should
    expect(Array.from(await y.f32()).every((v) => v === 16)).toBe(true);
    x.dispose();
    y.dispose();
  });
});
