/**
 * optim/: AdamW against a float64 reimplementation of torch.optim.AdamW (+ clip_grad_norm_), the
 * dispatch count of a step, non-finite handling, the EMA against its float64 recurrence (alone and
 * fused into the AdamW dispatch), swap/bind, and the learning-rate schedule's closed form.
 */
import { describe, expect, it } from 'vitest';
import {
  AdamW, EMA, HostRng, Module, VelocityMLP, backward, checkSchedule, gpu, learningRate, mseLoss, noGrad, tensor, tidy,
  warmupCosine, type FlatParameters,
} from '../src/internal.js';
import { expectClose, Rng, useGpu } from './helpers.js';

useGpu();

/** Parameters of awkward sizes: padding between them, and one over 65 536 elements so that the
 *  norm's first pass loops (256 workgroups × 256 threads) and the update spans many workgroups. */
class Bag extends Module {
  constructor(shapes: number[][], rng: HostRng) {
    super();
    shapes.forEach((s, i) => {
      const n = s.reduce((a, b) => a * b, 1);
      const v = new Float32Array(n);
      for (let k = 0; k < n; k++) v[k] = rng.normal();
      this.registerParameter(`p${i}`, tensor(v, s));
    });
  }
}
const SHAPES = [[3, 5], [70], [2, 65], [300, 250]];

/** A flat host vector in the module's layout, zero in the padding. */
function flatHost(flat: FlatParameters, shapes: number[][], gen: () => number): Float64Array {
  const out = new Float64Array(flat.size);
  shapes.forEach((s, i) => {
    const off = flat.offsets.get(`p${i}`)!;
    const n = s.reduce((a, b) => a * b, 1);
    for (let k = 0; k < n; k++) out[off + k] = Math.fround(gen());
  });
  return out;
}

function setGrads(flat: FlatParameters, g: Float64Array): void {
  gpu().upload(flat.grads.pooled, flat.grads.offset * 4, Float32Array.from(g));
}

/** torch.optim.AdamW (single-tensor) after torch.nn.utils.clip_grad_norm_, in float64. */
class RefAdamW {
  m: Float64Array;
  v: Float64Array;
  t = 0;
  lastNorm = 0;
  constructor(
    public p: Float64Array,
    public o: { betas: [number, number]; eps: number; wd: number; maxNorm: number | null },
  ) {
    this.m = new Float64Array(p.length);
    this.v = new Float64Array(p.length);
  }
  step(grad: Float64Array, lr: number): void {
    const [b1, b2] = this.o.betas;
    const g = Float64Array.from(grad);
    this.lastNorm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
    if (this.o.maxNorm !== null) {
      const c = Math.min(1, this.o.maxNorm / (this.lastNorm + 1e-6));
      for (let i = 0; i < g.length; i++) g[i] *= c;
    }
    const t = ++this.t;
    const stepSize = lr / (1 - b1 ** t);
    const bc2 = Math.sqrt(1 - b2 ** t);
    for (let i = 0; i < g.length; i++) {
      this.p[i] *= 1 - lr * this.o.wd;
      this.m[i] += (1 - b1) * (g[i] - this.m[i]);
      this.v[i] = b2 * this.v[i] + (1 - b2) * g[i] * g[i];
      this.p[i] -= (stepSize * this.m[i]) / (Math.sqrt(this.v[i]) / bc2 + this.o.eps);
    }
  }
}

