/**
 * Peer: jax-js (@jax-js/jax 0.1.25) on its WebGPU device — browsers only (jax-js has no WebGPU in
 * Node). jax-js asks navigator.gpu for its own adapter and device; the page checks it got the adapter
 * flowgpu runs on (`settings().adapter`). It does the work of the flowgpu entries it mirrors
 * (bench/peers/engine.ts registers them and verifies the training step):
 *
 * - train step: ONE `jit`-compiled function per model does the whole step — x0 ~ N(0, I) and
 *   t ~ U(0, 1) drawn on the device (jax-js `random` with a fresh key per step), the CondOT
 *   interpolation, the MLP on concat[x, t] with SiLU, the MSE against u_t = x1 − x0, `valueAndGrad`,
 *   Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8, PyTorch's bias correction, written in jax-js ops:
 *   @jax-js/optax is not on npm) and the EMA (0.999) of every weight. x1 is uploaded per step from the
 *   same host batches.
 * - sampling: one `jit`-compiled Euler (or midpoint) step, called `steps` times.
 * - matmul: a `jit`-compiled np.matmul of two n×n f32 matrices.
 *
 * jax-js is lazy: work is dispatched when a result is waited for. Training and sampling chain their
 * state, and `settle` waits for the last state and every step's loss, so every step runs. Matmul
 * results do not chain: each is waited for (at most 4 in flight, then disposed), so each one runs.
 *
 * Reference counting (jax-js's rule): a function consumes its Array arguments; `.ref` keeps one for
 * another use. Every function below consumes each argument exactly once.
 */
import type { StepCase } from '../registry.js';
import type { ToyConfig } from '../e2e.js';
import type { PeerEngine, Reference } from './engine.js';

type Jax = typeof import('@jax-js/jax');
type Arr = import('@jax-js/jax').Array;
/** Weights as W0, b0, W1, b1, … (W as [in, out]). */
type Params = Arr[];
type State = { p: Params; m: Params; v: Params; ema: Params };

const LR = 1e-3;
const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-8;
const EMA = 0.999;

/** The model and training step in jax-js ops. */
function jaxModel(jax: Jax) {
  const { numpy: np, nn } = jax;
  /** v(x, t): consumes p, x, t. */
  const apply = (p: Params, x: Arr, t: Arr): Arr => {
    let h = np.concatenate([x, t], 1);
    for (let i = 0; i < p.length; i += 2) {
      h = np.matmul(h, p[i]).add(p[i + 1]);
      if (i + 2 < p.length) h = nn.silu(h);
    }
    return h;
  };
  const loss = (p: Params, xt: Arr, t: Arr, ut: Arr): Arr => np.square(apply(p, xt, t).sub(ut)).mean();
  const lossGrad = jax.valueAndGrad(loss);
  /** One Adam + EMA step on (x_t, t, u_t); c1 = 1/(1 − β1^k), c2 = 1/√(1 − β2^k) for step k. */
  const update = (s: State, xt: Arr, t: Arr, ut: Arr, c1: Arr, c2: Arr): { s: State; loss: Arr } => {
    const [l, g] = lossGrad(jax.tree.ref(s.p), xt, t, ut);
    const out: State = { p: [], m: [], v: [], ema: [] };
    for (let i = 0; i < s.p.length; i++) {
      const gi = g[i];
      const m = s.m[i].mul(B1).add(gi.ref.mul(1 - B1));
      const v = s.v[i].mul(B2).add(np.square(gi).mul(1 - B2));
      const denom = np.sqrt(v.ref).mul(c2.ref).add(EPS);
      const p = s.p[i].sub(m.ref.mul(c1.ref).mul(LR).div(denom));
      out.ema.push(s.ema[i].mul(EMA).add(p.ref.mul(1 - EMA)));
      out.p.push(p);
      out.m.push(m);
      out.v.push(v);
    }
    c1.dispose();
    c2.dispose();
    return { s: out, loss: l };
  };
  /** The timed step: draws on the device, then `update`. */
  const drawAndUpdate = (s: State, x1: Arr, k0: Arr, k1: Arr, c1: Arr, c2: Arr) => {
    const [b, d] = x1.shape;
    const x0 = jax.random.normal(k0, [b, d]);
    const t = jax.random.uniform(k1, [b, 1]);
    const xt = t.ref.mul(x1.ref).add(t.ref.mul(-1).add(1).mul(x0.ref));
    const ut = x1.sub(x0);
    return update(s, xt, t, ut, c1, c2);
  };
  return { apply, loss, update, drawAndUpdate };
}

