// `npm run test:deno`: the browser checks (test/browser/page.mjs: real ops on the GPU against float64
// in plain JS) under a third WebGPU implementation — Deno's, built on wgpu with the naga WGSL
// compiler, the stack Firefox ships — on the machine's Vulkan driver. A kernel that only Dawn's
// compiler (Tint) accepts fails here before a Firefox user finds it.
//
// The internal entry (src/internal.ts: the test hooks the page uses) is bundled for the browser with
// esbuild exactly as test/browser/run.mjs does; the page's import of '/flowgpu/internal.js' is pointed
// at that file, and a small Deno entry runs `runFlowgpuTests()` and prints one line per check and
// "N passed, N failed". Deno comes from the npm package `deno` (a devDependency: its binary is an
// npm optional dependency, nothing is downloaded at run time).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const dir = mkdtempSync(join(tmpdir(), 'flowgpu-deno-'));
await build({
  entryPoints: [join(root, 'src/internal.ts')], outfile: join(dir, 'internal.js'), bundle: true, format: 'esm', platform: 'browser',
  target: 'es2022', loader: { '.wgsl': 'text' }, external: ['webgpu'], logLevel: 'warning',
});
const page = readFileSync(join(root, 'test/browser/page.mjs'), 'utf8');
if (!page.includes("'/flowgpu/internal.js'")) throw new Error('test/browser/page.mjs no longer imports /flowgpu/internal.js: update test/deno/run.mjs');
writeFileSync(join(dir, 'page.mjs'), page.replace("'/flowgpu/internal.js'", "'./internal.js'"));
writeFileSync(
  join(dir, 'main.mjs'),
  `globalThis.window = globalThis;
await import('./page.mjs');
const results = await window.runFlowgpuTests();
let passed = 0, failed = 0;
for (const r of results) {
  console.log(\`\${r.ok ? 'ok  ' : 'FAIL'} \${r.name}\${r.ms !== undefined ? \` (\${(r.ms / 1000).toFixed(1)} s)\` : ''}\${r.detail ? ' — ' + r.detail : ''}\`);
  r.ok ? passed++ : failed++;
}
console.log(\`\${passed} passed, \${failed} failed\`);
Deno.exit(failed ? 1 : 0);
`,
);
const deno = join(root, 'node_modules/.bin/deno');
const started = Date.now();
const r = spawnSync(deno, ['run', '--unstable-webgpu', '--no-prompt', `--allow-read=${dir}`, join(dir, 'main.mjs')], {
  encoding: 'utf8',
  timeout: 300_000,
  env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
});
process.stdout.write(r.stdout ?? '');
if (r.error || (r.status !== 0 && !/\d+ passed, \d+ failed/.test(r.stdout ?? ''))) {
  process.stdout.write(r.stderr ?? '');
  console.log(`deno: ${r.error ? r.error.message : `exited with ${r.status}`}`);
  console.log('0 passed, 1 failed');
}
console.log(`deno run took ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(r.status === 0 ? 0 : 1);