describe('AdamW', () => {
  for (const maxNorm of [null, 0.5, 1e4]) {
    it(`matches torch.optim.AdamW in float64 over 5 steps (weight decay, clip ${maxNorm ?? 'off'})`, async () => {
      const rng = new Rng(3);
      const bag = new Bag(SHAPES, new HostRng(7));
      const flat = bag.flatten();
      const p0 = Float64Array.from(await flat.params.f32());
      const opts = { betas: [0.9, 0.95] as [number, number], eps: 1e-8, wd: 0.1, maxNorm };
      const ref = new RefAdamW(Float64Array.from(p0), opts);
      const opt = new AdamW(bag, { betas: opts.betas, eps: opts.eps, weightDecay: opts.wd, maxGradNorm: maxNorm });
      for (let k = 0; k < 5; k++) {
        const lr = 0.01 * (k + 1); // a schedule: lr passed per step
        // gradients of varied scale, some tiny (where eps matters): N(0, 1)·10^U(−3, 1)
        const g = flatHost(flat, SHAPES, () => rng.normal() * 10 ** rng.uniform(-3, 1));
        setGrads(flat, g);
        opt.step(lr);
        ref.step(g, lr);
      }
      const [p, m, v] = [await flat.params.f32(), await opt.m.f32(), await opt.v.f32()];
      // f32 arithmetic per step: m and v carry ≈1e-7 relative error per step; the update is
      // lr·m̂/(√v̂ + eps) with |·| ≤ lr·(1−β1)/√(1−β2) ≈ 0.45·lr, carried to ≈1e-6 relative; over 5
      // steps with lr ≤ 0.05 that is < 1e-6 absolute on |p| ≲ 5, plus p's own rounding (6e-8·|p|).
      // With clipping the f32 norm (75 000 terms) is good to ≈1e-6 relative, which scales m, v.
      // m can cancel (gradients of both signs up to |g| ≈ 40): each lerp rounds at ≈2⁻²⁴·(0.1·|g| + |m|),
      // so its error is absolute, ≲ 3e-7 over 5 steps.
      expectClose(p, ref.p, { rtol: 2e-6, atol: 2e-6 }, 'parameters');
      expectClose(m, ref.m, { rtol: 1e-5, atol: 1e-6 }, 'first moment');
      expectClose(v, ref.v, { rtol: 1e-5, atol: 1e-12 }, 'second moment');
      // padding stayed exactly zero
      for (const i of [15, 63, 134, 191, 322, 383]) expect(p[i]).toBe(0);
      if (maxNorm !== null) {
        expect(opt.gradNorm).not.toBeNull();
        expect(Math.abs((await opt.gradNorm!.item()) - ref.lastNorm)).toBeLessThan(1e-5 * ref.lastNorm);
      } else expect(opt.gradNorm).toBeNull();
      opt.dispose();
      bag.dispose();
    });
  }

  it('clips like clip_grad_norm_: the first moment after one step is (1−β1)·g·min(1, c/(‖g‖+1e-6))', async () => {
    const bag = new Bag([[4]], new HostRng(1));
    bag.flatten();
    const flat = bag.flatParameters!;
    for (const [c, g] of [[1, [3, 4, 0, 0]], [10, [3, 4, 0, 0]], [2.5, [0, 0, 0, -5]]] as [number, number[]][]) {
      const opt = new AdamW(bag, { maxGradNorm: c, betas: [0.5, 0.999] });
      setGrads(flat, Float64Array.from([...g, ...new Array(flat.size - 4).fill(0)]));
      opt.step();
      const m = await opt.m.f32();
      const coef = Math.min(1, c / (5 + 1e-6));
      expectClose(m.slice(0, 4), g.map((x) => 0.5 * x * coef), { rtol: 1e-6, atol: 1e-7 }, `m, max norm ${c}`);
      expect(await opt.gradNorm!.item()).toBeCloseTo(5, 5);
      opt.dispose();
    }
    bag.dispose();
  });

  it('a step is exactly one dispatch (three with the grad norm) and reads nothing back', () => {
    const bag = new Bag(SHAPES, new HostRng(2));
    bag.flatten();
    const plain = new AdamW(bag);
    const clipped = new AdamW(bag, { maxGradNorm: 1 });
    const ema = new EMA(bag);
    const fused = new AdamW(bag, { ema });
    const s = gpu().stats;
    for (const [opt, want] of [[plain, 1], [clipped, 3], [fused, 1]] as [AdamW, number][]) {
      const d0 = s.dispatches;
      const r0 = s.readbacks;
      const b0 = s.buffersCreated;
      opt.step(1e-3);
      opt.step(2e-3);
      expect(s.dispatches - d0).toBe(2 * want);
      expect(s.readbacks - r0).toBe(0);
      expect(s.buffersCreated - b0).toBe(0);
    }
    for (const o of [plain, clipped, fused]) o.dispose();
    ema.dispose();
    bag.dispose();
  });

  it('skips the whole update when the grad norm is not finite, and says so in gradNorm', async () => {
    const bag = new Bag([[6]], new HostRng(4));
    const flat = bag.flatten();
    const opt = new AdamW(bag, { trackGradNorm: true });
    const g1 = Float64Array.from({ length: flat.size }, (_, i) => (i < 6 ? 0.1 * (i + 1) : 0));
    setGrads(flat, g1);
    opt.step();
    const [p1, m1, v1] = [await flat.params.f32(), await opt.m.f32(), await opt.v.f32()];
    const bad = Float64Array.from(g1);
    bad[2] = NaN;
    setGrads(flat, bad);
    opt.step();
    expect(Number.isNaN(await opt.gradNorm!.item())).toBe(true);
    expect([...(await flat.params.f32())]).toEqual([...p1]);
    expect([...(await opt.m.f32())]).toEqual([...m1]);
    expect([...(await opt.v.f32())]).toEqual([...v1]);
    bad[2] = Infinity;
    setGrads(flat, bad);
    opt.step();
    expect(await opt.gradNorm!.item()).toBe(Infinity);
    expect([...(await flat.params.f32())]).toEqual([...p1]);
    // a finite step afterwards updates again
    setGrads(flat, g1);
    opt.step();
    expect([...(await flat.params.f32())]).not.toEqual([...p1]);
    opt.dispose();
    // without the norm nothing is checked: NaN reaches the weights (as in PyTorch)
    const raw = new AdamW(bag);
    setGrads(flat, bad.map((x, i) => (i === 2 ? NaN : x)));
    raw.step();
    expect(Number.isNaN((await flat.params.f32())[2])).toBe(true);
    raw.dispose();
    bag.dispose();
  });

  it('trains a small MLP: the regression loss falls by 20× in 150 steps', async () => {
    // fit v(x, t) = sin(3x)·t on fixed points; loss measured before and after
    const net = new VelocityMLP({ dim: 1, hidden: 32, hiddenLayers: 2 }, 3);
    const opt = new AdamW(net, { lr: 1e-2, weightDecay: 0 });
    const rng = new Rng(8);
    const n = 64;
    const xs = rng.array(n, () => rng.uniform(-1, 1));
    const ts = rng.array(n, () => rng.uniform());
    const ys = Float32Array.from(xs, (x, i) => Math.sin(3 * x) * ts[i]);
    const x = tensor(Float32Array.from(xs), [n, 1]);
    const t = tensor(Float32Array.from(ts), [n]);
    const y = tensor(ys, [n, 1]);
    const lossNow = () => tidy(() => noGrad(() => mseLoss(net.forward(x, t), y)));
    const first = await lossNow().item();
    for (let k = 0; k < 150; k++) {
      net.zeroGrad();
      tidy(() => backward(mseLoss(net.forward(x, t), y)));
      opt.step();
    }
    const last = await lossNow().item();
    expect(last).toBeLessThan(first / 20);
    for (const z of [x, t, y]) z.dispose();
    opt.dispose();
    net.dispose();
  });

  it('saves and restores its state', async () => {
    const bag = new Bag([[5]], new HostRng(5));
    const flat = bag.flatten();
    const a = new AdamW(bag);
    setGrads(flat, Float64Array.from({ length: flat.size }, (_, i) => (i < 5 ? i - 2 : 0)));
    a.step();
    const st = await a.state();
    expect(st.step).toBe(1);
    const b = new AdamW(bag);
    b.loadState(st);
    expect(b.stepCount).toBe(1);
    expect([...(await b.m.f32())]).toEqual([...st.m]);
    expect([...(await b.v.f32())]).toEqual([...st.v]);
    a.dispose();
    b.dispose();
    bag.dispose();
  });
});

