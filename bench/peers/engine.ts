/**
 * What every peer engine (tfjs-webgpu, jax-js) does for the bench, and the one place their entries
 * are registered: for each flowgpu entry they mirror — the square matmuls, the MLP training steps of
 * `MLP_TRAIN_SPECS` (toy A, toy B, the MNIST MLP) and the Euler / midpoint sampling runs — an entry
 * `<flowgpu entry>@<engine>` with the same config, FLOPs and repetition rules.
 *
 * Verification (every train entry, before timing, when `ctx.verify`): flowgpu draws (x_t, t, u_t) for
 * its steps 1 and 2 on the device and reads them back; from flowgpu's initial weights the peer's loss
 * on the first draws must equal flowgpu's (relative 1e-5: f32 sums in different orders agree to
 * ~1e-6), and after one Adam step its loss on the second draws must equal flowgpu's after its step
 * (relative 1e-4: the step moves the loss by ~1e-3, so this separates "same update" from "different
 * update"). A peer that differs throws: its entry is recorded as an error, never timed.
 * No Node import here: the browser page registers the same entries.
 */
import { gpu, noGrad } from '../../src/internal.js';
import { condOT } from '../../src/flow/schedulers.js';
import { flowMatchingStep } from '../../src/flow/train.js';
import { interpolateWithTarget } from '../../src/flow/paths.js';
import { register, type BenchContext, type StepCase } from '../registry.js';
import { mlpForwardFlops, mlpTrainSetup, MLP_TRAIN_SPECS, SAMPLE_POINTS, sampleSteps, TOY, type MlpTrainSpec, type ToyConfig } from '../e2e.js';

/** Host data a peer starts from when verifying: flowgpu's weights (PyTorch layout: Linear `i` weight [out, in]) and draws. */
export interface Reference {
  weights: Map<string, Float32Array>;
  draws: { xt: Float32Array; t: Float32Array; ut: Float32Array }[];
  batch: number;
}

/** A peer's implementation of the bench's work (each call sets up one entry's case). */
export interface PeerEngine {
  /** Short name used in entry names and ratio columns: `tfjs-webgpu`, `jax-js`. */
  engine: string;
  /** Version and backend, for the entry config. */
  label: string;
  /** A reason it cannot run here, or null once it is loaded. */
  load(ctx: BenchContext): Promise<string | null>;
  /** The settings it runs with (flags, jit), recorded in the report. */
  settings(): Record<string, unknown>;
  matmul(ctx: BenchContext, n: number): Promise<StepCase>;
  /** A training step case on `spec` from random weights, x1 from `batches` round-robin. */
  train(ctx: BenchContext, spec: MlpTrainSpec, batches: Float32Array[]): Promise<StepCase>;
  /** From the reference weights: the loss of one Adam step on draws[0], then the loss on draws[1]. */
  verifyLosses(spec: MlpTrainSpec, ref: Reference): Promise<[number, number]>;
  sample(ctx: BenchContext, c: ToyConfig, solver: 'euler' | 'midpoint', steps: number, points: number): Promise<StepCase>;
}

export interface Verification {
  engine: string;
  model: string;
  batch: number;
  /** Losses before and after one step. */
  flowgpu: [number, number];
  peer: [number, number];
  rel: [number, number];
  ok: boolean;
}

/** Every verification run so far (the page shows them and writes them into its JSON). */
export const verifications: Verification[] = [];

const engines: PeerEngine[] = [];

/** The settings of every registered peer. */
export function peerSettings(): Record<string, Record<string, unknown>> {
  return Object.fromEntries(engines.map((e) => [e.engine, { label: e.label, ...e.settings() }]));
}

