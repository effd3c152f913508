#!/usr/bin/env node
/**
 * `npm run test:browser`: the engine in a real browser. Serves the browser bundle
 * (dist/browser/index.js, from `node build.mjs`; this script builds nothing) and test/browser/page.html
 * + page.mjs from a local HTTP server on 127.0.0.1 (random port), opens the page in headless Chromium
 * with WebGPU enabled (Debian's `chromium` package, driven by playwright-core; on a machine without
 * a GPU its adapter is SwiftShader), and runs the checks of page.mjs there: initGpu() on
 * navigator.gpu, a matmul, a softmax, a VelocityMLP forward + backward with one AdamW step, and an
 * Euler sample, each against float64 in the page. Before that it checks that the bundle has no
 * Node-only import.
 *
 * Prints one line per check and then "N passed, M failed"; exits 1 on any failure, 2 when it
 * could not run at all (no chromium, no bundle). Every wait has a time limit. Chromium's flags:
 * --enable-unsafe-webgpu is needed (without it Linux Chromium has navigator.gpu but no adapter);
 * playwright-core adds --enable-unsafe-swiftshader (the software fallback) and a temporary
 * profile. --disable-gpu is not passed: it is not needed for SwiftShader, and where a real GPU
 * exists the checks then run on it.
 *
 * Environment: CHROMIUM=/path/to/chromium (default /usr/bin/chromium), BROWSER_TEST_TIMEOUT_MS
 * (the in-page checks' limit, default 240000).
 */
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumProblem, launchChromium, withTimeout } from './chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const bundlePath = join(root, 'dist/browser/index.js');
const pageTimeoutMs = Number(process.env.BROWSER_TEST_TIMEOUT_MS) || 240_000;
const started = Date.now();

// The last resort against a hang anywhere (every wait below has its own, shorter limit).
setTimeout(() => {
  console.error('test:browser: the run did not finish in time; giving up');
  console.log('0 passed, 1 failed');
  process.exit(1);
}, pageTimeoutMs + 240_000).unref();

function fatal(msg) {
  console.error(`test:browser: ${msg}`);
  console.log('0 passed, 1 failed');
  process.exit(2);
}

if (chromiumProblem()) fatal(chromiumProblem());
if (!existsSync(bundlePath)) fatal(`no browser bundle at ${bundlePath}: run \`node build.mjs\` (npm run build) first.`);

