// The package as a consumer gets it: `npm pack` (which runs `prepare`, the build), then a fresh
// project in the OS temp directory, outside the checkout, installs the tarball with the TypeScript,
// @types/node, @webgpu/types and esbuild versions this checkout uses, and
//   - type-checks test/consumer/consumer.ts and README's "As a library" examples with strict
//     nodenext settings, no DOM library and no skipLibCheck (tsconfig.json), and a browser app
//     with bundler resolution, the DOM library and WebGPU's types, no @types/node
//     (tsconfig.browser.json);
//   - runs the compiled consumer and README examples with Node ('flowgpu' resolves to the tarball);
//   - bundles the browser app with esbuild for the browser and finds no Node-only import in it;
//   - finds the pretrained models in the install (tarball under 10 MB) and samples them with
//     `flowgpu sample --pretrained`.
// The files under test/consumer/ are the consumer's side: update them when the API moves.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const consumerSrc = join(repo, 'test', 'consumer');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

interface Ran {
  code: number | null;
  out: string;
  what: string;
}

/** Runs a command; resolves with its exit code and its stdout and stderr interleaved. */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<Ran> {
  const what = `${cmd} ${args.join(' ')}  (in ${cwd})`;
  return new Promise((done) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', (e) => (out += `\n[spawn error] ${e.message}`));
    p.on('close', (code, signal) => done({ code: signal ? null : code, out: signal ? `${out}\n[killed: ${signal}]` : out, what }));
  });
}

const report = (r: Ran) => `\`${r.what}\` exited with ${r.code}:\n${r.out.slice(-8000)}`;

/** Fails with the command and the tail of its output unless it exited 0. */
function expectOk(r: Ran): string {
  expect(r.code, report(r)).toBe(0);
  return r.out;
}

