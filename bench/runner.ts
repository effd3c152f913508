/**
 * The bench's measuring core, shared by the Node CLI (bench/main.ts) and the browser page
 * (demo/src/bench.ts): runs registered entries (kernel entries by `Timer`, step entries by wall
 * clock), their statistics, the derived columns (% of peak, peer ratios, fused vs unfused), the
 * report object both write as JSON, and the Markdown table. No Node import here: what only Node has
 * (arguments, files, git, the CPU ceiling, load average) is the caller's and comes in as plain values.
 */
import { adapterSlug, formatProfile, type Gpu } from '../src/internal.js';
import type { CpuCeiling } from './cpu.js';
import type { BenchContext, BenchEntry, KernelCase, StepCase } from './registry.js';
import { stats, waitPollsThisThread, type Stats } from './timing.js';

/** Stated FMA peaks (f32, FLOP/s) of adapters we know; matched against the adapter description. */
const STATED_PEAKS: [RegExp, number, string][] = [
  [/h100|h200|gh100|hopper/i, 66.9e12, 'NVIDIA H100 SXM f32 FMA peak (66.9 TFLOP/s)'],
];

export function statedPeak(g: Gpu): { flops: number; basis: string } | null {
  const p = STATED_PEAKS.find(([re]) => re.test(`${g.info.vendor} ${g.info.device} ${g.info.description} ${g.info.architecture}`));
  return p ? { flops: p[1], basis: p[2] } : null;
}

export interface EntryResult {
  name: string;
  group: string;
  config: Record<string, unknown>;
  kind: 'kernel' | 'step';
  timer: string;
  /** Per repetition, milliseconds. */
  median_ms: number;
  min_ms: number;
  max_ms: number;
  iqr_rel: number;
  samples: number;
  reps_per_sample: number;
  gflops?: number;
  gbps?: number;
  pct_peak?: number;
  peak_basis?: string;
  peer?: { engine: string; of: string; ratio?: number };
  baseline_of?: string;
  vs_baseline?: number;
  peer_results?: { engine: string; median_ms: number; ratio: number }[];
  unfused?: { median_ms: number; ratio: number };
  counts?: { submits: number; readbacks: number; dispatches: number };
  notes?: Record<string, unknown>;
  /** --profile: GPU milliseconds per repetition by kernel (the largest first), and their sum. */
  profile?: { gpu_ms: number; kernels: { kernel: string; label: string; grid: string; per_rep: number; ms: number }[] };
  skipped?: string;
  error?: string;
}

/** Whether the machine was otherwise idle during the run: the caller's statement and, where known, the load. */
export interface MachineState {
  /** What the person running the bench said (--idle / --shared), or null when not said. */
  stated: 'idle' | 'shared' | null;
  /** 1-minute load average before the run (Node: os.loadavg()[0]), null where unknown (a browser). */
  loadavg_1m: number | null;
  cores: number | null;
  /** loadavg_1m < 0.5 before the run (nothing else busy), null where unknown. */
  idle_by_load: boolean | null;
}

export function machineFromLoad(stated: MachineState['stated'], load: number | null, cores: number | null): MachineState {
  return { stated, loadavg_1m: load === null ? null : Math.round(load * 100) / 100, cores, idle_by_load: load === null ? null : load < 0.5 };
}

export const machineLine = (m: MachineState) =>
  `${m.stated ?? 'not stated'}${m.loadavg_1m !== null ? ` (load ${m.loadavg_1m} on ${m.cores} cores before the run)` : ''}`;

export interface RunOptions {
  samples: number;
  profile?: boolean;
  /** Called as each entry finishes (the page's live table). */
  onResult?(r: EntryResult, done: number, total: number): void;
}