/** Adam's bias corrections for step k (1-based) as device scalars. */
const corrections = (np: Jax['numpy'], k: number): [Arr, Arr] => [np.array(1 / (1 - B1 ** k)), np.array(1 / Math.sqrt(1 - B2 ** k))];

/** The MLP's initial state: weights from host arrays in PyTorch layout (Linear `2i` weight [out, in]) or uniform ±1/√in, zeros for m and v, the EMA a copy. */
function initState(jax: Jax, c: ToyConfig, dim: number, seed: number, weights?: Map<string, Float32Array>): State {
  const { numpy: np } = jax;
  const widths = [dim + 1, ...Array(c.hiddenLayers).fill(c.hidden), dim];
  const s: State = { p: [], m: [], v: [], ema: [] };
  let key = jax.random.key(seed);
  for (let i = 0; i + 1 < widths.length; i++) {
    const [fin, fout] = [widths[i], widths[i + 1]];
    const w = weights?.get(`${2 * i}.weight`);
    const b = weights?.get(`${2 * i}.bias`);
    if (weights && (!w || !b)) throw new Error(`jax-js peer: no weights named ${2 * i}.weight / ${2 * i}.bias`);
    let W: Arr;
    if (w) W = np.array(w).reshape([fout, fin]).transpose();
    else {
      const [k, sub] = splitKey(jax, key);
      key = k;
      const r = 1 / Math.sqrt(fin);
      W = jax.random.uniform(sub, [fin, fout], { minval: -r, maxval: r });
    }
    // a contiguous copy (transpose is a view), then the same values for the EMA
    W = W.add(0);
    const B = b ? np.array(b) : np.zeros([fout]);
    s.p.push(W.ref, B.ref);
    s.ema.push(W.add(0), B.add(0));
    s.m.push(np.zeros([fin, fout]), np.zeros([fout]));
    s.v.push(np.zeros([fin, fout]), np.zeros([fout]));
  }
  key.dispose();
  return s;
}

function splitKey(jax: Jax, key: Arr): [Arr, Arr] {
  const ks = jax.random.split(key, 2);
  return [ks.ref.slice(0), ks.slice(1)];
}

