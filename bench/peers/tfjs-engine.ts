/**
 * Peer: TensorFlow.js 4.22 with @tensorflow/tfjs-backend-webgpu, on flowgpu's own GPUDevice (same
 * adapter, same queue, same run). Used by the Node bench (bench/peers/tfjs.ts loads tfjs on Dawn) and
 * by the browser page (bench/peers/browser.ts); no Node import here. It does the work of the flowgpu
 * entries it mirrors (bench/peers/engine.ts registers them):
 *
 * - train step: the same MLP on concat[x, t], CondOT path with x0 ~ N(0, I) and t ~ U(0, 1) drawn on
 *   the GPU, mean squared error against u_t = x1 − x0, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8; =
 *   AdamW with weight decay 0) and an EMA (0.999) of every weight; x1 uploaded from the same host
 *   batches. Same FLOPs.
 * - sampling: 10 000 points, x ← x + h·v(x, t) (Euler) or the midpoint rule, the same model (B).
 * - matmul: tf.matMul of two n×n f32 matrices.
 *
 * tfjs runs eagerly (no graph compilation in tfjs-webgpu); its settings are its WebGPU flags, set by
 * the loader (`tfjsFlags`).
 */
import type { Gpu } from '../../src/internal.js';
import type { StepCase } from '../registry.js';
import type { MlpTrainSpec, ToyConfig } from '../e2e.js';
import type { PeerEngine, Reference } from './engine.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TF = any;

/**
 * The flags the bench runs tfjs with: its defaults. Tried on SwiftShader in Chromium (train B, 3
 * samples each, one after another on a shared 2-core machine): defaults 2.56 s per step,
 * WEBGPU_CPU_FORWARD false (no CPU forwarding of small ops) 2.55 s, that plus
 * WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE 128 (fewer submits) 3.11 s — no flag made it faster, so none is set
 * (the page's `tfjs={…}` parameter and Node's BENCH_TFJS_FLAGS try others).
 */
export const TFJS_FLAGS: Record<string, unknown> = {};

/**
 * Starts tfjs's WebGPU backend on flowgpu's device (`tf` is @tensorflow/tfjs, `webgpu` its WebGPU
 * backend module) with `flags` set; resolves to a reason when it cannot.
 */
export async function startTfjs(tf: TF, webgpu: TF, g: Gpu, flags: Record<string, unknown>): Promise<string | null> {
  const info = (g.device as unknown as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new webgpu.WebGPUBackend(g.device, info), 10);
  const ok = await tf.setBackend('webgpu');
  if (!ok) return 'tfjs could not start its WebGPU backend on this device';
  await tf.ready();
  for (const [k, v] of Object.entries(flags)) tf.env().set(k, v);
  return null;
}

interface TfMlp {
  vars: TF[]; // W0, b0, W1, b1, … (W as [in, out])
  ema: TF[];
  apply(x: TF, t: TF): TF;
}

/** The same MLP as flowgpu's VelocityMLP; weights from host arrays in PyTorch layout, or random. */
function tfMlp(tf: TF, c: ToyConfig, dim: number, weights?: Map<string, Float32Array>): TfMlp {
  const widths = [dim + 1, ...Array(c.hiddenLayers).fill(c.hidden), dim];
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
    apply(x: TF, t: TF) {
      let h = tf.concat([x, t], 1);
      for (let i = 0; i < vars.length; i += 2) {
        h = tf.add(tf.matMul(h, vars[i]), vars[i + 1]);
        if (i + 2 < vars.length) h = tf.mul(h, tf.sigmoid(h)); // SiLU
      }
      return h;
    },
  };
}

type Draw = { xt: TF; t: TF; ut: TF };