/** A filter: a substring, or /re/ for a regular expression. */
export function matches(name: string, filters: string[]): boolean {
  if (!filters.length) return true;
  return filters.some((f) => (f.length > 2 && f.startsWith('/') && f.endsWith('/') ? new RegExp(f.slice(1, -1)).test(name) : name.includes(f)));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** --profile: every dispatch of a few more repetitions timed on the GPU, summed per kernel. */
async function profileSteps(
  ctx: BenchContext,
  c: StepCase,
  from: number,
): Promise<{ profile: NonNullable<EntryResult['profile']>; lines: string[] }> {
  const reps = 3;
  await c.settle();
  ctx.g.startProfile();
  for (let r = 0; r < reps; r++) await c.step(from + r);
  await c.settle();
  const rows = await ctx.g.stopProfile();
  const kernels = rows.map((r) => ({ kernel: r.kernel, label: r.label, grid: r.grid, per_rep: r.count / reps, ms: r.ms / reps }));
  return { profile: { gpu_ms: kernels.reduce((a, k) => a + k.ms, 0), kernels }, lines: formatProfile(rows, reps, 12) };
}

async function runKernel(ctx: BenchContext, e: BenchEntry, c: KernelCase, nSamples: number): Promise<{ s: Stats; reps: number }> {
  const t = ctx.timer;
  await t.time(e.name, c.record, 1); // warm-up: compiles the pipelines
  const one = (await t.time(e.name, c.record, 1)).ms;
  const target = ctx.quick ? 150 : 400;
  const reps = Math.min(2000, Math.max(1, Math.round(target / Math.max(one, 1e-3))));
  const xs: number[] = [];
  for (let i = 0; i < nSamples; i++) xs.push((await t.time(e.name, c.record, reps)).ms / reps);
  return { s: stats(xs), reps };
}

async function runSteps(
  ctx: BenchContext,
  c: StepCase,
  nSamples: number,
): Promise<{ s: Stats; reps: number; counts?: EntryResult['counts']; next: number }> {
  const g = ctx.g;
  let i = 0;
  // warm-up (compiles pipelines, fills the buffer pool), then one step to size the samples
  for (let w = 0; w < (ctx.quick ? 1 : 2); w++) await c.step(i++);
  await c.settle();
  let t0 = performance.now();
  await c.step(i++);
  await c.settle();
  const one = performance.now() - t0;
  const target = ctx.quick ? 300 : 1000;
  const reps = Math.min(c.maxReps ?? 200, 200, Math.max(1, Math.round(target / Math.max(one, 1e-3))));
  const xs: number[] = [];
  // a sample of one repetition is timed exactly as the sizing step was (no sleep outside Node): it
  // counts as the first sample (a software adapter takes minutes for 5 steps of the slow peers)
  if (reps === 1 && !waitPollsThisThread(g)) xs.push(one);
  let counts: EntryResult['counts'];
  for (let s = xs.length; s < nSamples; s++) {
    const before = { ...g.stats };
    t0 = performance.now();
    for (let r = 0; r < reps; r++) await c.step(i++);
    // in Node, sleep through most of the expected time before waiting: Dawn polls on this thread
    // while a GPU promise is pending, which takes a core from a CPU driver (bench/timing.ts)
    const left = one * reps * 0.85 - (performance.now() - t0);
    if (left > 2 && waitPollsThisThread(g)) await sleep(left);
    await c.settle();
    xs.push((performance.now() - t0) / reps);
    if (c.count && !counts) {
      counts = {
        submits: (g.stats.submits - before.submits) / reps,
        readbacks: (g.stats.readbacks - before.readbacks) / reps,
        dispatches: (g.stats.dispatches - before.dispatches) / reps,
      };
    }
  }
  return { s: stats(xs), reps, counts, next: i };
}

const failed = (base: Pick<EntryResult, 'name' | 'group' | 'config' | 'peer'>, why: { skipped?: string; error?: string }): EntryResult => ({
  ...base,
  kind: 'kernel',
  timer: '',
  median_ms: NaN,
  min_ms: NaN,
  max_ms: NaN,
  iqr_rel: NaN,
  samples: 0,
  reps_per_sample: 0,
  ...why,
});

/** Runs the entries one after another; an entry that cannot run or fails is recorded, not thrown. */
export async function runEntries(ctx: BenchContext, entries: readonly BenchEntry[], o: RunOptions): Promise<EntryResult[]> {
  const { g, timer, log } = ctx;
  const results: EntryResult[] = [];
  const push = (r: EntryResult) => {
    results.push(r);
    o.onResult?.(r, results.length, entries.length);
  };
  for (const e of entries) {
    const base = { name: e.name, group: e.group, config: e.config };
    // a peer that is skipped or fails keeps its peer field: the ratio table says why it has no ratio
    const peerOf = e.peer ? { peer: { ...e.peer } } : {};
    const why = e.unavailable ? await e.unavailable(ctx) : null;
    if (why) {
      log(`${e.name}: skipped (${why})`);
      push(failed({ ...base, ...peerOf }, { skipped: why }));
      continue;
    }
    const t0 = performance.now();
    let c: KernelCase | StepCase | null = null;
    try {
      c = await e.setup(ctx);
      const r = c.kind === 'kernel' ? await runKernel(ctx, e, c, o.samples) : await runSteps(ctx, c, o.samples);
      const res: EntryResult = {
        ...base,
        kind: c.kind,
        timer: c.kind === 'kernel' ? timer.kind : 'wall',
        median_ms: r.s.median,
        min_ms: r.s.min,
        max_ms: r.s.max,
        iqr_rel: r.s.iqrRel,
        samples: r.s.n,
        reps_per_sample: r.reps,
        ...(c.notes ? { notes: c.notes } : {}),
        ...('counts' in r && r.counts ? { counts: r.counts as NonNullable<EntryResult['counts']> } : {}),
      };
      if (o.profile && c.kind === 'step' && c.count && 'next' in r) {
        const { profile, lines } = await profileSteps(ctx, c, r.next as number);
        res.profile = profile;
        log(`${e.name}: GPU ${fmtMs(profile.gpu_ms)} of ${fmtMs(r.s.median)} per repetition; by kernel:`);
        for (const line of lines) log(line);
      }
      if (c.flops) res.gflops = c.flops / r.s.median / 1e6;
      if (c.bytes) res.gbps = c.bytes / r.s.median / 1e6;
      if (e.peer) res.peer = { ...e.peer };
      if (e.baselineOf) res.baseline_of = e.baselineOf;
      push(res);
      log(`${e.name}: ${fmtMs(r.s.median)} ${fmtRate(res)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (err) {
      const msg = (err as Error).message?.split('\n')[0] ?? String(err);
      log(`${e.name}: ERROR ${msg}`);
      push(failed({ ...base, ...peerOf }, { error: msg }));
      try {
        await g.sync();
      } catch {
        /* the error is recorded */
      }
    } finally {
      await c?.dispose();
    }
  }
  return results;
}

/** Fills the derived columns in place (again from scratch when called again): % of the stated peak (or the CPU ceiling), peer ratios, fused vs unfused. */
export function derive(results: EntryResult[], peak: { flops: number; basis: string } | null, ceiling: CpuCeiling | null): void {
  for (const r of results) {
    delete r.peer_results;
    delete r.unfused;
  }
  const byName = new Map(results.map((r) => [r.name, r]));
  const copy = byName.get('memory/copy');
  for (const r of results) {
    if (r.skipped || r.error) continue;
    if (r.gflops !== undefined && r.group === 'matmul') {
      if (peak) {
        r.pct_peak = (100 * r.gflops * 1e9) / peak.flops;
        r.peak_basis = peak.basis;
      } else if (ceiling) {
        const m = Number(r.config.m);
        const sizes = Object.keys(ceiling.gflops).map(Number);
        const near = sizes.reduce((b, s) => (Math.abs(Math.log(s / m)) < Math.abs(Math.log(b / m)) ? s : b), sizes[0]);
        r.pct_peak = (100 * r.gflops) / ceiling.gflops[String(near)];
        r.peak_basis = `NumPy sgemm ${near}³ on this CPU`;
      }
    }
    if (r.gbps !== undefined && copy?.gbps && r.name !== 'memory/copy') {
      r.pct_peak = (100 * r.gbps) / copy.gbps;
      r.peak_basis = 'buffer copy';
    }
    if (r.peer) {
      const own = byName.get(r.peer.of);
      if (own && !own.skipped && !own.error) {
        const ratio = r.median_ms / own.median_ms;
        r.peer.ratio = ratio;
        (own.peer_results ??= []).push({ engine: r.peer.engine, median_ms: r.median_ms, ratio });
      }
    }
    if (r.baseline_of) {
      const fused = byName.get(r.baseline_of);
      if (fused && !fused.skipped && !fused.error) {
        r.vs_baseline = r.median_ms / fused.median_ms;
        fused.unfused = { median_ms: r.median_ms, ratio: r.vs_baseline };
      }
    }
  }
}

/** The JSON both the Node bench and the page write (`where` holds what only the caller knows: node version, user agent, …). */
export function makeReport(
  g: Gpu,
  o: {
    date: Date;
    commit: string;
    where: Record<string, unknown>;
    options: Record<string, unknown>;
    machine: MachineState;
    peak: { flops: number; basis: string } | null;
    ceiling: CpuCeiling | null;
    results: EntryResult[];
    extra?: Record<string, unknown>;
  },
) {
  return {
    adapter: { ...g.info, limits: undefined, slug: adapterSlug(g.info), traits: g.traits },
    date: o.date.toISOString(),
    commit: o.commit,
    ...o.where,
    options: o.options,
    machine: o.machine,
    stated_peak: o.peak,
    cpu_ceiling: o.ceiling,
    ...o.extra,
    results: o.results,
  };
}

/** The report as JSON text (NaN and ±∞ as null). */
export const reportJson = (report: unknown): string => JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';

export const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toPrecision(3)} s` : ms >= 1 ? `${ms.toPrecision(3)} ms` : `${(ms * 1000).toPrecision(3)} µs`);
export const fmtRate = (r: EntryResult) =>
  r.gflops !== undefined ? (r.gflops >= 1000 ? `${(r.gflops / 1000).toPrecision(3)} TFLOP/s` : `${r.gflops.toPrecision(3)} GFLOP/s`) : r.gbps !== undefined ? `${r.gbps.toPrecision(3)} GB/s` : '';

export function shortConfig(c: Record<string, unknown>): string {
  return Object.entries(c)
    .filter(([k]) => k !== 'what')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' ');
}

/** One row's cells after the name: median, spread, rate, % of peak, comparisons, notes. */
export function rowCells(r: EntryResult): string[] {
  if (r.skipped || r.error) return ['—', '—', '—', '—', '—', r.skipped ? `skipped: ${r.skipped}` : `error: ${r.error}`];
  const spread = `${fmtMs(r.min_ms)}–${fmtMs(r.max_ms)}, ${(r.iqr_rel * 100).toFixed(0)}%`;
  const pct = r.pct_peak !== undefined ? `${r.pct_peak.toFixed(1)}% (${r.peak_basis})` : '';
  const cmp: string[] = [];
  for (const p of r.peer_results ?? []) cmp.push(`${p.engine} ${fmtMs(p.median_ms)}: **${p.ratio.toFixed(2)}×**`);
  if (r.peer?.ratio !== undefined) cmp.push(`${r.peer.ratio.toFixed(2)}× flowgpu's time`);
  if (r.unfused) cmp.push(`unfused ${fmtMs(r.unfused.median_ms)}: ${r.unfused.ratio.toFixed(2)}×`);
  if (r.vs_baseline !== undefined) cmp.push(`${r.vs_baseline.toFixed(2)}× the fused time`);
  const notes: string[] = [];
  if (r.notes?.kernel) notes.push(`kernel ${r.notes.kernel}`);
  if (r.counts) notes.push(`${r.counts.submits} submit, ${r.counts.readbacks} read-back, ${r.counts.dispatches} dispatches /rep`);
  if (r.notes?.steps !== undefined) notes.push(`${r.notes.steps} steps per rep`);
  return [fmtMs(r.median_ms), spread, fmtRate(r), pct, cmp.join('; '), notes.join('; ')];
}

export const TABLE_HEAD = ['entry', 'median', 'spread (min–max, IQR)', 'rate', '% of peak', 'vs peer / unfused', 'notes'];

export function markdown(results: EntryResult[], head: string): string {
  const lines = [head, '', `| ${TABLE_HEAD.join(' | ')} |`, `|${TABLE_HEAD.map(() => '---').join('|')}|`];
  for (const r of results) lines.push(`| ${[r.name, ...rowCells(r)].join(' | ')} |`);
  return lines.join('\n');
}

/**
 * The peers side by side: one row per flowgpu entry that peers mirror — flowgpu's median, then for
 * each peer engine its median and its time ÷ flowgpu's (above 1: flowgpu is faster), or why it has none.
 */
export function ratioTable(results: readonly EntryResult[]): { head: string[]; rows: string[][] } {
  const peers = results.filter((r) => r.peer);
  const engines = [...new Set(peers.map((r) => r.peer!.engine))];
  const head = ['entry', 'flowgpu', ...engines.map((e) => `${e} (time ÷ flowgpu's)`)];
  const rows: string[][] = [];
  for (const own of results) {
    if (own.peer || !peers.some((p) => p.peer!.of === own.name)) continue;
    const ownCell = own.skipped || own.error ? (own.skipped ? 'skipped' : 'error') : fmtMs(own.median_ms);
    const cells = engines.map((engine) => {
      const p = peers.find((x) => x.peer!.of === own.name && x.peer!.engine === engine);
      if (!p) return '';
      if (p.skipped) return `skipped: ${p.skipped}`;
      if (p.error) return `error: ${p.error}`;
      return p.peer!.ratio !== undefined ? `${fmtMs(p.median_ms)} (**${p.peer!.ratio.toFixed(2)}×**)` : fmtMs(p.median_ms);
    });
    rows.push([own.name, ownCell, ...cells]);
  }
  return { head, rows };
}

export function ratioMarkdown(results: readonly EntryResult[]): string {
  const { head, rows } = ratioTable(results);
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