/** The jax-js peer; `loadJax` resolves to the started module (WebGPU as its default device) or to the reason it cannot run. */
export function jaxEngine(loadJax: () => Promise<Jax | string>): PeerEngine {
  let jax: Jax = null as unknown as Jax;
  let adapter: Record<string, string> | null = null;
  return {
    engine: 'jax-js',
    label: 'jax-js 0.1.25 webgpu',
    async load() {
      const r = await loadJax();
      if (typeof r === 'string') return r;
      jax = r;
      if (!adapter) {
        let info: GPUAdapterInfo | undefined;
        try {
          info = (jax.getWebGPUDevice() as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
        } catch {
          // not on WebGPU (a test on jax-js's cpu device)
        }
        adapter = info ? { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description } : {};
      }
      return null;
    },
    settings: () => ({
      device: `${jax ? jax.defaultDevice() : 'not started'} (its own GPUDevice on the adapter below)`,
      adapter,
      jit: 'the whole training step (draws, forward, loss, valueAndGrad, Adam, EMA) is one jit; the sampling step is one jit; matmul is a jit of np.matmul',
      optimizer: 'Adam written in jax-js ops (@jax-js/optax is not on npm)',
    }),
    async matmul(_ctx, n) {
      const np = jax.numpy;
      const a = jax.random.uniform(jax.random.key(1), [n, n], { minval: -1, maxval: 1 });
      const b = jax.random.uniform(jax.random.key(2), [n, n], { minval: -1, maxval: 1 });
      const mm = jax.jit((x: Arr, y: Arr) => np.matmul(x, y));
      const inFlight: Promise<void>[] = [];
      const drain = async (keep: number) => {
        while (inFlight.length > keep) await inFlight.shift();
      };
      return {
        kind: 'step',
        async step() {
          const c = mm(a.ref, b.ref);
          inFlight.push(c.blockUntilReady().then(() => c.dispose()));
          await drain(4);
        },
        settle: () => drain(0),
        async dispose() {
          await drain(0);
          a.dispose();
          b.dispose();
          mm.dispose();
        },
      };
    },
    async train(_ctx, spec, batches) {
      const np = jax.numpy;
      const model = jaxModel(jax);
      const step = jax.jit(model.drawAndUpdate);
      let s = initState(jax, spec, spec.dim, 3);
      let losses: Arr[] = [];
      const c: StepCase = {
        kind: 'step',
        notes: { jit: 'whole step' },
        step(i) {
          const x1 = np.array(batches[i % batches.length]).reshape([spec.batch, spec.dim]);
          const [c1, c2] = corrections(np, i + 1);
          const r = step(s, x1, jax.random.key(2 * i + 11), jax.random.key(2 * i + 12), c1, c2);
          s = r.s;
          losses.push(r.loss);
        },
        async settle() {
          await jax.blockUntilReady([s, losses]);
          jax.tree.dispose(losses);
          losses = [];
        },
        dispose() {
          jax.tree.dispose([s, losses]);
          step.dispose();
        },
      };
      return c;
    },
    async verifyLosses(spec, ref: Reference) {
      const np = jax.numpy;
      const model = jaxModel(jax);
      const { batch } = ref;
      const asJax = (d: Reference['draws'][number]) => ({
        xt: np.array(d.xt).reshape([batch, spec.dim]),
        t: np.array(d.t).reshape([batch, 1]),
        ut: np.array(d.ut).reshape([batch, spec.dim]),
      });
      const s0 = initState(jax, spec, spec.dim, 0, ref.weights);
      const d0 = asJax(ref.draws[0]);
      const d1 = asJax(ref.draws[1]);
      const [c1, c2] = corrections(np, 1);
      const r = jax.jit(model.update)(s0, d0.xt, d0.t, d0.ut, c1, c2);
      const l1 = jax.jit(model.loss)(jax.tree.ref(r.s.p), d1.xt, d1.t, d1.ut);
      const out: [number, number] = [(await r.loss.data())[0], (await l1.data())[0]];
      jax.tree.dispose(r.s);
      return out;
    },
    async sample(_ctx, c, solver, steps, points) {
      const np = jax.numpy;
      const model = jaxModel(jax);
      const s = initState(jax, c, 2, 4);
      const h = 1 / steps;
      const at = (t: Arr) => np.broadcastTo(t, [points, 1]); // np.full takes no traced value (jax-js 0.1.25)
      const euler = (p: Params, x: Arr, t: Arr) => x.ref.add(model.apply(p, x, at(t)).mul(h));
      const midpoint = (p: Params, x: Arr, t: Arr) => {
        const k1 = model.apply(jax.tree.ref(p), x.ref, at(t.ref));
        const xm = x.ref.add(k1.mul(h / 2));
        return x.add(model.apply(p, xm, at(t.add(h / 2))).mul(h));
      };
      const stepFn = jax.jit(solver === 'euler' ? euler : midpoint);
      let last: Arr | null = null;
      return {
        kind: 'step',
        notes: { jit: `one ${solver} step` },
        step(i) {
          last?.dispose();
          let x = jax.random.normal(jax.random.key(1000 + i), [points, 2]);
          for (let k = 0; k < steps; k++) x = stepFn(jax.tree.ref(s.p), x, np.array(k * h));
          last = x;
        },
        async settle() {
          if (last) await last.blockUntilReady();
        },
        dispose() {
          last?.dispose();
          jax.tree.dispose(s);
          stepFn.dispose();
        },
      };
    },
  };
}
