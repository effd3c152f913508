/**
 * The tape: reverse mode from a scalar, gradients summed over every use of a tensor and across
 * backward() calls, noGrad scopes, the errors backward() gives, and buffer lifetime — a tidy()
 * training step returns every buffer it borrowed, so a 1000-step loop of forward, backward and
 * SGD update on a small MLP keeps the GPU buffer count flat.
 *
 * Expected gradients here are analytic (hand-derived) or float64 central differences; values
 * that are exact in f32 are compared exactly, the rest within the bound stated beside them.
 */
import { describe, expect, it } from 'vitest';
import {
  add, backward, exp, gpu, isGradEnabled, linear, mean, mseLoss, mul, noGrad, param, raw, reshape, silu, sin,
  sum, tensor, tidy, poisonOutputs, FlowGpuError, type Tensor,
} from '../src/internal.js';
import { expectClose, Rng, useGpu } from './helpers.js';
import { EPS } from './reference.js';

useGpu();

async function takeGrad(t: Tensor): Promise<number[]> {
  expect(t.grad, 'gradient').toBeTruthy();
  const g = [...(await t.grad!.data())];
  t.grad!.dispose();
  t.grad = null;
  return g;
}

describe('reverse mode', () => {
  it('sums the gradient over every use of a tensor (diamond graph)', async () => {
    // f = Σ (x·x + sin(x) + x·exp(x)), f' = 2x + cos x + (1 + x)·eˣ
    const xs = [-1.5, -0.25, 0.5, 2];
    const x = param(tensor(xs));
    tidy(() => backward(sum(add(add(mul(x, x), sin(x)), mul(x, exp(x))))));
    const want = xs.map((v) => 2 * v + Math.cos(v) + (1 + v) * Math.exp(v));
    // each term within a few ulp of its size (exp: 3 + 2|x| ulp) and the sum of three terms
    expectClose(await takeGrad(x), want, { rtol: 32 * EPS, atol: 2 ** -19 }, 'diamond gradient');
    x.dispose();
  });

  it('accumulates across backward() calls and into an existing .grad (in place)', async () => {
    const x = param(tensor([1, 2, 3]));
    const pre = tensor([10, 20, 30]);
    x.grad = pre; // e.g. a view into an optimiser's flat gradient buffer
    for (let i = 0; i < 3; i++) tidy(() => backward(sum(mul(x, x)))); // +2x each time
    expect(x.grad).toBe(pre); // the same tensor, updated in place
    expect(await takeGrad(x)).toEqual([16, 32, 48]);
    x.dispose();
  });

  it('two leaves whose gradients are views of one buffer do not alias', async () => {
    // add gives the same gradient tensor to both inputs; reshape's backward is a view of it.
    // Without a copy, p.grad and q.grad would share storage and the second backward() would
    // accumulate into both twice.
    const p = param(tensor([1, 2, 3], [3, 1]));
    const q = param(tensor([4, 5, 6]));
    // both operand orders: the tape visits the reshape branch first in one, last in the other
    for (const f of [() => add(reshape(p, [3]), q), () => add(q, reshape(p, [3]))]) {
      for (let i = 0; i < 2; i++) tidy(() => backward(sum(f())));
      expect(await takeGrad(p)).toEqual([2, 2, 2]);
      expect(await takeGrad(q)).toEqual([2, 2, 2]);
    }
    p.dispose();
    q.dispose();
  });

  it('a caller-supplied output gradient is used and left intact', async () => {
    const x = param(tensor([1, 2, 3, 4], [2, 2]));
    const g = tensor([1, -1, 0.5, 2], [2, 2]);
    // reshape's backward passes a view of g down: x.grad must not be that view
    tidy(() => backward(reshape(mul(x, x), [2, 2]), g));
    expect(g.disposed).toBe(false);
    raw.fill(g, 0);
    expect(await takeGrad(x)).toEqual([2, -4, 3, 16]);
    g.dispose();
    x.dispose();
  });

  it('inputs that do not require grad get none; gradients flow only to leaves that ask', async () => {
    const a = param(tensor([1, 2]));
    const b = tensor([3, 4]);
    tidy(() => backward(sum(mul(a, b))));
    expect(await takeGrad(a)).toEqual([3, 4]);
    expect(b.grad).toBeNull();
    a.dispose();
    b.dispose();
  });
});

describe('noGrad', () => {
  it('records nothing inside, restores the previous mode after (also on throw, also nested)', () => {
    const x = param(tensor([1, 2]));
    tidy(() => {
      expect(isGradEnabled()).toBe(true);
      const y = noGrad(() => {
        expect(isGradEnabled()).toBe(false);
        const inner = noGrad(() => mul(x, x));
        expect(isGradEnabled()).toBe(false);
        expect(inner.requiresGrad).toBe(false);
        return mul(x, x);
      });
      expect(isGradEnabled()).toBe(true);
      expect(y.requiresGrad).toBe(false);
      expect(y.node).toBeNull();
      expect(() => backward(sum(y))).toThrow(/does not depend on any parameter/);
      expect(() =>
        noGrad(() => {
          throw new Error('boom');
        }),
      ).toThrow('boom');
      expect(isGradEnabled()).toBe(true);
      expect(mul(x, x).requiresGrad).toBe(true);
    });
    x.dispose();
  });
});

