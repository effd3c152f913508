/**
 * The soak: a long training run through the library's Trainer (toy data, checkpoints every 1000
 * steps as a real run writes them), sampling what could leak every 1/20 of the run: GPU buffers
 * live and in use, GPU bytes live, the JS heap and the process RSS. Flat means the last quarter's
 * maximum is within 10% (+ 8 MiB for the heap and RSS, + 1 buffer) of the maximum over the first
 * quarter after warm-up. `node dist/node/bench.js --soak [STEPS]` (default 10 000) writes
 * bench/results/<adapter>-<date>-soak.json and prints the table.
 */
import { data, nn, train, type Gpu } from '../src/internal.js';

export interface SoakSample {
  step: number;
  buffersLive: number;
  buffersInUse: number;
  gpuMiB: number;
  heapMiB: number;
  rssMiB: number;
}

export interface SoakReport {
  steps: number;
  seconds: number;
  samples: SoakSample[];
  /** Per measure: the first quarter's maximum (after warm-up), the last quarter's, and whether it stayed flat. */
  verdict: Record<string, { early: number; late: number; flat: boolean }>;
}

const MiB = 2 ** 20;

export async function runSoak(g: Gpu, steps: number, log: (m: string) => void): Promise<SoakReport> {
  const net = nn.buildNet(nn.mlpSpec({ dim: 2, hidden: 64, hiddenLayers: 3 }), 0);
  const trainer = new train.Trainer({ net, data: data.toyBatches('checkerboard', 256, 0), steps, lr: 3e-3, warmup: 100, ema: 0.999, logEvery: 50, checkpointEvery: 1000 });
  const samples: SoakSample[] = [];
  const every = Math.max(50, Math.floor(steps / 20 / 50) * 50);
  const t0 = performance.now();
  const take = (step: number) => {
    const m = process.memoryUsage();
    samples.push({ step, buffersLive: g.stats.buffersLive, buffersInUse: g.stats.buffersInUse, gpuMiB: g.stats.bytesLive / MiB, heapMiB: m.heapUsed / MiB, rssMiB: m.rss / MiB });
  };
  let checkpointBytes = 0;
  await trainer.run({
    onProgress: (p) => {
      if (p.step % every === 0) take(p.step);
      if (p.step % (every * 4) === 0) log(`soak: step ${p.step}/${steps}, ${p.stepsPerSecond.toFixed(1)} steps/s, heap ${(process.memoryUsage().heapUsed / MiB).toFixed(1)} MiB`);
    },
    onCheckpoint: ({ bytes }) => void (checkpointBytes = bytes.length), // encoded like a real run; not written
  });
  trainer.dispose();
  net.module.dispose();
  const seconds = (performance.now() - t0) / 1000;
  const q = Math.max(1, Math.floor(samples.length / 4));
  const early = samples.slice(1, 1 + q); // the first sample is warm-up
  const late = samples.slice(-q);
  const verdict: SoakReport['verdict'] = {};
  for (const k of ['buffersLive', 'buffersInUse', 'gpuMiB', 'heapMiB', 'rssMiB'] as const) {
    const e = Math.max(...early.map((s) => s[k]));
    const l = Math.max(...late.map((s) => s[k]));
    const slack = k.endsWith('MiB') && k !== 'gpuMiB' ? 8 : k === 'gpuMiB' ? 0 : 1;
    verdict[k] = { early: e, late: l, flat: l <= 1.1 * e + slack };
  }
  log(`soak: ${steps} steps in ${seconds.toFixed(0)} s (checkpoints of ${(checkpointBytes / 1024).toFixed(0)} KiB)`);
  return { steps, seconds, samples, verdict };
}

export function soakMarkdown(r: SoakReport): string {
  const rows = r.samples.map((s) => `| ${s.step} | ${s.buffersLive} | ${s.buffersInUse} | ${s.gpuMiB.toFixed(2)} | ${s.heapMiB.toFixed(1)} | ${s.rssMiB.toFixed(1)} |`);
  const v = Object.entries(r.verdict).map(([k, x]) => `${k} ${x.early.toFixed(1)} → ${x.late.toFixed(1)} ${x.flat ? 'flat' : 'GROWS'}`);
  return ['| step | GPU buffers live | in use | GPU MiB | JS heap MiB | RSS MiB |', '|---|---|---|---|---|---|', ...rows, '', `verdict (first-quarter max → last-quarter max): ${v.join('; ')}`].join('\n');
}