describe('EMA', () => {
  it('follows ema ← d·ema + (1−d)·θ in float64, with and without warm-up', async () => {
    for (const warmup of [false, true]) {
      const rng = new Rng(9);
      const bag = new Bag([[3, 7], [100]], new HostRng(3));
      const flat = bag.flatten();
      const shapes = [[3, 7], [100]];
      let ref = Float64Array.from(await flat.params.f32());
      const ema = new EMA(bag, { decay: 0.9, warmup });
      for (let k = 1; k <= 6; k++) {
        const theta = flatHost(flat, shapes, () => rng.normal());
        gpu().upload(flat.params.pooled, flat.params.offset * 4, Float32Array.from(theta));
        ema.update();
        const d = warmup ? Math.min(0.9, (1 + k) / (10 + k)) : 0.9;
        expect(ema.decayAt(k)).toBe(d);
        ref = ref.map((e, i) => d * e + (1 - d) * theta[i]);
      }
      // six f32 multiply-adds of |values| ≲ 4: a few ulps (≈1e-6) each
      expectClose(await ema.shadow.f32(), ref, { rtol: 1e-6, atol: 1e-6 }, `ema (warmup ${warmup})`);
      expect(ema.updates).toBe(6);
      ema.dispose();
      bag.dispose();
    }
  });

  it('fused into the AdamW dispatch, equals AdamW then EMA (float64 reference of both)', async () => {
    const rng = new Rng(12);
    const bag = new Bag(SHAPES, new HostRng(1));
    const flat = bag.flatten();
    const p0 = Float64Array.from(await flat.params.f32());
    const ema = new EMA(bag, { decay: 0.8, warmup: true });
    const opt = new AdamW(bag, { lr: 0.02, weightDecay: 0.05, ema, maxGradNorm: 3 });
    const ref = new RefAdamW(Float64Array.from(p0), { betas: [0.9, 0.999], eps: 1e-8, wd: 0.05, maxNorm: 3 });
    let e = Float64Array.from(p0);
    for (let k = 1; k <= 4; k++) {
      const g = flatHost(flat, SHAPES, () => rng.normal());
      setGrads(flat, g);
      opt.step();
      ref.step(g, 0.02);
      const d = Math.min(0.8, (1 + k) / (10 + k));
      e = e.map((x, i) => d * x + (1 - d) * ref.p[i]);
    }
    expectClose(await flat.params.f32(), ref.p, { rtol: 2e-6, atol: 2e-6 }, 'parameters');
    expectClose(await ema.shadow.f32(), e, { rtol: 2e-6, atol: 2e-6 }, 'ema');
    opt.dispose();
    ema.dispose();
    bag.dispose();
  });

  it('swap() exchanges weights and average exactly; bind() runs a second module on the average', async () => {
    const net = new VelocityMLP({ dim: 2, hidden: 8, hiddenLayers: 2 }, 4);
    const flat = net.flatten();
    const ema = new EMA(net, { decay: 0.5 });
    const rng = new Rng(2);
    const theta = Float32Array.from({ length: flat.size }, () => rng.normal());
    gpu().upload(flat.params.pooled, flat.params.offset * 4, theta);
    ema.update();
    const weights = await flat.params.f32();
    const avg = await ema.shadow.f32();
    const x = tensor([0.1, 0.2, -0.3, 0.4, 0.5, -0.6], [3, 2]);
    const t = tensor([0.2, 0.5, 0.8]);
    const onEma = VelocityMLP.fromConfig(net.config);
    ema.bind(onEma);
    const vBound = await tidy(() => noGrad(() => onEma.forward(x, t))).f32();
    const vSwapped = await ema.withAverage(async () => {
      expect(ema.isSwapped).toBe(true);
      expect(() => ema.update()).toThrow(/swapped/);
      expect([...(await flat.params.f32())]).toEqual([...avg]);
      expect([...(await ema.shadow.f32())]).toEqual([...weights]);
      return tidy(() => noGrad(() => net.forward(x, t))).f32();
    });
    expect([...vSwapped]).toEqual([...vBound]);
    expect([...(await flat.params.f32())]).toEqual([...weights]);
    expect([...(await ema.shadow.f32())]).toEqual([...avg]);
    const vNet = await tidy(() => noGrad(() => net.forward(x, t))).f32();
    expect([...vNet]).not.toEqual([...vBound]);
    onEma.dispose();
    for (const z of [x, t]) z.dispose();
    ema.dispose();
    net.dispose();
  });
});

