/**
 * flowgpu's bench suite: `npm run bench` (builds, then runs dist/node/bench.js) or
 * `node dist/node/bench.js [options]`. Runs on whatever adapter Dawn gives, writes
 * bench/results/<adapter-slug>-<YYYY-MM-DD>.json and prints a Markdown table. bench/README.md
 * explains the columns.
 *
 *   --quick          a few minutes on a software driver: smaller sizes, fewer samples
 *   --filter S       only entries whose name contains S (repeatable; /re/ for a regular expression)
 *   --verify         peers first check that they compute the same step as flowgpu
 *   --no-peers       skip the peers (tfjs)
 *   --no-cpu         skip measuring NumPy's sgemm (the CPU ceiling on software drivers)
 *   --timer T        timestamp (default where the adapter has it) | wall
 *   --samples N      timed samples per entry (default 7, quick 3)
 *   --out DIR        results directory (default bench/results)
 *   --profile        also time every kernel of one repetition of each flowgpu step entry (GPU
 *                    timestamps; needs timestamp-query) and report where the step's time goes
 *   --list           list the entries and exit
 *   --soak [STEPS]   instead of the entries: a long training run (default 10 000 steps) sampling GPU
 *                    buffers, JS heap and RSS, reported flat or growing (bench/soak.ts)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterSlug, destroyGpu, formatProfile, initGpu, type Gpu } from '../src/internal.js';
import { measureCpuCeiling, type CpuCeiling } from './cpu.js';
import { allEntries, type BenchContext, type BenchEntry, type KernelCase, type StepCase } from './registry.js';
import { stats, Timer, type Stats, type TimerKind } from './timing.js';
import { runSoak, soakMarkdown } from './soak.js';
import './kernels.js';
import './e2e.js';
import './discrete.js';
import './peers/tfjs.js';

interface Args {
  quick: boolean;
  filters: string[];
  verify: boolean;
  peers: boolean;
  cpu: boolean;
  timer: TimerKind;
  samples: number | null;
  out: string;
  list: boolean;
  profile: boolean;
  /** --soak N: the soak run instead of the entries (0: off). */
  soak: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, filters: [], verify: false, peers: true, cpu: true, timer: 'timestamp', samples: null, out: 'bench/results', list: false, profile: false, soak: 0 };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${x} needs a value`);
      return v;
    };
    if (x === '--quick') a.quick = true;
    else if (x === '--filter') a.filters.push(val());
    else if (x === '--verify') a.verify = true;
    else if (x === '--profile') a.profile = true;
    else if (x === '--no-peers') a.peers = false;
    else if (x === '--no-cpu') a.cpu = false;
    else if (x === '--timer') {
      const v = val();
      if (v !== 'timestamp' && v !== 'wall') throw new Error('bench: --timer takes timestamp or wall');
      a.timer = v;
    } else if (x === '--samples') a.samples = Math.max(1, parseInt(val(), 10));
    else if (x === '--out') a.out = val();
    else if (x === '--list') a.list = true;
    else if (x === '--soak') a.soak = /^\d+$/.test(argv[i + 1] ?? '') ? parseInt(argv[++i], 10) : 10000;
    else if (x === '--help' || x === '-h') {
      console.log('usage: node dist/node/bench.js [--quick] [--filter S]… [--verify] [--no-peers] [--no-cpu] [--timer timestamp|wall] [--samples N] [--out DIR] [--profile] [--list]');
      process.exit(0);
    } else throw new Error(`bench: unknown option ${x} (see --help)`);
  }
  return a;
}

function matches(name: string, filters: string[]): boolean {
  if (!filters.length) return true;
  return filters.some((f) => (f.length > 2 && f.startsWith('/') && f.endsWith('/') ? new RegExp(f.slice(1, -1)).test(name) : name.includes(f)));
}

/** Stated FMA peaks (f32, FLOP/s) of adapters we know; matched against the adapter description. */
const STATED_PEAKS: [RegExp, number, string][] = [
  [/h100|h200|gh100|hopper/i, 66.9e12, 'NVIDIA H100 SXM f32 FMA peak (66.9 TFLOP/s)'],
];

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
  let counts: EntryResult['counts'];
  for (let s = 0; s < nSamples; s++) {
    const before = { ...g.stats };
    t0 = performance.now();
    for (let r = 0; r < reps; r++) await c.step(i++);
    // sleep through most of the expected time before waiting: Dawn polls on this thread while a
    // GPU promise is pending, which takes a core from a CPU driver
    const left = one * reps * 0.85 - (performance.now() - t0);
    if (left > 2) await sleep(left);
    await c.settle();
    xs.push((performance.now() - t0) / reps);
    if (c.count && s === 0) {
      counts = {
        submits: (g.stats.submits - before.submits) / reps,
        readbacks: (g.stats.readbacks - before.readbacks) / reps,
        dispatches: (g.stats.dispatches - before.dispatches) / reps,
      };
    }
  }
  return { s: stats(xs), reps, counts, next: i };
}

function gitCommit(): string {
  try {
    const h = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${h}+dirty` : h;
  } catch {
    return 'unknown';
  }
}

