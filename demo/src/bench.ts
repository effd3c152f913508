/**
 * The bench page (demo/bench.html): flowgpu's own bench entries (bench/kernels.ts, bench/e2e.ts —
 * the same registered entries `npm run bench` runs in Node) on navigator.gpu, each followed by the
 * same work in jax-js and in TensorFlow.js (bench/peers/), measured by bench/runner.ts, the Node
 * bench's measuring core. The live table fills as entries finish; "Download JSON" gives the report
 * the Node bench writes (adapter, features, user agent, date, options, the machine's state, per entry
 * median/min/max/IQR/samples and peer ratios) plus the peers' verification and settings.
 *
 * URL parameters (`npm run bench:browser` sets them): mode=quick|full|smoke, peers=0, samples=N,
 * timer=wall|timestamp, filter=S (repeatable), machine=idle|shared, load=L&cores=N (the load average
 * the Node driver read before the run), autorun=1. `window.flowgpuBench` exposes the state.
 */
import { adapterSlug, initGpu, type Gpu } from '../../src/internal.js';
import { allEntries, type BenchContext, type BenchEntry } from '../../bench/registry.js';
import {
  derive,
  fmtMs,
  machineFromLoad,
  makeReport,
  markdown,
  matches,
  ratioMarkdown,
  ratioTable,
  reportJson,
  rowCells,
  runEntries,
  statedPeak,
  TABLE_HEAD,
  type EntryResult,
  type MachineState,
} from '../../bench/runner.js';
import { Timer, type TimerKind } from '../../bench/timing.js';
import { peerSettings, verifications, type Verification } from '../../bench/peers/engine.js';
import '../../bench/kernels.js';
import '../../bench/e2e.js';
import '../../bench/peers/browser.js';
import { showError, showNoWebGpu, webGpuProblem } from './webgpu.js';

declare const __FLOWGPU_COMMIT__: string;

type Mode = 'quick' | 'full' | 'smoke';

/** The flowgpu entries of each mode, in order; each is followed by its peers. */
const SUITE: Record<Mode, string[]> = {
  full: [
    ...[256, 512, 1024, 2048, 4096].map((n) => `matmul/${n}x${n}x${n}`),
    'e2e/train-A',
    'e2e/train-B',
    'e2e/sample-euler',
    'e2e/sample-midpoint',
    'e2e/train-mnist-mlp',
  ],
  quick: [...[256, 512, 1024].map((n) => `matmul/${n}x${n}x${n}`), 'e2e/train-A', 'e2e/train-B', 'e2e/sample-euler', 'e2e/sample-midpoint', 'e2e/train-mnist-mlp'],
  smoke: ['matmul/256x256x256', 'e2e/train-B'],
};

