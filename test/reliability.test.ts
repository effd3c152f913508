// Runs that never lose work (issue 15): guarded output directories, the run lock, a real Ctrl-C
// that checkpoints and resumes to the same result, a resume past the asked steps, non-finite
// weights and samples named, --out that cannot be a directory.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runToy, toyConfig } from '../src/cli/train.js';
import { affine, decodeCheckpoint, encodeCheckpoint, flow, type Tensor } from '../src/internal.js';
import { LOCK_FILE, loadModelFile } from '../src/io/node-files.js';
import { useGpu } from './helpers.js';

useGpu();

const tiny = ['--hidden', '16', '--layers', '2', '--batch', '64', '--log-every', '5', '--ckpt-every', '10', '--samples', '64', '--nfe', '4'];
const cli = join(process.cwd(), 'dist/node/cli.js');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
const md5 = (f: string) => createHash('md5').update(readFileSync(f)).digest('hex');
/** The PID of a process that has exited (a lock or temp file naming it is stale). */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

describe('output directories', () => {
  it('refuse a directory that holds a run unless --resume or --force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-g-'));
    await runToy(toyConfig([...tiny, '--steps', '5', '--out', dir]));
    await expect(runToy(toyConfig([...tiny, '--steps', '5', '--out', dir]))).rejects.toThrow(/already holds a run.*--resume.*--force/);
    await runToy(toyConfig([...tiny, '--steps', '5', '--out', dir, '--force']));
    expect(() => toyConfig([...tiny, '--resume', '--force'])).toThrow(/not both/);
    // a resume past the steps asked for is a message, not a RangeError
    await expect(runToy(toyConfig([...tiny, '--steps', '3', '--out', dir, '--resume']))).rejects.toThrow(/step 5, past the 3 steps/);
  });

  it('are locked: a live writer is named, a dead one\'s lock and temp files are taken over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-l-'));
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, LOCK_FILE), `${sleeper.pid}\n`);
      await expect(runToy(toyConfig([...tiny, '--steps', '5', '--out', dir]))).rejects.toThrow(new RegExp(`another flowgpu process \\(PID ${sleeper.pid}\\)`));
    } finally {
      sleeper.kill();
    }
    const dead = deadPid();
    writeFileSync(join(dir, LOCK_FILE), `${dead}\n`);
    writeFileSync(join(dir, `.checkpoint.safetensors.${dead}.abc123.tmp`), 'torn');
    await runToy(toyConfig([...tiny, '--steps', '5', '--out', dir]));
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp') || f === LOCK_FILE)).toEqual([]);
  });

  it('checks what it can before training: a --samples that cannot fit, an absurd --hidden', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fg-pre-')), 'run');
    await expect(runToy(toyConfig([...tiny, '--steps', '5', '--samples', '100000000', '--out', dir]))).rejects.toThrow(/--samples 100000000 needs .* use --samples ≤ \d+/);
    await expect(runToy(toyConfig([...tiny, '--hidden', '60000', '--steps', '5', '--out', dir]))).rejects.toThrow(/would have about 3\.60e\+9 parameters; this adapter holds at most/);
    expect(existsSync(dir)).toBe(false); // nothing was created
  });

  it('--out that is a file gets a message', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fg-f-')), 'plain');
    writeFileSync(file, 'x');
    await expect(runToy(toyConfig([...tiny, '--steps', '5', '--out', file]))).rejects.toThrow(/is a file, not a directory/);
    await expect(runToy(toyConfig([...tiny, '--steps', '5', '--out', join(file, 'below')]))).rejects.toThrow(/is a file, not a directory/);
  });
});

describe('non-finite numbers never pass silently', () => {
  it('loading weights with a NaN names the tensor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-nan-'));
    await runToy(toyConfig([...tiny, '--steps', '5', '--out', dir]));
    const path = join(dir, 'model.safetensors');
    const ck = decodeCheckpoint(readFileSync(path)); // a Node Buffer, as users pass it
    const tensors = ck.tensors.map((x) => ({ ...x, data: Float32Array.from(x.data) }));
    tensors.find((x) => x.name === '2.weight')!.data[7] = NaN;
    writeFileSync(path, encodeCheckpoint({ tensors, config: ck.config, trainingState: ck.trainingState }));
    expect(() => loadModelFile(dir)).toThrow(/tensor '2\.weight' holds NaN at element 7/);
  });

  it('generate names the samples that went non-finite', async () => {
    const net = { sampleShape: [2], numClasses: 0, sampleChunk: Infinity, forward: (x: Tensor) => affine(x, Number.POSITIVE_INFINITY) };
    await expect(flow.generate(net, { n: 3, solver: 'euler', steps: 2 })).rejects.toThrow(/samples 0, 1, 2 went non-finite/);
  });
});

