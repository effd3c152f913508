/**
 * Peer: TensorFlow.js 4.22 with @tensorflow/tfjs-backend-webgpu on flowgpu's own Dawn device (same
 * adapter, same queue, same run). It does the same work as the flowgpu entries it mirrors:
 *
 * - train step: the same MLP on concat[x, t], CondOT path with x0 ~ N(0, I) and t ~ U(0, 1) drawn on
 *   the GPU, mean squared error against u_t = x1 − x0, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8; =
 *   AdamW with weight decay 0) and an EMA (0.999) of every weight; x1 uploaded from the same host
 *   batches. Same FLOPs.
 * - sampling: 10 000 points, x ← x + h·v(x, t) (Euler) or the midpoint rule, the same model (B).
 *
 * `--verify` first checks, from identical weights and identical (x_t, t, u_t), that the tfjs loss
 * equals flowgpu's and that after one optimiser step both give the same loss on the next batch.
 *
 * Loading tfjs's WebGPU backend in Node: it registers itself only when `navigator.gpu` exists at
 * import, and needs the WebGPU globals (GPUBufferUsage, …), which flowgpu's device acquisition has
 * already copied onto globalThis; the full @tensorflow/tfjs bundle registers the gradients. The
 * backend's own factory is then replaced by one that wraps flowgpu's GPUDevice.
 */
import { gpu, noGrad, type Gpu } from '../../src/internal.js';
import { condOT } from '../../src/flow/schedulers.js';
import { flowMatchingStep } from '../../src/flow/train.js';
import { interpolateWithTarget } from '../../src/flow/paths.js';
import { register, type BenchContext, type StepCase } from '../registry.js';
import { mlpForwardFlops, SAMPLE_POINTS, sampleSteps, TOY, toyBatches, toyTrainSetup, type ToyConfig } from '../e2e.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type TF = any;

let tfPromise: Promise<TF | string> | null = null;