const results = [];
const record = (name, ok, detail = '', ms) => {
  results.push({ name, ok, detail });
  const time = ms === undefined ? '' : ` (${(ms / 1000).toFixed(1)} s)`;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${time}${detail ? ` — ${detail}` : ''}`);
};

// 1. The bundle must not import anything Node-only: no static import at all (it is self-contained),
//    no node: specifier, no require(). The one dynamic import('webgpu') of src/gpu/device.ts is
//    reached only when navigator.gpu is missing, and its specifier is a variable, so bundlers leave it.
{
  const src = readFileSync(bundlePath, 'utf8');
  const bad = [];
  const lines = src.split('\n');
  const patterns = [
    [/^\s*import\s[^(]*?from\s*['"]([^'"]+)['"]/, 'static import'],
    [/^\s*import\s*['"]([^'"]+)['"]/, 'side-effect import'],
    [/^\s*export\s[^(]*?from\s*['"]([^'"]+)['"]/, 're-export'],
    [/['"](node:[a-z_/]+)['"]/, 'node: specifier'],
    [/\brequire\s*\(\s*['"]([^'"]+)['"]/, 'require()'],
    [/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/, 'dynamic import of a literal'],
  ];
  lines.forEach((line, i) => {
    for (const [re, kind] of patterns) {
      const m = re.exec(line);
      if (m) bad.push(`${kind} '${m[1]}' at dist/browser/index.js:${i + 1}`);
    }
  });
  // The source a Node-only import came from: esbuild marks each module with a "// src/…" comment.
  const withSource = bad.map((b) => {
    const line = Number(b.split(':').pop());
    let from = '?';
    for (let i = line - 1; i >= 0; i--) {
      const m = /^\/\/ ((?:src|kernels)\/\S+)/.exec(lines[i]);
      if (m) { from = m[1]; break; }
    }
    return `${b} (from ${from})`;
  });
  record('dist/browser/index.js has no Node-only import', bad.length === 0, bad.length ? withSource.join('; ') : `${(src.length / 1024).toFixed(0)} KiB`);
}

// 2. The page's numeric checks use test hooks (poisonOutputs, the runtime): they import the internal
//    entry (src/internal.ts), bundled here for the browser exactly as build.mjs bundles the public one.
const internalPath = join(mkdtempSync(join(tmpdir(), 'flowgpu-browser-')), 'internal.js');
await build({
  entryPoints: [join(root, 'src/internal.ts')], outfile: internalPath, bundle: true, format: 'esm', platform: 'browser',
  target: 'es2022', loader: { '.wgsl': 'text' }, external: ['webgpu'], sourcemap: true, logLevel: 'warning',
});

// 3. Serve the bundles and the page.
const files = {
  '/': ['page.html', 'text/html; charset=utf-8'],
  '/page.html': ['page.html', 'text/html; charset=utf-8'],
  '/page.mjs': ['page.mjs', 'text/javascript; charset=utf-8'],
  '/flowgpu/index.js': [bundlePath, 'text/javascript; charset=utf-8'],
  '/flowgpu/index.js.map': [bundlePath + '.map', 'application/json'],
  '/flowgpu/internal.js': [internalPath, 'text/javascript; charset=utf-8'],
  '/flowgpu/internal.js.map': [internalPath + '.map', 'application/json'],
};
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
  const f = files[path];
  if (!f || !existsSync(resolve(here, f[0]))) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-store' }).end(readFileSync(resolve(here, f[0])));
});
server.keepAliveTimeout = 1000;
await withTimeout(new Promise((ok, fail) => { server.once('error', fail); server.listen(0, '127.0.0.1', ok); }), 10_000, 'HTTP server');
const port = server.address().port;

// 3. Headless Chromium with WebGPU (DESIGN.md, "In the browser"; test/browser/chromium.mjs).
let browser = null;
let adapter = '';
try {
  browser = await launchChromium();
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`  [page ${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`  [page error] ${e.message}`));
  await page.goto(`http://127.0.0.1:${port}/`, { timeout: 30_000 });
  await page.waitForFunction(() => window.flowgpuPageReady === true || !!window.flowgpuPageError, null, { timeout: 30_000 });
  const loadError = await withTimeout(page.evaluate(() => window.flowgpuPageError ?? null), 30_000, 'page.evaluate');
  if (loadError) throw new Error(loadError);
  const hasGpu = await withTimeout(page.evaluate(() => !!navigator.gpu), 30_000, 'page.evaluate');
  if (!hasGpu) {
    record('navigator.gpu exists', false, 'this Chromium has no WebGPU (needs --enable-unsafe-webgpu, a Vulkan driver or SwiftShader)');
  } else {
    const pageResults = await withTimeout(page.evaluate(() => window.runFlowgpuTests()), pageTimeoutMs, 'the in-page checks');
    for (const r of pageResults) {
      record(r.name, r.ok, r.detail, r.ms);
      if (r.name === 'reports the adapter' && r.ok) adapter = r.detail;
    }
  }
} catch (e) {
  record('browser session', false, e && e.message ? e.message : String(e));
} finally {
  if (browser) await withTimeout(browser.close(), 20_000, 'closing Chromium').catch((e) => console.log(`  (${e.message})`));
  await withTimeout(new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }), 5_000, 'closing the server').catch(() => {});
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
if (adapter) console.log(`adapter: ${adapter}`);
console.log(`browser run took ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