const versionOf = (pkg: string) =>
  (JSON.parse(readFileSync(join(repo, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

/** The ```ts blocks of README.md's "As a library" section. */
function readmeLibraryBlocks(): string[] {
  const md = readFileSync(join(repo, 'README.md'), 'utf8');
  const start = md.indexOf('\n## As a library\n');
  expect(start, 'README.md has no "## As a library" section').toBeGreaterThanOrEqual(0);
  const rest = md.slice(start + 1);
  const end = rest.indexOf('\n## ', 1);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

const work = mkdtempSync(join(realpathSync(tmpdir()), 'flowgpu-package-test-'));
const packDir = join(work, 'pack');
const app = join(work, 'consumer');
let tarball = '';
let installed = false;
let emitted = false;
let readmeCount = 0;

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed package, used from a fresh consumer project', () => {
  it('npm pack builds a tarball', async () => {
    expect(relative(repo, work).startsWith('..'), `the temp dir ${work} is inside the checkout`).toBe(true);
    mkdirSync(packDir);
    expectOk(await run('npm', ['pack', '--pack-destination', packDir], repo, 240_000));
    const tgz = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    expect(tgz, `npm pack left ${tgz.length} tarballs in ${packDir}`).toHaveLength(1);
    tarball = join(packDir, tgz[0]);
  }, 300_000);

  it('installs into a project outside the checkout', async () => {
    expect(tarball, 'no tarball (npm pack failed)').not.toBe('');
    mkdirSync(app);
    cpSync(consumerSrc, app, { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'flowgpu-consumer', private: true, type: 'module' }));
    const blocks = readmeLibraryBlocks();
    expect(blocks.length, 'README.md\'s "As a library" section has no ```ts example').toBeGreaterThan(0);
    blocks.forEach((b, i) => writeFileSync(join(app, `readme-${i + 1}.ts`), b));
    readmeCount = blocks.length;
    const pkgs = ['typescript', '@types/node', '@webgpu/types', 'esbuild'].map((p) => `${p}@${versionOf(p)}`);
    // --prefix: the consumer project, whatever npm_config_* the `npm test` around this exported.
    expectOk(await run('npm', ['install', '--prefix', app, '--no-audit', '--no-fund', '--prefer-offline', tarball, ...pkgs], app, 600_000));
    const where = expectOk(await run(process.execPath, ['-p', "require.resolve('flowgpu')"], app, 30_000)).trim();
    expect(where, "'flowgpu' does not resolve to the installed tarball").toBe(join(app, 'node_modules', 'flowgpu', 'dist', 'node', 'index.js'));
    installed = true;
  }, 660_000);

  it('its declarations compile in strict consumers without skipLibCheck (Node: nodenext, no DOM; browser: bundler, DOM, WebGPU types)', async () => {
    expect(installed, 'not installed (an earlier step failed)').toBe(true);
    const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
    // Both at once: two cores, and each is mostly one thread.
    const [node, browser] = await Promise.all([
      run(process.execPath, [tsc, '-p', 'tsconfig.json'], app, 240_000),
      run(process.execPath, [tsc, '-p', 'tsconfig.browser.json'], app, 240_000),
    ]);
    // tsc emits out/*.js despite type errors: the run steps below still run and report on their own.
    emitted = existsSync(join(app, 'out', 'consumer.js'));
    const failed = [node, browser].filter((r) => r.code !== 0);
    expect(failed.length, failed.map(report).join('\n\n')).toBe(0);
  }, 300_000);

  it('the compiled consumer runs', async () => {
    expect(emitted, 'tsc emitted no JavaScript (an earlier step failed)').toBe(true);
    const out = expectOk(await run(process.execPath, ['out/consumer.js'], app, 120_000));
    expect(out, out).toMatch(/samples: 64, first: -?\d/);
    expect(out, out).toMatch(/tensors: (\d+) \1 \1, note: consumer/);
  }, 150_000);

  it('each README library example runs against the installed package and prints numbers', async () => {
    expect(emitted, 'tsc emitted no JavaScript (an earlier step failed)').toBe(true);
    for (let i = 1; i <= readmeCount; i++) {
      const out = expectOk(await run(process.execPath, [`out/readme-${i}.js`], app, 300_000));
      const nums = [...out.matchAll(/-?\d+\.\d+(e-?\d+)?/g)].map((m) => Number(m[0]));
      expect(nums.length, `README example ${i} printed no numbers:\n${out}`).toBeGreaterThan(0);
      expect(nums.every(Number.isFinite), `README example ${i} printed a non-finite number:\n${out}`).toBe(true);
      const block = readFileSync(join(app, `readme-${i}.ts`), 'utf8');
      if (block.includes("'8gaussians'") && nums.length >= 6) {
        // 8 gaussians: centres at radius 5 with std ≈ 0.56; after the example's training the samples
        // spread out to that scale (an untrained net would leave them near N(0, I)).
        const radii = [0, 2, 4].map((j) => Math.hypot(nums[j], nums[j + 1]));
        expect(Math.max(...radii), `README example ${i}: samples not spread like the 8 gaussians:\n${out}`).toBeGreaterThan(2.5);
      }
    }
  }, 600_000);

  it('ships the pretrained models (tarball under 10 MB), and `flowgpu sample --pretrained` works on the fresh install', async () => {
    expect(installed, 'not installed (an earlier step failed)').toBe(true);
    const mb = statSync(tarball).size / 2 ** 20;
    expect(mb, `the tarball is ${mb.toFixed(1)} MB`).toBeLessThan(10);
    const shipped = readdirSync(join(app, 'node_modules', 'flowgpu', 'pretrained')).sort();
    expect(shipped).toEqual(['checkerboard.safetensors', 'mnist16-1step.safetensors', 'mnist16-cond.safetensors']);
    const flowgpu = join(app, 'node_modules', '.bin', 'flowgpu');
    const said = expectOk(await run(flowgpu, ['sample', '--pretrained', 'checkerboard', '--n', '2000', '--out', 'cb.npy'], app, 120_000));
    expect(said).toMatch(/wrote 2000 samples to cb.npy \(midpoint, 40 velocity evaluations\)/);
    const q = expectOk(await run(flowgpu, ['eval', 'toy', 'cb.npy', '--dataset', 'checkerboard'], app, 60_000));
    const sw2 = Number(/sliced W2 ([\d.]+)/.exec(q)?.[1]);
    expect(sw2, q).toBeLessThan(0.15); // floor 0.115 at 2000 points; 0.124 measured
    const digits = expectOk(await run(flowgpu, ['sample', '--pretrained', 'mnist16-1step', '--per-class', '--n', '100', '--out', 'd.npy'], app, 120_000));
    expect(digits).toMatch(/wrote 100 16×16 samples \(euler, 1 velocity evaluations, 10 per class, guidance 1\)/);
    expect(existsSync(join(app, 'd.labels.npy'))).toBe(true);
  }, 300_000);

  it('the browser app bundles for the browser with no Node-only import', async () => {
    expect(installed, 'not installed (an earlier step failed)').toBe(true);
    const esbuild = join(app, 'node_modules', '.bin', 'esbuild');
    const outfile = join(app, 'out', 'browser-bundle.js');
    const metafile = join(app, 'out', 'browser-meta.json');
    expectOk(await run(esbuild, [
      'browser.ts', '--bundle', '--platform=browser', '--format=esm', '--log-level=warning',
      `--outfile=${outfile}`, `--metafile=${metafile}`,
    ], app, 120_000));
    const meta = JSON.parse(readFileSync(metafile, 'utf8')) as {
      inputs: Record<string, unknown>;
      outputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
    };
    // (metafile paths are relative to the working directory, with forward slashes)
    const fromPackage = Object.keys(meta.inputs).filter((p) => p.startsWith('node_modules/flowgpu/'));
    expect(fromPackage, `the bundle took these files of the package: ${fromPackage.join(', ')}`).toEqual([
      'node_modules/flowgpu/dist/browser/index.js',
    ]);
    const externals = Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
    expect(externals, 'the browser bundle imports modules it does not contain').toEqual([]);
    const code = readFileSync(outfile, 'utf8');
    const nodeOnly = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'](node:[^"']+|fs|fs\/promises|path|zlib|child_process|module|os|url|worker_threads|webgpu)["']/g;
    const hits = [...code.matchAll(nodeOnly)].map((m) => m[0]);
    expect(hits, 'Node-only imports in the browser bundle').toEqual([]);
  }, 150_000);
});
