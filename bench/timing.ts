/**
 * Timing for the bench: GPU timestamp queries where the adapter has them, wall clock around
 * `onSubmittedWorkDone` otherwise (or when asked).
 *
 * The runtime records all work into one command encoder and submits it at `flush()`; its compute pass
 * is private, so the timestamps are taken by two marker passes in command buffers of their own, one
 * submitted just before the measured work (timestamp at its end) and one just after (timestamp at its
 * start). The queue runs them in order, so the difference is the GPU time of the measured submit plus
 * two submit gaps; with many repetitions per sample the gaps vanish in the quotient. Dawn quantises
 * timestamps unless the `timestamp_quantization` toggle is disabled (bench/main.ts does).
 *
 * Dawn's node bindings poll on the JavaScript thread while a GPU promise is pending. On a CPU driver
 * (lavapipe, 2 cores) that polling takes a core from the driver's threads and cost about a third of
 * matmul throughput, so every wait first sleeps for most of the time the work is expected to take
 * (learned from the previous sample) and only then awaits the promise. A browser does not poll on
 * the page's thread, and there the sleep would do harm: a wall-clock sample then lasts at least 85%
 * of the one before, so a first sample slowed by pipeline compilation inflates the next ones (seen
 * in Chromium: a 256³ matmul read 262 ms where GPU timestamps gave 41 ms). So only Node sleeps.
 */
import type { Gpu } from '../src/internal.js';

export type TimerKind = 'timestamp' | 'wall';

export interface Sample {
  /** Milliseconds for the whole sample (all repetitions). */
  ms: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether waiting for the GPU polls on this JavaScript thread (Dawn's Node bindings do; browsers do not). */
export const waitPollsThisThread = (g: Gpu): boolean => g.info.backend === 'node-dawn';

export class Timer {
  readonly kind: TimerKind;
  private readonly g: Gpu;
  private querySet: GPUQuerySet | null = null;
  private resolveBuf: GPUBuffer | null = null;
  private readBuf: GPUBuffer | null = null;
  /** Expected duration of the next wait (ms), learned per key. */
  private readonly expect = new Map<string, number>();
  /** Sleep before waiting (see the file comment). */
  private readonly sleeps: boolean;

  constructor(g: Gpu, want: TimerKind) {
    this.g = g;
    this.kind = want === 'timestamp' && g.hasFeature('timestamp-query') ? 'timestamp' : 'wall';
    this.sleeps = waitPollsThisThread(g);
    if (this.kind === 'timestamp') {
      const d = g.device;
      this.querySet = d.createQuerySet({ type: 'timestamp', count: 2 });
      this.resolveBuf = d.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      this.readBuf = d.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    }
  }

  /** Sleeps for most of the expected time, then waits for the queue (see the file comment). */
  async settle(key: string, started: number): Promise<void> {
    const e = this.expect.get(key);
    if (this.sleeps && e !== undefined && e > 2) {
      const left = e * 0.85 - (performance.now() - started);
      if (left > 1) await sleep(left);
    }
    await this.g.device.queue.onSubmittedWorkDone();
  }

  private learn(key: string, ms: number): void {
    this.expect.set(key, ms);
  }

  private marker(end: boolean): void {
    const d = this.g.device;
    const enc = d.createCommandEncoder();
    const pass = enc.beginComputePass({
      timestampWrites: end
        ? { querySet: this.querySet!, beginningOfPassWriteIndex: 1 }
        : { querySet: this.querySet!, endOfPassWriteIndex: 0 },
    });
    pass.end();
    if (end) {
      enc.resolveQuerySet(this.querySet!, 0, 2, this.resolveBuf!, 0);
      enc.copyBufferToBuffer(this.resolveBuf!, 0, this.readBuf!, 0, 16);
    }
    d.queue.submit([enc.finish()]);
  }

  /**
   * Times `record` (which records GPU work through the runtime, without waiting) run `reps` times and
   * submitted once. Work pending in the runtime is submitted and finished first.
   */
  async time(key: string, record: () => void, reps: number): Promise<Sample> {
    const g = this.g;
    await g.sync();
    if (this.kind === 'timestamp') {
      this.marker(false);
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) record();
      g.flush();
      this.marker(true);
      const e = this.expect.get(key);
      if (this.sleeps && e !== undefined && e > 2) {
        const left = e * 0.85 - (performance.now() - t0);
        if (left > 1) await sleep(left);
      }
      await this.readBuf!.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(this.readBuf!.getMappedRange().slice(0));
      this.readBuf!.unmap();
      const ms = Number(t[1] - t[0]) / 1e6;
      this.learn(key, Math.max(ms, performance.now() - t0));
      await g.sync();
      if (!(ms > 0)) {
        // Some drivers report zeros; fall back to wall clock for this sample.
        return this.wall(key, record, reps);
      }
      return { ms };
    }
    return this.wall(key, record, reps);
  }

  private async wall(key: string, record: () => void, reps: number): Promise<Sample> {
    const g = this.g;
    for (let i = 0; i < reps; i++) record();
    const t0 = performance.now();
    g.flush();
    await this.settle(key, t0);
    const ms = performance.now() - t0;
    this.learn(key, ms);
    await g.sync();
    return { ms };
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuf?.destroy();
    this.readBuf?.destroy();
  }
}

/** Median and spread (min, max, relative interquartile range) of a list of numbers. */
export interface Stats {
  median: number;
  min: number;
  max: number;
  /** (q75 − q25) / median */
  iqrRel: number;
  n: number;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    const i = p * (s.length - 1);
    const lo = Math.floor(i);
    const hi = Math.ceil(i);
    return s[lo] + (s[hi] - s[lo]) * (i - lo);
  };
  const median = q(0.5);
  return { median, min: s[0], max: s[s.length - 1], iqrRel: median > 0 ? (q(0.75) - q(0.25)) / median : 0, n: s.length };
}
