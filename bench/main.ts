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
 *   --idle, --shared say whether the machine was otherwise idle; recorded in the JSON's `machine`
 *                    with the 1-minute load average before the run and the core count
 *   --compare FILE…  instead of running: the peers side by side (time ÷ flowgpu's) from result JSONs
 *                    (this bench's or the browser page's), one table per file
 *   --soak [STEPS]   instead of the entries: a long training run (default 10 000 steps) sampling GPU
 *                    buffers, JS heap and RSS, reported flat or growing (bench/soak.ts)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { adapterSlug, destroyGpu, initGpu, type AdapterDescription, type Gpu } from '../src/internal.js';
import { measureCpuCeiling, type CpuCeiling } from './cpu.js';
import { allEntries, type BenchContext } from './registry.js';
import { derive, makeReport, markdown, matches, reportJson, runEntries, shortConfig, ratioMarkdown, statedPeak, machineFromLoad, machineLine, type EntryResult, type MachineState } from './runner.js';
import { Timer, type TimerKind } from './timing.js';
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
  /** --compare FILE…: print the ratio tables of these result files instead of running. */
  compare: string[];
  /** --idle / --shared: what the person running it says about the machine (recorded in the JSON). */
  machine: 'idle' | 'shared' | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, filters: [], verify: false, peers: true, cpu: true, timer: 'timestamp', samples: null, out: 'bench/results', list: false, profile: false, soak: 0, machine: null, compare: [] };
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
    else if (x === '--compare') while (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) a.compare.push(argv[++i]);
    else if (x === '--idle') a.machine = 'idle';
    else if (x === '--shared') a.machine = 'shared';
    else if (x === '--soak') a.soak = /^\d+$/.test(argv[i + 1] ?? '') ? parseInt(argv[++i], 10) : 10000;
    else if (x === '--help' || x === '-h') {
      console.log('usage: node dist/node/bench.js [--quick] [--filter S]… [--verify] [--no-peers] [--no-cpu] [--timer timestamp|wall] [--samples N] [--out DIR] [--profile] [--list] [--idle|--shared] [--compare FILE…]');
      process.exit(0);
    } else throw new Error(`bench: unknown option ${x} (see --help)`);
  }
  return a;
}

/** The machine's state before the run: the stated flag and the load average against the cores. */
const machineState = (stated: 'idle' | 'shared' | null) => machineFromLoad(stated, loadavg()[0], cpus().length);

/** --compare: a result file's heading (adapter, where, when, machine) and its peers' ratio table. */
function compareSection(file: string, r: { adapter: AdapterDescription; date: string; browser?: string; node?: string; machine?: MachineState; options?: { quick?: boolean; mode?: string }; results: EntryResult[] }): string {
  const where = r.browser ? `browser ${/(Chrome|Firefox|Safari|Edg)\/[\d.]+/.exec(r.browser)?.[0] ?? r.browser}` : `Node ${r.node ?? ''}`;
  const mode = r.options?.mode ?? (r.options?.quick ? 'quick' : 'full');
  const machine = r.machine ? `; machine ${machineLine(r.machine)}` : '';
  return `### ${r.adapter.vendor} ${r.adapter.architecture || r.adapter.device} (${where}), ${r.date.slice(0, 10)}, ${mode}${machine} — ${file}\n\n${ratioMarkdown(r.results)}`;
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

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const entries = allEntries().filter((e) => matches(e.name, args.filters) && (!args.quick || e.quick) && (args.peers || !e.peer));
  if (args.list) {
    for (const e of allEntries()) console.log(`${e.quick ? 'Q' : ' '} ${e.name}  ${shortConfig(e.config)}`);
    return;
  }
  if (args.compare.length) {
    for (const f of args.compare) console.log(compareSection(f, JSON.parse(readFileSync(f, 'utf8'))) + '\n');
    return;
  }
  const log = (m: string) => console.error(`[bench] ${m}`);
  // taken before anything of ours loads the cores
  const machine = machineState(args.machine);
  let ceiling: CpuCeiling | null = null;
  const g: Gpu = await initGpu({ dawnFlags: ['disable-dawn-features=timestamp_quantization'] });
  if (args.soak) {
    const r = await runSoak(g, args.soak, log);
    mkdirSync(args.out, { recursive: true });
    const file = join(args.out, `${adapterSlug(g.info)}-${new Date().toISOString().slice(0, 10)}-soak.json`);
    writeFileSync(file, JSON.stringify({ adapter: { ...g.info, limits: undefined }, date: new Date().toISOString(), commit: gitCommit(), node: process.version, machine, ...r }, null, 2) + '\n');
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
  const peak = statedPeak(g);
  log(`adapter ${g.info.vendor} ${g.info.device} (${g.info.architecture || g.info.description}); timer ${timer.kind}; ${entries.length} entries; machine ${machineLine(machine)}`);

  const results = await runEntries(ctx, entries, { samples: nSamples, profile: args.profile });
  derive(results, peak, ceiling);

  const now = new Date();
  const date = now.toISOString().slice(0, 10);
  const slug = adapterSlug(g.info);
  const commit = gitCommit();
  const report = makeReport(g, {
    date: now,
    commit,
    where: { node: process.version, platform: `${process.platform} ${process.arch}` },
    options: { quick: args.quick, filters: args.filters, verify: args.verify, timer: timer.kind, samples: nSamples },
    machine,
    peak,
    ceiling,
    results,
  });
  mkdirSync(args.out, { recursive: true });
  const file = join(args.out, `${slug}-${date}.json`);
  writeFileSync(file, reportJson(report));
  const head =
    `### ${g.info.vendor} ${g.info.device} — ${date}, commit ${commit}${args.quick ? ', --quick' : ''}\n\n` +
    `timer: ${timer.kind} (kernel entries), wall clock (step entries); ${nSamples} samples per entry after warm-up; machine ${machineLine(machine)}` +
    (ceiling ? `; CPU ceiling: ${ceiling.library}: ${Object.entries(ceiling.gflops).map(([k, v]) => `${k}³ ${v.toFixed(1)}`).join(', ')} GFLOP/s` : '') +
    (peak ? `; peak: ${peak.basis}` : '');
  console.log(markdown(results, head));
  if (results.some((r) => r.peer)) console.log('\n' + ratioMarkdown(results));
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