describe('Ctrl-C and a second writer, with the real command', () => {
  const args = (out: string) => [cli, 'train', 'toy', '--dataset', 'moons', '--hidden', '16', '--layers', '2', '--batch', '64', '--steps', '4000',
    '--log-every', '10', '--ckpt-every', '100', '--samples', '256', '--nfe', '4', '--out', out];
  const run = (argv: string[]) => spawnSync(process.execPath, argv, { env, encoding: 'utf8', timeout: 300_000 });

  it('SIGINT checkpoints and exits 130; --resume ends with the samples of an uninterrupted run; a second writer is refused', async () => {
    expect(existsSync(cli), 'dist/ is missing: run npm run build').toBe(true);
    const a = mkdtempSync(join(tmpdir(), 'fg-sig-'));
    const child = spawn(process.execPath, args(a), { env });
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // wait until it trains (the lock and a first checkpoint exist), then try a second writer
    for (let i = 0; i < 600 && !existsSync(join(a, 'checkpoint.safetensors')); i++) await new Promise((r) => setTimeout(r, 100));
    const second = run([...args(a), '--resume']);
    expect(second.status).toBe(2);
    // the lock holds the PID of the process doing the work (`flowgpu` runs its command in a child: src/cli/quiet.ts)
    const owner = Number.parseInt(readFileSync(join(a, LOCK_FILE), 'utf8'), 10);
    expect(second.stderr).toMatch(new RegExp(`being written by another flowgpu process \\(PID ${owner}\\)`));
    // and Dawn's two lavapipe warnings are not among what it printed
    expect(second.stderr).not.toMatch(/artificially reduced/);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(err).toMatch(/stopped at step (\d+) of 4000; the checkpoint is in .*--resume/);
    const stoppedAt = Number(/stopped at step (\d+)/.exec(err)![1]);
    expect(stoppedAt).toBeLessThan(4000);
    expect(existsSync(join(a, 'model.safetensors'))).toBe(false);
    const resumed = run([...args(a), '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`resumed .* at step ${stoppedAt}`));
    const b = mkdtempSync(join(tmpdir(), 'fg-sig-'));
    const whole = run(args(b));
    expect(whole.status, whole.stderr).toBe(0);
    // every step is a function of (seed, step): the interrupted run ends on the same weights
    expect(md5(join(a, 'samples.npy'))).toBe(md5(join(b, 'samples.npy')));
  });
});

describe('Ctrl-C in a terminal', () => {
  it('reaches the whole process group (the flowgpu process and its worker) and still checkpoints once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-grp-'));
    const child = spawn(process.execPath, [cli, 'train', 'toy', '--hidden', '16', '--batch', '64', '--steps', '4000', '--log-every', '10',
      '--ckpt-every', '100', '--out', dir], { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += String(d)));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; i < 600 && !existsSync(join(dir, 'checkpoint.safetensors')); i++) await new Promise((r) => setTimeout(r, 100));
    process.kill(-child.pid!, 'SIGINT'); // what the terminal does: every process of the group
    expect(await exited).toBe(130);
    expect(err).toMatch(/stopped at step \d+ of 4000; the checkpoint is in/);
  });
});

describe('a lost device', () => {
  // In a process of its own (the tests share one device): the library's Trainer with the Node file
  // helpers, as an application would run it; the device is destroyed under it after step 15.
  const script = `
    import { initGpu, destroyGpu, nn, data, train, node } from ${JSON.stringify(join(process.cwd(), 'dist/node/index.js'))};
    const [dir, mode] = process.argv.slice(2);
    const g = await initGpu();
    const t = new train.Trainer({ net: nn.buildNet(nn.mlpSpec({ dim: 2, hidden: 16, hiddenLayers: 2 }), 1),
      data: data.toyBatches('moons', 64, 1), steps: 40, logEvery: 5, checkpointEvery: 10, seed: 1, ema: 0.9 });
    const ckpt = dir + '/' + train.CHECKPOINT_FILE;
    if (mode === 'resume') t.restore(node.readCheckpoint(ckpt));
    try {
      await t.run({
        onCheckpoint: ({ bytes }) => node.writeFileAtomic(ckpt, bytes),
        onProgress: (p) => { if (mode === 'lose' && p.step === 15) g.device.destroy(); },
      });
      console.log(JSON.stringify({ ok: true, loss: t.history.loss }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, name: e.name, message: e.message, step: t.step, last: t.lastCheckpointStep }));
    }
    destroyGpu();
  `;
  const go = (dir: string, mode: string) => {
    const file = join(dir, 'app.mjs');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file, dir, mode], { env, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };

  it('ends the run with a clear error, keeps the last checkpoint, and --resume continues to the uninterrupted result', () => {
    const a = mkdtempSync(join(tmpdir(), 'fg-lost-'));
    const lost = go(a, 'lose');
    expect(lost.ok).toBe(false);
    expect(lost.name).toBe('FlowGpuError');
    expect(lost.message).toMatch(/GPU device lost/);
    expect(lost.message).not.toMatch(/out of memory/);
    expect(lost.last).toBe(10);
    const resumed = go(a, 'resume');
    const whole = go(mkdtempSync(join(tmpdir(), 'fg-lost-')), 'plain');
    expect(resumed.ok && whole.ok).toBe(true);
    expect(resumed.loss).toEqual(whole.loss);
  });
});