describe('learning-rate schedule', () => {
  it('warms up linearly, then decays by a cosine to the floor', () => {
    const lr = 1e-3;
    const f = warmupCosine({ lr, warmupSteps: 100, totalSteps: 1100, minLr: 1e-5 });
    expect(f(0)).toBeCloseTo(lr / 100, 15);
    expect(f(49)).toBeCloseTo(lr / 2, 15);
    expect(f(99)).toBe(lr); // warm-up end
    expect(f(100)).toBeCloseTo(lr, 15); // cosine starts at lr
    expect(f(600)).toBeCloseTo((lr + 1e-5) / 2, 15); // midpoint of the decay
    expect(f(350)).toBeCloseTo(1e-5 + (lr - 1e-5) * 0.5 * (1 + Math.cos(Math.PI / 4)), 15);
    expect(f(1100)).toBeCloseTo(1e-5, 15); // end
    expect(f(5000)).toBeCloseTo(1e-5, 15); // beyond
    for (let k = 100; k < 1100; k += 37) expect(f(k + 1)).toBeLessThanOrEqual(f(k));
    expect(learningRate({ kind: 'constant', lr, warmupSteps: 0 }, 7)).toBe(lr);
    expect(learningRate({ kind: 'constant', lr, warmupSteps: 4 }, 1)).toBe(lr / 2);
    expect(() => checkSchedule({ kind: 'cosine', lr, warmupSteps: 10, totalSteps: 5, minLr: 0 })).toThrow(/totalSteps/);
  });
});