const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toPrecision(3)} s` : ms >= 1 ? `${ms.toPrecision(3)} ms` : `${(ms * 1000).toPrecision(3)} µs`);
const fmtRate = (r: EntryResult) =>
  r.gflops !== undefined ? (r.gflops >= 1000 ? `${(r.gflops / 1000).toPrecision(3)} TFLOP/s` : `${r.gflops.toPrecision(3)} GFLOP/s`) : r.gbps !== undefined ? `${r.gbps.toPrecision(3)} GB/s` : '';

function shortConfig(c: Record<string, unknown>): string {
  return Object.entries(c)
    .filter(([k]) => k !== 'what')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' ');
}

function markdown(results: EntryResult[], head: string): string {
  const lines = [head, '', '| entry | median | spread (min–max, IQR) | rate | % of peak | vs peer / unfused | notes |', '|---|---|---|---|---|---|---|'];
  for (const r of results) {
    if (r.skipped || r.error) {
      lines.push(`| ${r.name} | — | — | — | — | — | ${r.skipped ? `skipped: ${r.skipped}` : `error: ${r.error}`} |`);
      continue;
    }
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
    lines.push(`| ${r.name} | ${fmtMs(r.median_ms)} | ${spread} | ${fmtRate(r)} | ${pct} | ${cmp.join('; ')} | ${notes.join('; ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const entries = allEntries().filter((e) => matches(e.name, args.filters) && (!args.quick || e.quick) && (args.peers || !e.peer));
  if (args.list) {
    for (const e of allEntries()) console.log(`${e.quick ? 'Q' : ' '} ${e.name}  ${shortConfig(e.config)}`);
    return;
  }
  const log = (m: string) => console.error(`[bench] ${m}`);
  let ceiling: CpuCeiling | null = null;
  const g: Gpu = await initGpu({ dawnFlags: ['disable-dawn-features=timestamp_quantization'] });
  if (args.soak) {
    const r = await runSoak(g, args.soak, log);
    mkdirSync(args.out, { recursive: true });
    const file = join(args.out, `${adapterSlug(g.info)}-${new Date().toISOString().slice(0, 10)}-soak.json`);
    writeFileSync(file, JSON.stringify({ adapter: { ...g.info, limits: undefined }, date: new Date().toISOString(), commit: gitCommit(), node: process.version, ...r }, null, 2) + '\n');
    console.log(soakMarkdown(r));
    log(`wrote ${file}`);
    destroyGpu();
    return;
  }
  const traits = g.traits;
  if (args.cpu && traits.cpu && entries.some((e) => e.group === 'matmul')) {
    log('measuring NumPy sgemm on this CPU (the ceiling for a software driver)…');
    ceiling = measureCpuCeiling(args.quick ? [256, 512, 1024] : [256, 512, 1024, 2048, 4096]);
    log(ceiling ? `NumPy sgemm: ${JSON.stringify(ceiling.gflops)} GFLOP/s` : 'python3 with NumPy not found: no CPU ceiling');
  }
  const timer = new Timer(g, args.timer);
  const ctx: BenchContext = { g, quick: args.quick, timer, verify: args.verify, log };
  const nSamples = args.samples ?? (args.quick ? 3 : 7);
  const peak = STATED_PEAKS.find(([re]) => re.test(`${g.info.vendor} ${g.info.device} ${g.info.description} ${g.info.architecture}`));
  log(`adapter ${g.info.vendor} ${g.info.device} (${g.info.architecture || g.info.description}); timer ${timer.kind}; ${entries.length} entries`);

  const results: EntryResult[] = [];
  for (const e of entries) {
    const base = { name: e.name, group: e.group, config: e.config };
    const why = e.unavailable ? await e.unavailable(ctx) : null;
    if (why) {
      log(`${e.name}: skipped (${why})`);
      results.push({ ...base, kind: 'kernel', timer: '', median_ms: NaN, min_ms: NaN, max_ms: NaN, iqr_rel: NaN, samples: 0, reps_per_sample: 0, skipped: why });
      continue;
    }
    const t0 = performance.now();
    let c: KernelCase | StepCase | null = null;
    try {
      c = await e.setup(ctx);
      const r = c.kind === 'kernel' ? await runKernel(ctx, e, c, nSamples) : await runSteps(ctx, c, nSamples);
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
      if (args.profile && c.kind === 'step' && c.count && 'next' in r) {
        const { profile, lines } = await profileSteps(ctx, c, r.next as number);
        res.profile = profile;
        log(`${e.name}: GPU ${fmtMs(profile.gpu_ms)} of ${fmtMs(r.s.median)} per repetition; by kernel:`);
        for (const line of lines) log(line);
      }
      if (c.flops) res.gflops = c.flops / r.s.median / 1e6;
      if (c.bytes) res.gbps = c.bytes / r.s.median / 1e6;
      if (e.peer) res.peer = { ...e.peer };
      if (e.baselineOf) res.baseline_of = e.baselineOf;
      results.push(res);
      log(`${e.name}: ${fmtMs(r.s.median)} ${fmtRate(res)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (err) {
      const msg = (err as Error).message?.split('\n')[0] ?? String(err);
      log(`${e.name}: ERROR ${msg}`);
      results.push({ ...base, kind: 'kernel', timer: '', median_ms: NaN, min_ms: NaN, max_ms: NaN, iqr_rel: NaN, samples: 0, reps_per_sample: 0, error: msg });
      try {
        await g.sync();
      } catch {
        /* the error is recorded */
      }
    } finally {
      await c?.dispose();
    }
  }

  // derived columns: % of peak, peer ratios, fused vs unfused
  const byName = new Map(results.map((r) => [r.name, r]));
  const copy = byName.get('memory/copy');
  for (const r of results) {
    if (r.skipped || r.error) continue;
    if (r.gflops !== undefined && r.group === 'matmul') {
      if (peak) {
        r.pct_peak = (100 * r.gflops * 1e9) / peak[1];
        r.peak_basis = peak[2];
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

  const date = new Date().toISOString().slice(0, 10);
  const slug = adapterSlug(g.info);
  const commit = gitCommit();
  const report = {
    adapter: { ...g.info, limits: undefined, slug, traits },
    date: new Date().toISOString(),
    commit,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    options: { quick: args.quick, filters: args.filters, verify: args.verify, timer: timer.kind, samples: nSamples },
    stated_peak: peak ? { flops: peak[1], basis: peak[2] } : null,
    cpu_ceiling: ceiling,
    results,
  };
  mkdirSync(args.out, { recursive: true });
  const file = join(args.out, `${slug}-${date}.json`);
  writeFileSync(file, JSON.stringify(report, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  const head =
    `### ${g.info.vendor} ${g.info.device} — ${date}, commit ${commit}${args.quick ? ', --quick' : ''}\n\n` +
    `timer: ${timer.kind} (kernel entries), wall clock (step entries); ${nSamples} samples per entry after warm-up` +
    (ceiling ? `; CPU ceiling: ${ceiling.library}: ${Object.entries(ceiling.gflops).map(([k, v]) => `${k}³ ${v.toFixed(1)}`).join(', ')} GFLOP/s` : '') +
    (peak ? `; peak: ${peak[2]}` : '');
  console.log(markdown(results, head));
  log(`wrote ${file}`);
  timer.destroy();
  destroyGpu();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