/** The suite's entries: each flowgpu entry, then the peer entries that mirror it. */
export function suiteEntries(mode: Mode, peers: boolean, filters: string[]): BenchEntry[] {
  const all = allEntries();
  const out: BenchEntry[] = [];
  for (const name of SUITE[mode]) {
    if (!matches(name, filters)) continue;
    const own = all.find((e) => e.name === name);
    if (!own) throw new Error(`bench page: no registered entry ${name}`);
    out.push(own);
    if (peers) out.push(...all.filter((e) => e.peer?.of === name));
  }
  return out;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

const state = {
  adapter: '',
  running: false,
  done: false,
  error: null as string | null,
  log: [] as string[],
  results: [] as EntryResult[],
  report: null as Record<string, unknown> | null,
  markdown: '',
  fileName: '',
};
(globalThis as unknown as { flowgpuBench: unknown }).flowgpuBench = { state, run: () => run() };

function log(m: string): void {
  state.log.push(m);
  const el = $('log');
  el.textContent += m + '\n';
  el.scrollTop = el.scrollHeight;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
/** Markdown cell text to HTML (only **bold** is used). */
const cellHtml = (s: string) => esc(s).replace(/\*\*(.+?)\*\*/g, '<b>$1</b>');

function fillTable(id: string, head: string[], rows: string[][]): void {
  const t = $(id) as HTMLTableElement;
  t.tHead!.innerHTML = `<tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  t.tBodies[0].innerHTML = rows.map((r) => `<tr>${r.map((c) => `<td>${cellHtml(c)}</td>`).join('')}</tr>`).join('');
}

function showResults(results: EntryResult[]): void {
  fillTable('results', TABLE_HEAD, results.map((r) => [r.name, ...rowCells(r)]));
  const ratios = ratioTable(results);
  fillTable('ratios', ratios.head, ratios.rows);
}

function showVerifications(vs: readonly Verification[]): void {
  const rel = (x: number) => x.toExponential(1);
  $('verify').querySelector('tbody')!.innerHTML = vs
    .map(
      (v) =>
        `<tr><td>${esc(v.engine)}</td><td>${esc(v.model)}</td><td>${v.flowgpu[0].toPrecision(7)}</td><td>${v.peer[0].toPrecision(7)}</td><td>${rel(v.rel[0])}</td>` +
        `<td>${v.flowgpu[1].toPrecision(7)}</td><td>${v.peer[1].toPrecision(7)}</td><td>${rel(v.rel[1])}</td><td class="${v.ok ? 'ok' : 'fail'}">${v.ok ? 'same step' : 'DIFFERS: not timed'}</td></tr>`,
    )
    .join('');
}

let g: Gpu | null = null;
/** The adapter's features (the device's, which flowgpu asked for, are in the report's adapter.features). */
let adapterFeatures: string[] = [];

async function run(): Promise<void> {
  if (state.running || !g) return;
  state.running = true;
  state.done = false;
  state.error = null;
  $<HTMLButtonElement>('run').disabled = true;
  $<HTMLButtonElement>('download').disabled = true;
  try {
    const mode = ($<HTMLSelectElement>('mode').value as Mode) || 'quick';
    const peers = $<HTMLInputElement>('peers').checked;
    const stated = ($<HTMLSelectElement>('machine').value || null) as MachineState['stated'];
    const load = params.get('load');
    const cores = params.get('cores');
    const machine = machineFromLoad(stated, load === null ? null : Number(load), cores === null ? (navigator.hardwareConcurrency ?? null) : Number(cores));
    const filters = params.getAll('filter');
    const entries = suiteEntries(mode, peers, filters);
    const quick = mode !== 'full';
    const samples = Number(params.get('samples')) || (mode === 'smoke' ? 1 : quick ? 3 : 7);
    // wall clock by default: the peers can only be timed by wall clock, so flowgpu's kernels are too
    const timer = new Timer(g, (params.get('timer') as TimerKind) || 'wall');
    const ctx: BenchContext = { g, quick, timer, verify: true, log };
    log(`${entries.length} entries, ${mode}, ${samples} samples each, timer ${timer.kind}`);
    const t0 = performance.now();
    state.results = [];
    const results = await runEntries(ctx, entries, {
      samples,
      onResult(r, done, total) {
        state.results.push(r);
        derive(state.results, statedPeak(g!), null);
        showResults(state.results);
        showVerifications(verifications);
        $('status').textContent = `${done} of ${total} entries (${((performance.now() - t0) / 1000).toFixed(0)} s)`;
      },
    });
    derive(results, statedPeak(g), null);
    timer.destroy();
    const now = new Date();
    const date = now.toISOString().slice(0, 10);
    state.report = makeReport(g, {
      date: now,
      commit: __FLOWGPU_COMMIT__,
      where: { browser: navigator.userAgent, adapter_features: adapterFeatures },
      options: { mode, quick, peers, filters, verify: true, timer: timer.kind, samples },
      machine,
      peak: statedPeak(g),
      ceiling: null,
      extra: { verification: [...verifications], peer_settings: peerSettings() },
      results,
    });
    state.fileName = `${adapterSlug(g.info)}-${date}-browser.json`;
    const head =
      `### ${g.info.vendor} ${g.info.architecture || g.info.device} in ${browserName()} — ${date}, commit ${__FLOWGPU_COMMIT__}, ${mode}\n\n` +
      `all engines timed by ${timer.kind === 'wall' ? 'wall clock' : 'GPU timestamps (flowgpu kernels) and wall clock'}; ${samples} samples per entry after warm-up; ` +
      `machine ${machine.stated ?? 'not stated'}${machine.loadavg_1m !== null ? ` (load ${machine.loadavg_1m} on ${machine.cores} cores before the run)` : ''}`;
    state.markdown = `${markdown(results, head)}\n\n${ratioMarkdown(results)}`;
    showResults(results);
    showVerifications(verifications);
    $('status').textContent = `done in ${fmtMs(performance.now() - t0)}`;
    $<HTMLButtonElement>('download').disabled = false;
  } catch (e) {
    state.error = (e as Error).message ?? String(e);
    showError(`The bench stopped: ${state.error}`);
    log(`error: ${state.error}`);
  } finally {
    state.running = false;
    state.done = true;
    $<HTMLButtonElement>('run').disabled = false;
  }
}

function browserName(): string {
  const m = /(Firefox|Edg|Chrome|Chromium|Safari)\/(\d+)/.exec(navigator.userAgent);
  return m ? `${m[1] === 'Edg' ? 'Edge' : m[1]} ${m[2]}` : 'this browser';
}

function download(): void {
  if (!state.report) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([reportJson(state.report)], { type: 'application/json' }));
  a.download = state.fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

async function main(): Promise<void> {
  const problem = await webGpuProblem();
  if (problem) {
    showNoWebGpu(problem, []);
    state.error = problem;
    state.done = true;
    return;
  }
  const mode = params.get('mode');
  if (mode === 'quick' || mode === 'full' || mode === 'smoke') $<HTMLSelectElement>('mode').value = mode;
  if (params.get('peers') === '0') $<HTMLInputElement>('peers').checked = false;
  const machine = params.get('machine');
  if (machine === 'idle' || machine === 'shared') $<HTMLSelectElement>('machine').value = machine;
  g = await initGpu({ wantFeatures: ['timestamp-query'] });
  adapterFeatures = [...((await navigator.gpu.requestAdapter())?.features ?? [])].sort();
  state.adapter = `${g.info.vendor} ${g.info.architecture} ${g.info.device} ${g.info.description}`.replace(/\s+/g, ' ').trim();
  $('adapter').textContent = `adapter: ${state.adapter} · features: ${g.info.features.join(', ') || 'none'}`;
  $<HTMLButtonElement>('run').disabled = false;
  $('run').onclick = () => void run();
  $('download').onclick = download;
  if (params.get('autorun') === '1') await run();
}

main().catch((e) => {
  state.error = (e as Error).message ?? String(e);
  state.done = true;
  showError(state.error);
});