/** Loads tfjs on flowgpu's device; resolves to the module, or to a reason it cannot run here. */
export function loadTfjs(g: Gpu): Promise<TF | string> {
  tfPromise ??= (async () => {
    const glob = globalThis as { navigator?: { gpu?: unknown } };
    if (!glob.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    // a stand-in: the backend only checks that navigator.gpu exists; its factory is replaced below
    if (!glob.navigator!.gpu) glob.navigator!.gpu = { requestAdapter: async () => null, getPreferredCanvasFormat: () => 'bgra8unorm' };
    let tf: TF;
    let webgpu: TF;
    try {
      const names = ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'];
      tf = await import(/* @vite-ignore */ names[0]);
      webgpu = await import(/* @vite-ignore */ names[1]);
    } catch (e) {
      return `tfjs is not installed (${(e as Error).message.split('\n')[0]}); it is a devDependency of the bench: npm install`;
    }
    const info = (g.device as unknown as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', () => new webgpu.WebGPUBackend(g.device, info), 10);
    const ok = await tf.setBackend('webgpu');
    if (!ok) return 'tfjs could not start its WebGPU backend on this device';
    await tf.ready();
    // BENCH_TFJS_FLAGS='{"WEBGPU_CPU_FORWARD":false}' tries tfjs flags other than its defaults
    const flags = process.env.BENCH_TFJS_FLAGS;
    if (flags) for (const [k, v] of Object.entries(JSON.parse(flags))) tf.env().set(k, v);
    return tf;
  })();
  return tfPromise;
}

interface TfMlp {
  vars: TF[]; // W0, b0, W1, b1, … (W as [in, out])
  ema: TF[];
  apply(tf: TF, x: TF, t: TF): TF;
}

/** The same MLP as flowgpu's VelocityMLP; weights from host arrays in PyTorch layout, or random. */
function tfMlp(tf: TF, c: ToyConfig, weights?: Map<string, Float32Array>): TfMlp {
  const widths = [3, ...Array(c.hiddenLayers).fill(c.hidden), 2];
  const vars: TF[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    const [fin, fout] = [widths[i], widths[i + 1]];
    const name = String(2 * i); // VelocityMLP names its Linear layers 0, 2, 4, … (SiLUs between)
    const w = weights?.get(`${name}.weight`);
    const b = weights?.get(`${name}.bias`);
    if (weights && (!w || !b)) throw new Error(`tfjs peer: no weights named ${name}.weight / ${name}.bias`);
    // PyTorch keeps weight [out, in]; tfjs multiplies x·W with W [in, out]
    const wt = w ? tf.tidy(() => tf.tensor2d(w, [fout, fin]).transpose()) : tf.randomUniform([fin, fout], -1 / Math.sqrt(fin), 1 / Math.sqrt(fin));
    vars.push(tf.variable(wt), tf.variable(b ? tf.tensor1d(b) : tf.zeros([fout])));
    wt.dispose();
  }
  const ema = vars.map((v: TF) => tf.variable(v.clone(), false));
  return {
    vars,
    ema,
    apply(tf2: TF, x: TF, t: TF) {
      let h = tf2.concat([x, t], 1);
      for (let i = 0; i < vars.length; i += 2) {
        h = tf2.add(tf2.matMul(h, vars[i]), vars[i + 1]);
        if (i + 2 < vars.length) h = tf2.mul(h, tf2.sigmoid(h)); // SiLU
      }
      return h;
    },
  };
}

/** One tfjs training step: draw, interpolate, loss, gradients, Adam, EMA. Returns the loss tensor. */
function tfTrainStep(tf: TF, net: TfMlp, opt: TF, x1host: Float32Array, batch: number, given?: { xt: TF; t: TF; ut: TF }): TF {
  const loss = opt.minimize(
    () =>
      tf.tidy(() => {
        let xt: TF;
        let t: TF;
        let ut: TF;
        if (given) ({ xt, t, ut } = given);
        else {
          const x1 = tf.tensor2d(x1host, [batch, 2]);
          const x0 = tf.randomNormal([batch, 2]);
          t = tf.randomUniform([batch, 1]);
          xt = tf.add(tf.mul(t, x1), tf.mul(tf.sub(1, t), x0));
          ut = tf.sub(x1, x0);
        }
        const v = net.apply(tf, xt, t);
        return tf.mean(tf.square(tf.sub(v, ut)));
      }),
    true,
    net.vars,
  );
  tf.tidy(() => {
    for (let i = 0; i < net.vars.length; i++) net.ema[i].assign(tf.add(tf.mul(net.ema[i], 0.999), tf.mul(net.vars[i], 0.001)));
  });
  return loss;
}

const tfLoss = (tf: TF, net: TfMlp, s: { xt: TF; t: TF; ut: TF }) =>
  tf.tidy(() => tf.mean(tf.square(tf.sub(net.apply(tf, s.xt, s.t), s.ut))));

/** --verify: same loss from the same weights and draws, and after one step. Throws on a mismatch. */
async function verifyTrain(tf: TF, c: ToyConfig, log: (m: string) => void): Promise<{ loss0: number; loss1: number; tf0: number; tf1: number }> {
  const g = gpu();
  const s = toyTrainSetup({ ...c, batch: 256 }, 5);
  const batch = 256;
  try {
    const weights = new Map<string, Float32Array>();
    for (const [n, t] of s.model.namedParameters()) weights.set(n, await t.f32());
    const scheduler = condOT();
    // the (x_t, t, u_t) flowgpu's steps 1 and 2 will draw, read back for tfjs
    const draws: { xt: Float32Array; t: Float32Array; ut: Float32Array }[] = [];
    for (const step of [1, 2]) {
      g.upload(s.x1.pooled, s.x1.offset * 4, s.batches[step - 1].subarray(0, batch * 2));
      const r = noGrad(() => interpolateWithTarget(s.x1, { scheduler, seed: 1, step }));
      draws.push({ xt: await r.xt.f32(), t: await r.t.f32(), ut: await r.ut.f32() });
      r.xt.dispose();
      r.t.dispose();
      r.ut.dispose();
    }
    const lossAt = [];
    for (const step of [1, 2]) {
      g.upload(s.x1.pooled, s.x1.offset * 4, s.batches[step - 1].subarray(0, batch * 2));
      const l = flowMatchingStep(s.model, s.x1, { scheduler, seed: 1, step, update: s.opt });
      lossAt.push(await l.item());
      l.dispose();
    }
    const net = tfMlp(tf, c, weights);
    const opt = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
    const asTf = (d: (typeof draws)[number]) => ({ xt: tf.tensor2d(d.xt, [batch, 2]), t: tf.tensor2d(d.t, [batch, 1]), ut: tf.tensor2d(d.ut, [batch, 2]) });
    const d0 = asTf(draws[0]);
    const d1 = asTf(draws[1]);
    const l0 = tfTrainStep(tf, net, opt, new Float32Array(0), batch, d0);
    const tf0 = (await l0.data())[0];
    const l1 = tfLoss(tf, net, d1);
    const tf1 = (await l1.data())[0];
    tf.dispose([l0, l1, d0.xt, d0.t, d0.ut, d1.xt, d1.t, d1.ut, ...net.vars, ...net.ema]);
    opt.dispose();
    // f32 losses of sums over 512 terms in different orders: agree to ~1e-6 relative; the step
    // moves the loss by ~1e-3 relative, so 1e-4 separates "same update" from "different update".
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
    log(`verify tfjs ${JSON.stringify(c)}: loss ${lossAt[0]} vs ${tf0} (rel ${rel(tf0, lossAt[0]).toExponential(1)}), after one step ${lossAt[1]} vs ${tf1} (rel ${rel(tf1, lossAt[1]).toExponential(1)})`);
    if (!(rel(tf0, lossAt[0]) < 1e-5 && rel(tf1, lossAt[1]) < 1e-4)) {
      throw new Error(`tfjs peer does not compute flowgpu's step: losses ${lossAt.join(', ')} vs ${tf0}, ${tf1}`);
    }
    return { loss0: lossAt[0], loss1: lossAt[1], tf0, tf1 };
  } finally {
    s.x1.dispose();
    s.opt.m.dispose();
    s.opt.v.dispose();
    s.ema.shadow.dispose();
    s.model.dispose();
  }
}

async function unavailable(ctx: BenchContext): Promise<string | null> {
  const tf = await loadTfjs(ctx.g);
  return typeof tf === 'string' ? tf : null;
}

for (const key of ['A', 'B'] as const) {
  const c = TOY[key];
  register({
    name: `e2e/train-${key}@tfjs-webgpu`,
    group: 'e2e',
    config: { engine: 'tfjs 4.22 webgpu', model: `MLP ${c.hiddenLayers}×${c.hidden} SiLU`, batch: c.batch, optimizer: 'Adam lr 1e-3 eps 1e-8 + EMA 0.999' },
    quick: true,
    peer: { engine: 'tfjs-webgpu', of: `e2e/train-${key}` },
    unavailable,
    async setup(ctx): Promise<StepCase> {
      const tf = (await loadTfjs(ctx.g)) as TF;
      const verified = ctx.verify ? await verifyTrain(tf, c, ctx.log) : null;
      const net = tfMlp(tf, c);
      const opt = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
      const batches = toyBatches(c.batch);
      let last: TF = null;
      return {
        kind: 'step',
        flops: 3 * mlpForwardFlops(c, c.batch),
        maxReps: key === 'A' && ctx.quick ? 2 : undefined,
        notes: { ...(verified ? { verified } : {}), WEBGPU_CPU_FORWARD: tf.env().get('WEBGPU_CPU_FORWARD') },
        step(i) {
          last?.dispose();
          last = tfTrainStep(tf, net, opt, batches[i % batches.length], c.batch);
        },
        async settle() {
          if (last) await last.data();
        },
        dispose() {
          last?.dispose();
          tf.dispose([...net.vars, ...net.ema]);
          opt.dispose();
        },
      };
    },
  });
}

for (const solver of ['euler', 'midpoint'] as const) {
  register({
    name: `e2e/sample-${solver}@tfjs-webgpu`,
    group: 'e2e',
    config: { engine: 'tfjs 4.22 webgpu', model: 'toy B (3×128)', points: SAMPLE_POINTS, solver, steps: solver === 'euler' ? 100 : 50, quickSteps: solver === 'euler' ? 10 : 5 },
    quick: true,
    peer: { engine: 'tfjs-webgpu', of: `e2e/sample-${solver}` },
    unavailable,
    async setup(ctx): Promise<StepCase> {
      const tf = (await loadTfjs(ctx.g)) as TF;
      const net = tfMlp(tf, TOY.B);
      const steps = sampleSteps(solver, ctx);
      const h = 1 / steps;
      const nfe = steps * (solver === 'euler' ? 1 : 2);
      let last: TF = null;
      return {
        kind: 'step',
        maxReps: 1,
        flops: nfe * mlpForwardFlops(TOY.B, SAMPLE_POINTS),
        notes: { steps },
        step() {
          last?.dispose();
          let x = tf.randomNormal([SAMPLE_POINTS, 2]);
          for (let i = 0; i < steps; i++) {
            const t = i * h;
            const next = tf.tidy(() => {
              const tc = tf.fill([SAMPLE_POINTS, 1], t);
              if (solver === 'euler') return tf.add(x, tf.mul(net.apply(tf, x, tc), h));
              const k1 = net.apply(tf, x, tc);
              const xm = tf.add(x, tf.mul(k1, h / 2));
              const k2 = net.apply(tf, xm, tf.fill([SAMPLE_POINTS, 1], t + h / 2));
              return tf.add(x, tf.mul(k2, h));
            });
            x.dispose();
            x = next;
          }
          last = x;
        },
        async settle() {
          if (last) await last.data();
        },
        dispose() {
          last?.dispose();
          tf.dispose([...net.vars, ...net.ema]);
        },
      };
    },
  });
}

