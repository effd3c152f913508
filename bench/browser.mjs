#!/usr/bin/env node
/**
 * `npm run bench:browser`: the bench page (demo/bench.html, demo/src/bench.ts) in headless Chromium —
 * flowgpu, jax-js and tfjs-webgpu on the browser's WebGPU adapter (SwiftShader on a machine without
 * a GPU). Builds the demo site (needs dist/browser from `node build.mjs`; the npm script runs it),
 * serves it on 127.0.0.1, opens bench.html?mode=quick&autorun=1, prints the page's log as it runs,
 * then writes bench/results/<adapter-slug>-<YYYY-MM-DD>-browser.json and prints the Markdown tables.
 *
 *   node bench/browser.mjs [--full] [--smoke] [--idle|--shared] [--filter S]… [--samples N] [--out DIR]
 *
 *   --full     the full suite (matmul to 4096, every sampling step); default: quick
 *   --smoke    one small entry per engine (matmul 256 and train B, 1 sample) and the verification;
 *              prints "N passed, M failed" (CI runs this) and writes its JSON to a temporary folder
 *   --idle / --shared  what you say about the machine; the 1-minute load average before the run and
 *              the core count are recorded with it (the report's `machine`)
 *   --timer T  wall (default: every engine by the same clock) | timestamp (flowgpu's kernels by GPU timestamps)
 *
 * Every wait has a time limit (BENCH_BROWSER_TIMEOUT_S overrides the page's: smoke 240 s, quick 1800 s,
 * full 7200 s). Exits 1 when the run or a smoke check fails, 2 when it cannot run (no Chromium, no build).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumProblem, launchChromium, withTimeout } from '../test/browser/chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const started = Date.now();
const load = loadavg()[0]; // before anything of ours runs

const args = process.argv.slice(2);
const flag = (f) => args.includes(f);
const values = (f) => args.flatMap((a, i) => (a === f && args[i + 1] !== undefined ? [args[i + 1]] : []));
const mode = flag('--smoke') ? 'smoke' : flag('--full') ? 'full' : 'quick';
const smoke = mode === 'smoke';
const limitS = Number(process.env.BENCH_BROWSER_TIMEOUT_S) || { smoke: 240, quick: 1800, full: 7200 }[mode];
const outDir = values('--out')[0] ?? (smoke ? mkdtempSync(join(tmpdir(), 'flowgpu-bench-smoke-')) : join(root, 'bench/results'));

const say = (m) => console.error(`[bench:browser] ${m}`);
function fatal(msg) {
  console.error(`bench:browser: ${msg}`);
  if (smoke) console.log('0 passed, 1 failed');
  process.exit(2);
}
// the last resort against a hang anywhere (every wait below has its own, shorter limit)
setTimeout(() => {
  console.error(`bench:browser: the run did not finish in ${limitS + 180} s; giving up`);
  if (smoke) console.log('0 passed, 1 failed');
  process.exit(1);
}, (limitS + 180) * 1000).unref();

if (chromiumProblem()) fatal(chromiumProblem());
let buildDemo, serve;
try {
  ({ buildDemo, serve } = await import(join(root, 'demo/build.mjs')));
  await withTimeout(buildDemo({ typecheck: false }), 120_000, 'building the demo site');
} catch (e) {
  fatal(e.message);
}
const server = await withTimeout(serve(join(root, 'demo/dist'), 0), 10_000, 'the HTTP server');

const q = new URLSearchParams({ mode, autorun: '1', load: load.toFixed(2), cores: String(cpus().length) });
if (flag('--idle')) q.set('machine', 'idle');
if (flag('--shared')) q.set('machine', 'shared');
for (const f of values('--filter')) q.append('filter', f);
for (const k of ['--samples', '--timer', '--tfjs']) if (values(k)[0]) q.set(k.slice(2), values(k)[0]);
const url = `http://127.0.0.1:${server.address().port}/bench.html?${q}`;

let browser = null;
let state = null;
const checks = [];
const check = (name, ok, detail = '') => {
  checks.push(ok);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
};
try {
  browser = await launchChromium();
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (e) => say(`[page error] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') say(`[page console] ${m.text()}`);
  });
  say(`${mode} run at ${url} (load ${load.toFixed(2)} on ${cpus().length} cores before it)`);
  await page.goto(url, { timeout: 30_000 });
  await page.waitForFunction(() => !!window.flowgpuBench, null, { timeout: 60_000 });
  // print the page's log as it grows, until it is done or the limit passes
  let shown = 0;
  const deadline = Date.now() + limitS * 1000;
  for (;;) {
    const s = await withTimeout(page.evaluate((from) => ({ done: window.flowgpuBench.state.done, log: window.flowgpuBench.state.log.slice(from) }), shown), 30_000, 'reading the page');
    for (const line of s.log) say(line);
    shown += s.log.length;
    if (s.done) break;
    if (Date.now() > deadline) throw new Error(`the page did not finish within ${limitS} s (BENCH_BROWSER_TIMEOUT_S raises it)`);
    await new Promise((r) => setTimeout(r, 2000));
  }
  state = await withTimeout(page.evaluate(() => window.flowgpuBench.state), 30_000, 'reading the results');
} catch (e) {
  check('the bench page ran', false, e?.message ?? String(e));
} finally {
  if (browser) await withTimeout(browser.close(), 20_000, 'closing Chromium').catch((e) => say(e.message));
  await withTimeout(new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }), 5_000, 'closing the server').catch(() => {});
}

if (state) {
  if (state.error) check('the bench page ran', false, state.error);
  if (state.report) {
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, state.fileName);
    writeFileSync(file, JSON.stringify(state.report, null, 2) + '\n');
    console.log(state.markdown);
    say(`wrote ${file}`);
  }
  if (smoke) {
    // every engine timed each smoke entry (a skip or an error fails), and every peer verified
    for (const r of state.results) {
      check(`${r.name} timed`, !r.skipped && !r.error && r.median_ms > 0, r.skipped ? `skipped: ${r.skipped}` : r.error ? `error: ${r.error}` : `${r.median_ms.toPrecision(3)} ms`);
    }
    const vs = state.report?.verification ?? [];
    check('every peer verified (same loss, and after one Adam step)', vs.length > 0 && vs.every((v) => v.ok), vs.map((v) => `${v.engine} rel ${v.rel.map((x) => x.toExponential(1)).join('/')}`).join(', '));
  } else if (!state.error) checks.push(true);
}
const failed = checks.filter((ok) => !ok).length;
say(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (smoke) console.log(`${checks.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
