import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runToy, toyConfig } from '../src/cli/train.js';
import { nll } from '../src/cli/sample.js';
import { loadModelFile, readSafetensors, writeNpy } from '../src/io/node-files.js';
import { useGpu } from './helpers.js';

const { gpu } = useGpu();

const tiny = ['--hidden', '16', '--layers', '2', '--batch', '64', '--log-every', '5', '--ckpt-every', '10', '--samples', '64', '--nfe', '4', '--ema', '0.9'];

describe('flowgpu train toy', () => {
  it('writes the run files, and a resumed run reproduces the uninterrupted loss curve exactly', async () => {
    const a = mkdtempSync(join(tmpdir(), 'fg-a-'));
    const b = mkdtempSync(join(tmpdir(), 'fg-b-'));
    const full = await runToy(toyConfig([...tiny, '--steps', '20', '--out', a]));
    for (const f of ['model.safetensors', 'checkpoint.safetensors', 'samples.npy', 'samples.png', 'trajectories.png', 'loss.png', 'metrics.json']) {
      expect(existsSync(join(a, f)), f).toBe(true);
    }
    expect(full.history.lossStep).toEqual([5, 10, 15, 20]);
    await runToy(toyConfig([...tiny, '--steps', '10', '--out', b]));
    const resumed = await runToy(toyConfig([...tiny, '--steps', '20', '--out', b, '--resume']));
    expect(resumed.history.lossStep).toEqual(full.history.lossStep);
    // Same seed, same adapter: bit-identical losses (reductions are deterministic, no atomics).
    expect(resumed.history.loss).toEqual(full.history.loss);
    const metrics = JSON.parse(readFileSync(join(a, 'metrics.json'), 'utf8'));
    expect(metrics.sw2Floor).toBeGreaterThan(0);
  });

  it('--profile prints the GPU time per kernel of 10 steps and leaves the computation unchanged', async () => {
    const plain = await runToy(toyConfig([...tiny, '--steps', '20', '--out', mkdtempSync(join(tmpdir(), 'fg-p-'))]));
    const err: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      err.push(String(s));
      return true;
    });
    let profiled;
    try {
      profiled = await runToy(toyConfig([...tiny, '--steps', '20', '--profile', '--out', mkdtempSync(join(tmpdir(), 'fg-p-'))]));
    } finally {
      spy.mockRestore();
    }
    // each dispatch ran in a compute pass of its own, timestamped: same kernels, same losses
    expect(profiled.history.loss).toEqual(plain.history.loss);
    const text = err.join('');
    if (!gpu().hasFeature('timestamp-query')) {
      expect(text).toMatch(/no timestamp queries; not profiling/);
      return;
    }
    const head = text.match(/--profile: GPU time of 10 steps, per step: ([0-9.]+) ms in ([0-9.]+) dispatches/);
    expect(head, text).not.toBeNull();
    expect(Number(head![1])).toBeGreaterThan(0);
    expect(Number(head![2])).toBeGreaterThan(10);
    // one row per kernel, label and grid, the most expensive first
    const ms = [...text.matchAll(/^ +([0-9.]+) ms +[0-9.]+%  ×[0-9.]+  \w+\.\w+/gm)].map((m) => Number(m[1]));
    expect(ms.length).toBeGreaterThan(5);
    expect(ms).toEqual([...ms].sort((a, b) => b - a));
    expect(text).toMatch(/matmul\.matmul/);
  });

  it('model.safetensors holds torch.nn.Sequential names and loads back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-m-'));
    await runToy(toyConfig([...tiny, '--steps', '5', '--out', dir]));
    const file = readSafetensors(join(dir, 'model.safetensors'));
    expect(file.tensors.map((t) => t.name).sort()).toEqual(['0.bias', '0.weight', '2.bias', '2.weight', '4.bias', '4.weight']);
    expect(file.tensors.find((t) => t.name === '0.weight')!.shape).toEqual([16, 3]); // Linear(3, H) on concat[x, t]
    const m = loadModelFile(dir);
    expect(m.net.module.parameterCount()).toBe(16 * 3 + 16 + 16 * 16 + 16 + 2 * 16 + 2);
    m.net.module.dispose();
  });

  it('refuses to resume with a different architecture, naming the difference', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-r-'));
    await runToy(toyConfig([...tiny, '--steps', '5', '--out', dir]));
    await expect(runToy(toyConfig([...tiny.map((x) => (x === '16' ? '32' : x)), '--steps', '10', '--out', dir, '--resume']))).rejects.toThrow(/different configuration.*hidden/s);
  });

  it('rejects bad flags with a message that names them', () => {
    expect(() => toyConfig(['--steps', 'many'])).toThrow(/--steps takes an integer/);
    expect(() => toyConfig(['--dataset', 'mnist'])).toThrow(/--dataset takes one of/);
    expect(() => toyConfig(['--path', 'straight'])).toThrow(/--path takes one of condot, polynomial, cosine, vp/);
    expect(() => toyConfig(['--lr=-1'])).toThrow(/--lr must be > 0/);
    expect(() => toyConfig(['--lr', '0'])).toThrow(/--lr must be > 0/);
    expect(() => toyConfig(['--bogus'])).toThrow(/bogus/);
    expect(() => toyConfig(['--log-every', '7', '--ckpt-every', '10'])).toThrow(/multiple of --log-every/);
  });

  it('nll refuses data with NaN or the wrong width, naming the row', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-n-'));
    await runToy(toyConfig([...tiny, '--steps', '5', '--out', dir]));
    const bad = join(dir, 'bad.npy');
    writeNpy(bad, Float32Array.from([0, 1, 2, NaN]), [2, 2]);
    await expect(nll([dir, '--data', bad])).rejects.toThrow(/row 1.*NaN/);
    const wide = join(dir, 'wide.npy');
    writeNpy(wide, new Float32Array(6), [2, 3]);
    await expect(nll([dir, '--data', wide])).rejects.toThrow(/\[N, 2\]/);
  });
});