describe('backward errors', () => {
  it('names the problem', () => {
    const x = param(tensor([1, 2, 3]));
    tidy(() => {
      expect(() => backward(mul(x, x))).toThrow(FlowGpuError);
      expect(() => backward(mul(x, x))).toThrow(/root has shape \[3\]; pass a gradient or reduce it/);
      expect(() => backward(tensor([1]))).toThrow(/does not depend on any parameter that requires grad/);
      expect(() => backward(mul(x, x), tensor([1, 2]))).toThrow(/gradient \[2\] does not match root \[3\]/);
    });
    // the forward ran in a scope that has ended: its intermediates are gone
    const y = tidy(() => mean(mul(x, x)));
    expect(() => backward(y)).toThrow(/released \(by tidy\(\) or dispose\(\)\) before backward ran/);
    expect(x.grad).toBeNull();
    y.dispose();
    x.dispose();
  });
});

describe('buffer lifetime', () => {
  it('a tidy() forward + backward returns every intermediate buffer', async () => {
    const x = param(tensor([0.5, -1, 2, 3, 1, 0], [3, 2]));
    const w = param(tensor([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]));
    const b = param(tensor([0, 1, 0, 1]));
    const step = () => tidy(() => backward(mean(silu(linear(x, w, b)))));
    step(); // the first step creates the three .grad tensors
    const inUse = gpu().stats.buffersInUse;
    for (let i = 0; i < 5; i++) step();
    expect(gpu().stats.buffersInUse).toBe(inUse);
    // the counter does see a leak: keeping one result per step grows it by one per step
    const leaked = Array.from({ length: 3 }, () => tidy(() => mean(silu(linear(x, w, b)))));
    expect(gpu().stats.buffersInUse).toBe(inUse + 3);
    leaked.forEach((t) => t.dispose());
    expect(gpu().stats.buffersInUse).toBe(inUse);
    for (const t of [x, w, b]) {
      t.grad!.dispose();
      t.dispose();
    }
  });

  it('1000 steps of forward + backward + SGD on an MLP keep the GPU buffer count flat', async () => {
    // Linear(3,16) – SiLU – Linear(16,2), batch 32, MSE to a fixed smooth target, plain SGD:
    // p ← p − lr·∇p with raw.axpby, then ∇p ← 0.
    const rng = new Rng(1234);
    const init = (shape: number[], fanIn: number) => {
      const bound = 1 / Math.sqrt(fanIn);
      return param(tensor(Float32Array.from(rng.array(shape.reduce((a, c) => a * c, 1), () => rng.uniform(-bound, bound))), shape));
    };
    const w1 = init([16, 3], 3);
    const b1 = init([16], 3);
    const w2 = init([2, 16], 16);
    const b2 = init([2], 16);
    const params = [w1, b1, w2, b2];
    const xs = rng.array(32 * 3, () => rng.uniform(-1, 1));
    const ys = new Float32Array(32 * 2);
    for (let i = 0; i < 32; i++) {
      const [a, c, d] = [xs[3 * i], xs[3 * i + 1], xs[3 * i + 2]];
      ys[2 * i] = Math.sin(2 * a) + c * d;
      ys[2 * i + 1] = a - 0.5 * d * d;
    }
    const X = tensor(Float32Array.from(xs), [32, 3]);
    const Y = tensor(ys, [32, 2]);
    const lr = 0.1;
    const stats = gpu().stats;
    poisonOutputs(null); // the op tests cover unwritten outputs; here only lifetimes matter (and it halves the dispatches)
    const inUseBefore = stats.buffersInUse - 6; // X, Y and the 4 parameters exist already

    const losses: number[] = [];
    let liveAfterWarmup = -1;
    let inUseAfterWarmup = -1;
    let maxLive = 0;
    let maxInUse = 0;
    try {
      for (let step = 0; step < 1000; step++) {
        const loss = tidy(() => {
          const l = mseLoss(linear(silu(linear(X, w1, b1)), w2, b2), Y);
          backward(l);
          return l;
        });
        noGrad(() => {
          for (const p of params) {
            raw.axpby(p, p.grad!, -lr, 1);
            raw.fill(p.grad!, 0);
          }
        });
        // read back now and then only (as a training loop would), which also bounds the GPU queue
        if (step % 100 === 0 || step === 999) losses.push(await loss.item());
        loss.dispose();
        if (step === 9) {
          liveAfterWarmup = stats.buffersLive;
          inUseAfterWarmup = stats.buffersInUse;
        } else if (step > 9) {
          maxLive = Math.max(maxLive, stats.buffersLive);
          maxInUse = Math.max(maxInUse, stats.buffersInUse);
        }
      }
      expect(maxLive, 'GPU buffers alive after warm-up').toBe(liveAfterWarmup);
      expect(maxInUse, 'GPU buffers in use after warm-up').toBe(inUseAfterWarmup);
      // X, Y, 4 parameters and their 4 gradients: nothing else survives a step
      expect(stats.buffersInUse - inUseBefore).toBe(10);
      // and the loop really trains: the loss falls well below its start
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[losses.length - 1]).toBeLessThan(0.25 * losses[0]);
    } finally {
      poisonOutputs(NaN);
    }
    for (const p of params) {
      p.grad!.dispose();
      p.dispose();
    }
    X.dispose();
    Y.dispose();
  });
});