/** One tfjs training step: draw (unless given), interpolate, loss, gradients, Adam, EMA. Returns the loss tensor. */
function tfTrainStep(tf: TF, net: TfMlp, opt: TF, x1host: Float32Array, batch: number, dim: number, given?: Draw): TF {
  const loss = opt.minimize(
    () =>
      tf.tidy(() => {
        let xt: TF;
        let t: TF;
        let ut: TF;
        if (given) ({ xt, t, ut } = given);
        else {
          const x1 = tf.tensor2d(x1host, [batch, dim]);
          const x0 = tf.randomNormal([batch, dim]);
          t = tf.randomUniform([batch, 1]);
          xt = tf.add(tf.mul(t, x1), tf.mul(tf.sub(1, t), x0));
          ut = tf.sub(x1, x0);
        }
        const v = net.apply(xt, t);
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

const adam = (tf: TF) => tf.train.adam(1e-3, 0.9, 0.999, 1e-8);

/** A step case whose work is queued by `run()` and waited for by reading its last result. */
function eagerCase(tf: TF, run: (i: number) => TF, dispose: () => void, notes: Record<string, unknown> = {}): StepCase {
  let last: TF = null;
  return {
    kind: 'step',
    notes,
    step(i) {
      last?.dispose();
      last = run(i);
    },
    async settle() {
      if (last) await last.data();
    },
    dispose() {
      last?.dispose();
      dispose();
    },
  };
}

/** The tfjs peer; `loadTf` resolves to the started tfjs module or to the reason it cannot run. */
export function tfjsEngine(loadTf: (g: Gpu) => Promise<TF | string>, flags: () => Record<string, unknown>): PeerEngine {
  let tf: TF = null;
  return {
    engine: 'tfjs-webgpu',
    label: 'tfjs 4.22 webgpu',
    async load(ctx) {
      const r = await loadTf(ctx.g);
      if (typeof r === 'string') return r;
      tf = r;
      return null;
    },
    settings: () => ({ flags: flags(), execution: 'eager (tfjs has no graph compilation on WebGPU)', WEBGPU_CPU_FORWARD: tf?.env().get('WEBGPU_CPU_FORWARD') }),
    async matmul(_ctx, n) {
      const a = tf.randomUniform([n, n], -1, 1);
      const b = tf.randomUniform([n, n], -1, 1);
      return eagerCase(tf, () => tf.matMul(a, b), () => tf.dispose([a, b]));
    },
    async train(ctx, spec, batches) {
      const net = tfMlp(tf, spec, spec.dim);
      const opt = adam(tf);
      const c = eagerCase(
        tf,
        (i) => tfTrainStep(tf, net, opt, batches[i % batches.length], spec.batch, spec.dim),
        () => {
          tf.dispose([...net.vars, ...net.ema]);
          opt.dispose();
        },
      );
      // toy A takes seconds per step on a software driver
      return spec.entry === 'e2e/train-A' && ctx.quick ? { ...c, maxReps: 2 } : c;
    },
    async verifyLosses(spec: MlpTrainSpec, ref: Reference) {
      const { batch } = ref;
      const net = tfMlp(tf, spec, spec.dim, ref.weights);
      const opt = adam(tf);
      const asTf = (d: Reference['draws'][number]): Draw => ({ xt: tf.tensor2d(d.xt, [batch, spec.dim]), t: tf.tensor2d(d.t, [batch, 1]), ut: tf.tensor2d(d.ut, [batch, spec.dim]) });
      const [d0, d1] = ref.draws.map(asTf);
      const l0 = tfTrainStep(tf, net, opt, new Float32Array(0), batch, spec.dim, d0);
      const l1 = tf.tidy(() => tf.mean(tf.square(tf.sub(net.apply(d1.xt, d1.t), d1.ut))));
      const out: [number, number] = [(await l0.data())[0], (await l1.data())[0]];
      tf.dispose([l0, l1, d0.xt, d0.t, d0.ut, d1.xt, d1.t, d1.ut, ...net.vars, ...net.ema]);
      opt.dispose();
      return out;
    },
    async sample(_ctx, c, solver, steps, points) {
      const net = tfMlp(tf, c, 2);
      const h = 1 / steps;
      return eagerCase(
        tf,
        () => {
          let x = tf.randomNormal([points, 2]);
          for (let i = 0; i < steps; i++) {
            const t = i * h;
            const next = tf.tidy(() => {
              const tc = tf.fill([points, 1], t);
              if (solver === 'euler') return tf.add(x, tf.mul(net.apply(x, tc), h));
              const k1 = net.apply(x, tc);
              const xm = tf.add(x, tf.mul(k1, h / 2));
              const k2 = net.apply(xm, tf.fill([points, 1], t + h / 2));
              return tf.add(x, tf.mul(k2, h));
            });
            x.dispose();
            x = next;
          }
          return x;
        },
        () => tf.dispose([...net.vars, ...net.ema]),
      );
    },
  };
}
