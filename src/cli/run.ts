/**
 * What every training command does around the library's Trainer: the run directory (resume from its
 * checkpoint, checkpoints written atomically), the progress bar, --profile's table, Ctrl-C (finish
 * the step, write a checkpoint, say how to resume), and the files every run ends with.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { destroyGpu, FlowGpuError, formatProfile, initGpu, io, node, train, type Gpu } from '../node.js';
import { UsageError, type RunFlags } from './args.js';
import { Progress } from './progress.js';

let runtime: Gpu | null = null;

/** Runs a command's body with the GPU up, and tears it down afterwards (also on error). */
export async function withGpu(fn: () => Promise<unknown>): Promise<number> {
  runtime = await initGpu({ dawnFlags: ['disable-dawn-features=timestamp_quantization'] }); // exact timestamps for --profile
  try {
    await fn();
    return process.exitCode === 130 ? 130 : 0;
  } finally {
    destroyGpu();
    runtime = null;
  }
}

/** "vendor device" of the adapter, for headers and metrics. */
export async function adapterName(): Promise<string> {
  const i = (runtime ?? (await initGpu())).info;
  return `${i.vendor} ${i.device || i.architecture}`.trim();
}

/**
 * Makes --out this command's: refuses a directory that holds a run unless --resume or --force
 * (explicit, like git: a numbered fresh directory would leave the user guessing where the run
 * went), takes its lock (a second writer is refused, naming its PID; a dead one's lock is taken
 * over) and removes temporary files that killed writers left. Returns the lock's release.
 */
export function openRunDir(f: RunFlags): () => void {
  const held = [train.CHECKPOINT_FILE, train.MODEL_FILE].filter((n) => existsSync(join(f.out, n)));
  if (!f.resume && !f.force && held.length) {
    throw new UsageError(`${f.out} already holds a run (${held.join(', ')}): continue it with --resume, replace it with --force, or choose another --out`);
  }
  const lock = node.lockRunDir(f.out);
  if (lock.tookOverFrom !== null) process.stderr.write(`took over the lock of ${f.out} from process ${lock.tookOverFrom}, which is gone\n`);
  if (lock.removedTemp) process.stderr.write(`removed ${lock.removedTemp} temporary file(s) that an interrupted write left in ${f.out}\n`);
  return lock.release;
}

/**
 * Runs a training command's `body` with --out opened for it (openRunDir), then releases the
 * trainer (and its data source), its network and the lock, however the body ends.
 */
export async function inRunDir<T>(f: RunFlags, trainer: train.Trainer, body: () => Promise<T>): Promise<T> {
  let release = () => {};
  try {
    release = openRunDir(f);
    return await body();
  } finally {
    trainer.dispose();
    trainer.net.module.dispose();
    release();
  }
}

/**
 * Trains to the end (or to Ctrl-C) with the run directory's files: restores the checkpoint with
 * --resume, writes one every --ckpt-every steps and at the end.
 */
export async function runTraining(trainer: train.Trainer, f: RunFlags, header: string): Promise<train.TrainResult> {
  const ckpt = join(f.out, train.CHECKPOINT_FILE);
  if (f.resume) {
    if (!existsSync(ckpt)) throw new UsageError(`--resume: no ${train.CHECKPOINT_FILE} in ${f.out} (start without --resume, or point --out at the run to continue)`);
    trainer.restore(node.readCheckpoint(ckpt), ckpt);
    process.stderr.write(`resumed ${f.out} at step ${trainer.step}\n`);
  }
  process.stderr.write(header + '\n');
  const bar = new Progress(trainer.steps, 'train', trainer.step);
  const stop = new AbortController();
  let firstSignal = 0;
  const onSignal = () => {
    // a second Ctrl-C quits at once; one arriving within 0.5 s is the same keypress delivered twice
    // (to the process group and forwarded by the parent `flowgpu` process, src/cli/quiet.ts)
    if (stop.signal.aborted) {
      if (Date.now() - firstSignal > 500) process.exit(130);
      return;
    }
    firstSignal = Date.now();
    process.stderr.write('\ninterrupted: finishing the step and writing a checkpoint (Ctrl-C again to quit at once)\n');
    stop.abort();
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  let r: train.TrainResult;
  try {
    r = await trainer.run({
      signal: stop.signal,
      onProgress: (p) => bar.update(p.step, { loss: p.loss }),
      onCheckpoint: ({ bytes }) => node.writeFileAtomic(ckpt, bytes),
      onProfile: f.profile ? printProfile : undefined,
    });
  } catch (e) {
    if (e instanceof train.TrainingDiverged) throw new UsageError(`${e.message} (${ckpt})`);
    const last = trainer.lastCheckpointStep;
    const where = last === null ? 'no checkpoint was written yet' : `the checkpoint of step ${last} in ${ckpt} is intact: continue with the same command and --resume`;
    const msg = `training stopped at step ${trainer.step}: ${(e as Error).message} — ${where}`;
    throw e instanceof FlowGpuError ? new FlowGpuError(msg) : new Error(msg, { cause: e });
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  bar.finish(r.step, { loss: r.history.loss[r.history.loss.length - 1] ?? NaN });
  if (r.cancelled) {
    process.stderr.write(`stopped at step ${r.step} of ${trainer.steps}; the checkpoint is in ${ckpt}: continue with the same command and --resume\n`);
    process.exitCode = 130;
  } else {
    node.writeFileAtomic(join(f.out, train.MODEL_FILE), await trainer.modelFile()); // before any picture
  }
  return r;
}

function printProfile({ rows, steps }: { rows: import('../node.js').ProfileRow[] | null; steps: number }): void {
  if (!rows) {
    process.stderr.write('--profile: this adapter has no timestamp queries; not profiling\n');
    return;
  }
  const total = rows.reduce((a, r) => a + r.ms, 0);
  const dispatches = rows.reduce((a, r) => a + r.count, 0);
  const head = `--profile: GPU time of ${steps} steps, per step: ${(total / steps).toFixed(2)} ms in ${(dispatches / steps).toFixed(1)} dispatches`;
  process.stderr.write([head, ...formatProfile(rows, steps)].join('\n') + '\n');
}

/**
 * The files every trainer ends with (after model.safetensors, which runTraining wrote): loss.png
 * and metrics.json = { ...head, steps, parameters, finalLoss, trainSeconds, stepsPerSecond, adapter, ...tail }.
 */
export async function finishRun(trainer: train.Trainer, r: train.TrainResult, f: RunFlags, o: { lossTitle: string; head: object; tail: object }): Promise<void> {
  node.writePng(join(f.out, 'loss.png'), io.lossPlot(r.history.loss, { steps: r.history.lossStep, title: o.lossTitle }));
  const metrics = {
    ...o.head,
    steps: r.step,
    parameters: trainer.net.module.parameterCount(),
    finalLoss: r.history.loss[r.history.loss.length - 1],
    trainSeconds: r.trainSeconds,
    stepsPerSecond: f.resume ? undefined : r.stepsRun / r.trainSeconds,
    adapter: await adapterName(),
    ...o.tail,
  };
  writeFileSync(join(f.out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
}

/** The loop settings as the Trainer's options. */
export function trainerOptions(c: { steps: number; seed: number; lr: number; warmup: number; weightDecay: number; gradClip: number | null; ema: number; logEvery: number }, f: RunFlags) {
  const { steps, seed, lr, warmup, weightDecay, gradClip, ema, logEvery } = c;
  return { steps, seed, lr, warmup, weightDecay, gradClip, ema, logEvery, checkpointEvery: f.ckptEvery };
}