/** flowgpu's side of the verification: initial weights (seed 5), the draws of steps 1 and 2, the losses of those steps. */
async function flowgpuReference(spec: MlpTrainSpec): Promise<{ ref: Reference; losses: [number, number] }> {
  const g = gpu();
  const batch = Math.min(256, spec.batch);
  const s = mlpTrainSetup({ ...spec, batch }, spec.dim, spec.batches(batch), { seed: 5 });
  try {
    const weights = new Map<string, Float32Array>();
    for (const [n, t] of s.model.namedParameters()) weights.set(n, await t.f32());
    const scheduler = condOT();
    const draws: Reference['draws'] = [];
    for (const step of [1, 2]) {
      g.upload(s.x1.pooled, s.x1.offset * 4, s.batches[step - 1]);
      const r = noGrad(() => interpolateWithTarget(s.x1, { scheduler, seed: 1, step }));
      draws.push({ xt: await r.xt.f32(), t: await r.t.f32(), ut: await r.ut.f32() });
      r.xt.dispose();
      r.t.dispose();
      r.ut.dispose();
    }
    const losses: number[] = [];
    for (const step of [1, 2]) {
      g.upload(s.x1.pooled, s.x1.offset * 4, s.batches[step - 1]);
      const l = flowMatchingStep(s.model, s.x1, { scheduler, seed: 1, step, update: s.opt });
      losses.push(await l.item());
      l.dispose();
    }
    return { ref: { weights, draws, batch }, losses: losses as [number, number] };
  } finally {
    s.x1.dispose();
    s.opt.m.dispose();
    s.opt.v.dispose();
    s.ema.shadow.dispose();
    s.model.dispose();
  }
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

/** Verifies `e` on `spec` (see the file comment); records the figures; throws when the peer differs. */
export async function verifyPeer(e: PeerEngine, spec: MlpTrainSpec, log: (m: string) => void): Promise<Verification> {
  const { ref, losses } = await flowgpuReference(spec);
  const peer = await e.verifyLosses(spec, ref);
  const r: [number, number] = [rel(peer[0], losses[0]), rel(peer[1], losses[1])];
  const v: Verification = {
    engine: e.engine,
    model: `${spec.entry} (${spec.dim}-D, ${spec.hiddenLayers}×${spec.hidden})`,
    batch: ref.batch,
    flowgpu: losses,
    peer,
    rel: r,
    ok: r[0] < 1e-5 && r[1] < 1e-4,
  };
  verifications.push(v);
  log(`verify ${e.engine} ${v.model}: loss ${losses[0]} vs ${peer[0]} (rel ${r[0].toExponential(1)}), after one step ${losses[1]} vs ${peer[1]} (rel ${r[1].toExponential(1)})`);
  if (!v.ok) throw new Error(`${e.engine} fails verification (does not compute flowgpu's step): losses ${losses.join(', ')} vs ${peer.join(', ')}`);
  return v;
}

/** Square matmul sizes the peers mirror, and which are part of --quick (as bench/kernels.ts). */
const MATMUL_SIZES: [number, boolean][] = [
  [256, true],
  [512, true],
  [1024, true],
  [2048, false],
  [4096, false],
];

/** Registers `e`'s entries next to the flowgpu entries they mirror. */
export function registerPeer(e: PeerEngine): void {
  engines.push(e);
  const unavailable = (ctx: BenchContext) => e.load(ctx);
  const peerOf = (of: string) => ({ engine: e.engine, of });
  for (const [n, quick] of MATMUL_SIZES) {
    const of = `matmul/${n}x${n}x${n}`;
    register({
      name: `${of}@${e.engine}`,
      group: 'matmul',
      config: { engine: e.label, m: n, k: n, n },
      quick,
      peer: peerOf(of),
      unavailable,
      setup: (ctx) => e.matmul(ctx, n),
    });
  }
  for (const spec of MLP_TRAIN_SPECS) {
    register({
      name: `${spec.entry}@${e.engine}`,
      group: 'e2e',
      config: { engine: e.label, model: `MLP ${spec.hiddenLayers}×${spec.hidden} SiLU on ${spec.dim}-D`, batch: spec.batch, optimizer: 'Adam lr 1e-3 betas 0.9/0.999 eps 1e-8 + EMA 0.999' },
      quick: spec.quick,
      peer: peerOf(spec.entry),
      unavailable,
      async setup(ctx): Promise<StepCase> {
        const verified = ctx.verify ? await verifyPeer(e, spec, ctx.log) : null;
        const c = await e.train(ctx, spec, spec.batches(spec.batch));
        return { ...c, flops: 3 * mlpForwardFlops(spec, spec.batch, spec.dim), notes: { ...c.notes, ...(verified ? { verified } : {}), settings: e.settings() } };
      },
    });
  }
  for (const solver of ['euler', 'midpoint'] as const) {
    register({
      name: `e2e/sample-${solver}@${e.engine}`,
      group: 'e2e',
      config: { engine: e.label, model: 'toy B (3×128)', points: SAMPLE_POINTS, solver, steps: solver === 'euler' ? 100 : 50, quickSteps: solver === 'euler' ? 10 : 5 },
      quick: true,
      peer: peerOf(`e2e/sample-${solver}`),
      unavailable,
      async setup(ctx): Promise<StepCase> {
        const steps = sampleSteps(solver, ctx);
        const c = await e.sample(ctx, TOY.B, solver, steps, SAMPLE_POINTS);
        const nfe = steps * (solver === 'euler' ? 1 : 2);
        return { ...c, maxReps: 1, flops: nfe * mlpForwardFlops(TOY.B, SAMPLE_POINTS), notes: { ...c.notes, steps, settings: e.settings() } };
      },
    });
  }
}
