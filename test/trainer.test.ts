// The library's training run (src/train): resume from bytes, cancellation, divergence, the files
// loadModel reads (a checkpoint gives its EMA weights), and reflow on a teacher whose ODE has a
// closed form — all through the public namespaces, no argv.
import { describe, expect, it } from 'vitest';
import { affine, data, flow, io, nn, tensor, train, type Tensor } from '../src/internal.js';
import { useGpu } from './helpers.js';

useGpu();

const spec = nn.mlpSpec({ dim: 2, hidden: 16, hiddenLayers: 2 });
const opts = { steps: 20, lr: 3e-3, ema: 0.9, logEvery: 5, checkpointEvery: 10, seed: 3 };
const trainer = (o: Partial<train.TrainerOptions> = {}) =>
  new train.Trainer({ ...opts, net: nn.buildNet(spec, 3), data: data.toyBatches('moons', 64, 3), ...o });

async function weights(net: nn.VelocityNet): Promise<Float32Array> {
  const sd = await net.module.stateDict();
  return Float32Array.from([...sd.values()].flatMap((t) => [...t.data]));
}

describe('train.Trainer', () => {
  it('restored from the bytes of its step-10 checkpoint, ends with bit-identical losses and weights', async () => {
    const a = trainer();
    const saved: Record<number, Uint8Array> = {};
    const full = await a.run({ onCheckpoint: ({ step, bytes }) => void (saved[step] = bytes) });
    expect(Object.keys(saved).map(Number)).toEqual([10, 20]);
    expect(full.history.lossStep).toEqual([5, 10, 15, 20]);
    const b = trainer();
    b.restore(saved[10]);
    expect(b.step).toBe(10);
    const resumed = await b.run();
    expect(resumed.stepsRun).toBe(10);
    expect(resumed.history.loss).toEqual(full.history.loss);
    expect(await weights(b.net)).toEqual(await weights(a.net));
    // a checkpoint past the steps asked for is refused before anything runs
    const c = trainer({ steps: 5 });
    expect(() => c.restore(saved[10])).toThrow(/step 10, past the 5 steps/);
    for (const t of [a, b, c]) {
      t.dispose();
      t.net.module.dispose();
    }
  });

  it('stops after the current step when its signal aborts, with a final checkpoint', async () => {
    const t = trainer();
    const stop = new AbortController();
    const seen: { step: number; final: boolean }[] = [];
    const r = await t.run({
      signal: stop.signal,
      onProgress: (p) => p.step === 5 && stop.abort(),
      onCheckpoint: ({ step, final }) => void seen.push({ step, final }),
    });
    expect(r.cancelled).toBe(true);
    expect(r.step).toBe(5);
    expect(seen).toEqual([{ step: 5, final: true }]);
    t.dispose();
    t.net.module.dispose();
  });

  it('reports a non-finite loss as TrainingDiverged, naming the steps and the last checkpoint', async () => {
    const moons = data.toyBatches('moons', 64, 3);
    const poisoned = { batch: (s: number) => (s < 12 ? moons.batch(s) : { x1: tensor(new Float32Array(128).fill(NaN), [64, 2]) }) };
    const t = trainer({ data: poisoned });
    const err = await t.run({ onCheckpoint: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(train.TrainingDiverged);
    expect((err as train.TrainingDiverged).message).toMatch(/steps 11–15 is NaN.*checkpoint \(step 10\) is intact/);
    t.dispose();
    t.net.module.dispose();
  });

  it('writes files that loadModel rebuilds: a checkpoint gives its EMA weights, as the model file does', async () => {
    const t = trainer();
    let ckpt: Uint8Array = new Uint8Array();
    await t.run({ onCheckpoint: ({ bytes }) => void (ckpt = bytes) });
    const model = io.loadModel(await t.modelFile());
    const fromCkpt = io.loadModel(ckpt);
    const raw = io.loadModel(ckpt, { weights: 'raw' });
    expect([model.weights, model.source, fromCkpt.weights, fromCkpt.source, raw.weights]).toEqual(['ema', 'model', 'ema', 'checkpoint', 'raw']);
    expect(model.step).toBe(20);
    const ema = await weights(model.net);
    expect(await weights(fromCkpt.net)).toEqual(ema);
    // the raw parameters are the trainer's own, and differ from the average
    expect(await weights(raw.net)).toEqual(await weights(t.net));
    expect(await weights(raw.net)).not.toEqual(ema);
    const file = await t.modelFile();
    expect(() => io.loadModel(file, { weights: 'raw' })).toThrow(/holds only its ema weights/);
    for (const m of [model, fromCkpt, raw]) m.net.module.dispose();
    t.dispose();
    t.net.module.dispose();
  });
});

describe('train.reflowPairs / reflowTrainer', () => {
  // A teacher with a closed-form ODE: v(x, t) = a·x, so x1 = e^a·x0. One Euler step of it gives
  // (1 + a)·x0, off by (e − 2)·|x0| at a = 1; the student trained on the straight pairs learns
  // v = (e^a − 1)·x0 along each line, so its one step lands near e^a·x0.
  const a = 1;
  const teacher = { sampleShape: [2], numClasses: 0, sampleChunk: Infinity, forward: (x: Tensor) => affine(x, a) };

  it('solves the teacher ODE for the pairs (RK4 against e^a·x0) and trains a one-step student', async () => {
    const pairs = await train.reflowPairs(teacher, { pairs: 512, seed: 5, solver: 'rk4', nfe: 40 });
    let worst = 0;
    for (let i = 0; i < pairs.x0.length; i++) worst = Math.max(worst, Math.abs(pairs.x1[i] - Math.exp(a) * pairs.x0[i]));
    expect(worst).toBeLessThan(1e-5); // RK4 with h = 0.1 on e^t: local error ~h^5/120 per step, f32 states
    const student = nn.buildNet(nn.mlpSpec({ dim: 2, hidden: 32, hiddenLayers: 2 }), 5);
    const t = train.reflowTrainer(student, pairs, { steps: 300, batch: 128, lr: 1e-2, ema: 0, seed: 5, distill: true });
    await t.run();
    const x0 = flow.hostNormals(2 * 200, 77);
    const err = async (net: Pick<nn.VelocityNet, 'forward' | 'sampleShape' | 'numClasses' | 'sampleChunk'>) => {
      const { x } = await flow.generate(net, { n: 200, source: x0, solver: 'euler', steps: 1 });
      let e = 0;
      for (let i = 0; i < x.length; i++) e += Math.abs(x[i] - Math.exp(a) * x0[i]) / x.length;
      return e;
    };
    const before = await err(teacher);
    const after = await err(student);
    expect(before).toBeGreaterThan(0.5); // (e − 2)·E|x0| ≈ 0.57
    expect(after).toBeLessThan(0.25 * before);
    t.dispose();
    student.module.dispose();
  });
});
