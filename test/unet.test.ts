import { describe, expect, it } from 'vitest';
import { backward, FlowGpuError, mseLoss, mul, noGrad, raw, sum, tensor, tidy } from '../src/internal.js';
import { defaultUNetConfig, UNet, type UNetConfig } from '../src/nn/unet.js';
import { GuidanceLabels, guidedVelocity } from '../src/nn/guidance.js';
import { dropLabelsHost, MnistDataset } from '../src/data/mnist.js';
import { readMnist } from '../src/io/node-mnist.js';
import { HostRng } from '../src/nn/module.js';
import { expectClose, Rng, useGpu } from './helpers.js';

useGpu();

/**
 * Parameter names, shapes and order of the PyTorch module documented in src/nn/unet.ts, written
 * out independently of the TypeScript (the state dict a torch user would get).
 */
function torchStateDict(c: UNetConfig): [string, number[]][] {
  const out: [string, number[]][] = [];
  const b = c.baseChannels;
  const temb = 4 * b;
  const linear = (n: string, i: number, o: number) => out.push([`${n}.weight`, [o, i]], [`${n}.bias`, [o]]);
  const conv = (n: string, i: number, o: number, k: number) => out.push([`${n}.weight`, [o, i, k, k]], [`${n}.bias`, [o]]);
  const gn = (n: string, ch: number) => out.push([`${n}.weight`, [ch]], [`${n}.bias`, [ch]]);
  const res = (n: string, i: number, o: number) => {
    gn(`${n}.norm1`, i);
    conv(`${n}.conv1`, i, o, 3);
    linear(`${n}.emb_proj`, temb, o);
    gn(`${n}.norm2`, o);
    conv(`${n}.conv2`, o, o, 3);
    if (i !== o) conv(`${n}.skip`, i, o, 1);
  };
  linear('time_embed.0', b, temb);
  linear('time_embed.2', temb, temb);
  if (c.numClasses) out.push(['label_emb.weight', [c.numClasses + 1, temb]]);
  conv('conv_in', c.inChannels, b, 3);
  let ch = b;
  const skips: number[] = [];
  const L = c.channelMults.length;
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < c.numResBlocks; j++) {
      res(`down.${i}.res.${j}`, ch, b * c.channelMults[i]);
      ch = b * c.channelMults[i];
      skips.push(ch);
    }
    if (i < L - 1) conv(`down.${i}.downsample`, ch, ch, 3);
  }
  res('mid.0', ch, ch);
  res('mid.1', ch, ch);
  for (let u = 0; u < L; u++) {
    const i = L - 1 - u;
    for (let j = 0; j < c.numResBlocks; j++) {
      res(`up.${u}.res.${j}`, ch + skips.pop()!, b * c.channelMults[i]);
      ch = b * c.channelMults[i];
    }
    if (i > 0) conv(`up.${u}.upsample`, ch, ch, 3);
  }
  gn('norm_out', ch);
  conv('conv_out', ch, c.outChannels, 3);
  return out;
}

const tiny: UNetConfig = {
  inChannels: 1, outChannels: 1, imageSize: 8, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, groups: 4, numClasses: 3,
};

describe('UNet', () => {
  it('has the PyTorch names, shapes and order, and 1–5 M parameters in the MNIST defaults', () => {
    for (const size of [28, 16] as const) {
      const cfg = defaultUNetConfig(size, 10);
      const net = new UNet(cfg);
      const got = net.namedParameters().map(([n, t]) => [n, t.shape] as [string, number[]]);
      expect(got).toEqual(torchStateDict(cfg));
      const count = net.parameterCount();
      expect(count).toBeGreaterThan(1e6);
      expect(count).toBeLessThan(5e6);
      // the config round-trips through JSON
      expect(JSON.parse(JSON.stringify(net.config))).toEqual(cfg);
      net.dispose();
    }
    const unconditional = new UNet({ ...tiny, numClasses: 0 });
    expect(unconditional.namedParameters().map(([n, t]) => [n, t.shape])).toEqual(torchStateDict({ ...tiny, numClasses: 0 }));
    unconditional.dispose();
  });

  it('initialises layers as PyTorch does: conv U(±1/√fan_in), GroupNorm 1/0, Embedding N(0, 1)', async () => {
    const net = new UNet(defaultUNetConfig(28, 10), { seed: 3 });
    const p = new Map(net.namedParameters());
    const conv = await p.get('down.1.res.0.conv1.weight')!.f32(); // fan_in 32·9
    const bound = 1 / Math.sqrt(32 * 9);
    expect(Math.max(...conv.map(Math.abs))).toBeLessThanOrEqual(bound);
    // U(−a, a) has variance a²/3; 18 432 draws: the sample variance is within ±3% (≈ 4σ)
    const v = conv.reduce((s, x) => s + x * x, 0) / conv.length;
    expect(Math.abs(v / (bound * bound / 3) - 1)).toBeLessThan(0.03);
    expect([...(await p.get('mid.0.norm1.weight')!.f32())].every((x) => x === 1)).toBe(true);
    expect([...(await p.get('mid.0.norm1.bias')!.f32())].every((x) => x === 0)).toBe(true);
    const emb = await p.get('label_emb.weight')!.f32(); // 11·128 draws of N(0, 1): variance within ±12% (≈ 4σ)
    expect(Math.abs(emb.reduce((s, x) => s + x * x, 0) / emb.length - 1)).toBeLessThan(0.12);
    net.dispose();
  });

  it('rejects configs whose resolutions do not halve cleanly and inputs of the wrong shape', () => {
    expect(() => new UNet({ ...tiny, imageSize: 10, channelMults: [1, 2, 2] })).toThrow(/does not halve cleanly/);
    expect(() => new UNet({ ...tiny, groups: 3 })).toThrow(FlowGpuError);
    const net = new UNet(tiny);
    tidy(() => {
      expect(() => net.forward(tensor(new Float32Array(2 * 64), [2, 1, 8, 8]), tensor([0.5]))).toThrow(/one time per sample/);
      expect(() => net.forward(tensor(new Float32Array(2 * 81), [2, 1, 9, 9]), tensor([0.5, 0.5]))).toThrow(/input must be/);
    });
    net.dispose();
  });

  it('forward: rows are independent, labels matter, ∅ is the default and any out-of-range label', async () => {
    const net = new UNet(tiny, { seed: 1 });
    const rng = new Rng(5);
    const n = 3;
    const xs = Float32Array.from(rng.array(n * 64));
    const ts = [0.1, 0.5, 0.9];
    const outs = noGrad(() =>
      tidy(() => {
        const x = tensor(xs, [n, 1, 8, 8]);
        const t = tensor(ts);
        return [
          net.forward(x, t, tensor([0, 1, 2], [3], 'i32')),
          net.forward(tensor(xs.subarray(64, 128), [1, 1, 8, 8]), tensor([0.5]), tensor([1], [1], 'i32')),
          net.forward(x, t, tensor([3, 3, 3], [3], 'i32')),
          net.forward(x, t),
          net.forward(x, t, tensor([-1, 7, 3], [3], 'i32')),
        ];
      }),
    );
    const [all, single, nullExplicit, nullDefault, nullOther] = [
      await outs[0].f32(), await outs[1].f32(), await outs[2].f32(), await outs[3].f32(), await outs[4].f32(),
    ];
    outs.forEach((o) => o.dispose());
    expect(all.length).toBe(n * 64);
    expect(all.every(Number.isFinite)).toBe(true);
    // sample 1 alone = row 1 of the batch (GroupNorm is per sample, convolutions per pixel); the
    // per-element sums are the same, so only reordering-free f32 rounding differences could show
    expectClose(single, all.subarray(64, 128), { rtol: 1e-5, atol: 1e-6 }, 'row 1 alone vs in the batch');
    // ∅ three ways: omitted labels, the null index, and any out-of-range label (−1 is flow's default)
    expect([...nullDefault]).toEqual([...nullExplicit]);
    expect([...nullOther]).toEqual([...nullExplicit]);
    let diff = 0;
    for (let i = 0; i < all.length; i++) diff = Math.max(diff, Math.abs(all[i] - nullExplicit[i]));
    expect(diff).toBeGreaterThan(1e-3);
    net.dispose();
  });

  it('backward: the gradient of every parameter matches a directional finite difference', async () => {
    const net = new UNet(tiny, { seed: 2 });
    const flat = net.flatten();
    const rng = new Rng(9);
    const n = 2;
    const x = tensor(Float32Array.from(rng.array(n * 64)), [n, 1, 8, 8]);
    const t = tensor([0.3, 0.7]);
    const lab = tensor([2, 3], [2], 'i32');
    const w = tensor(Float32Array.from(rng.array(n * 64)), [n, 1, 8, 8]);
    const loss = () => sum(mul(net.forward(x, t, lab), w));
    net.zeroGrad();
    tidy(() => backward(loss()));
    const g = await flat.grads.f32();
    // every parameter tensor gets some gradient (nothing is disconnected)
    for (const [name, p] of net.namedParameters()) {
      const at = flat.offsets.get(name)!;
      const part = g.subarray(at, at + p.size);
      const nonzero = name === 'label_emb.weight' ? part.subarray(2 * 32, 4 * 32) : part; // rows 2 and 3 are used
      expect(nonzero.some((v) => v !== 0), `${name} has no gradient`).toBe(true);
    }
    // along a random direction d: ⟨∇L, d⟩ vs (L(θ + εd) − L(θ − εd)) / 2ε, evaluated in f32 on the
    // GPU. L is O(10) with f32 rounding ≈ 1e-5; with ε = 1e-3 the difference quotient carries
    // ≈ 1e-2 of rounding and O(ε²) truncation, against a derivative of O(10–100): 2% is ample,
    // while a missing or wrong gradient path changes the result by far more.
    const d = new Float32Array(flat.size);
    for (let i = 0; i < d.length; i++) d[i] = rng.normal();
    let analytic = 0;
    for (let i = 0; i < d.length; i++) analytic += g[i] * d[i];
    const eps = 1e-3;
    const dt = tensor(d);
    const evalLoss = async () => {
      const l = noGrad(() => tidy(() => loss()));
      const v = await l.item();
      l.dispose();
      return v;
    };
    raw.axpby(flat.params, dt, eps, 1);
    const lp = await evalLoss();
    raw.axpby(flat.params, dt, -2 * eps, 1);
    const lm = await evalLoss();
    raw.axpby(flat.params, dt, eps, 1);
    const numeric = (lp - lm) / (2 * eps);
    expect(Math.abs(analytic)).toBeGreaterThan(1);
    expect(Math.abs(numeric - analytic)).toBeLessThan(0.02 * Math.abs(analytic));
    for (const u of [x, t, lab, w, dt]) u.dispose();
    net.dispose();
  });

  it('a few SGD steps of flow matching on 8 MNIST digits (area-resized to 8×8) reduce the loss', async () => {
    const data = new MnistDataset(readMnist('test'), { size: 8, limit: 8 });
    const cfg: UNetConfig = { ...tiny, numClasses: 10 };
    const net = new UNet(cfg, { seed: 4 });
    const flat = net.flatten();
    // A fixed regression problem: CondOT path x_t = t·x1 + (1 − t)·x0, target u = x1 − x0, with the
    // noise and times drawn once, so the loss is a deterministic function of the weights.
    const rng = new Rng(11);
    const idx = Int32Array.from({ length: 8 }, (_, i) => i);
    const { x: x1, labels } = data.batch(idx);
    const x0 = tensor(Float32Array.from(rng.array(8 * 64)), [8, 1, 8, 8]);
    const tv = Float32Array.from({ length: 8 }, () => rng.uniform(0.05, 0.95));
    const t = tensor(tv);
    const tcol = tensor(tv, [8, 1, 1, 1]);
    const { xt, u } = tidy(() => {
      const one = tensor([1], [1, 1, 1, 1]);
      const xt = raw.binaryRaw('add', raw.binaryRaw('mul', tcol, x1), raw.binaryRaw('mul', raw.binaryRaw('sub', one, tcol), x0));
      return { xt, u: raw.binaryRaw('sub', x1, x0) };
    });
    const losses: number[] = [];
    for (let step = 0; step < 6; step++) {
      net.zeroGrad();
      const l = tidy(() => {
        const loss = mseLoss(net.forward(xt, t, labels), u);
        backward(loss);
        return loss;
      });
      raw.axpby(flat.params, flat.grads, -0.05, 1); // plain SGD, lr 0.05
      losses.push(await l.item());
      l.dispose();
    }
    // The target has variance ≈ 2 per pixel (x1 ∈ [−1, 1] plus unit noise): the initial loss is
    // ≈ 2. Gradient descent with a small enough step decreases a smooth loss at every step; with
    // lr 0.05 it falls 2.08 → 0.85 in 6 steps on llvmpipe (lr 0.1 already oscillates by step 5),
    // so every step must decrease and the total must fall by 40%.
    for (let i = 1; i < losses.length; i++) expect(losses[i], `step ${i}: ${losses.join(', ')}`).toBeLessThan(losses[i - 1]);
    expect(losses[losses.length - 1]).toBeLessThan(0.6 * losses[0]);
    for (const v of [x1, labels, x0, t, tcol, xt, u]) v.dispose();
    net.dispose();
    data.dispose();
  });
});

describe('classifier-free guidance', () => {
  it('guidedVelocity = v(∅) + w·(v(c) − v(∅)), one batched pass', async () => {
    const net = new UNet(tiny, { seed: 6 });
    const rng = new Rng(13);
    const n = 3;
    const xs = Float32Array.from(rng.array(n * 64));
    for (const [w, nullLabel] of [[0, 3], [1, -1], [2.5, -1], [-0.5, 3]]) {
      const lab = new GuidanceLabels([0, 2, 1], nullLabel);
      const [guided, cond, uncond] = noGrad(() =>
        tidy(() => {
          const x = tensor(xs, [n, 1, 8, 8]);
          const t = tensor([0.2, 0.4, 0.6]);
          return [guidedVelocity(net, x, t, lab, w), net.forward(x, t, lab.cond), net.forward(x, t)];
        }),
      );
      const [g, c, u] = [await guided.f32(), await cond.f32(), await uncond.f32()];
      const want = Array.from(c, (cv, i) => u[i] + w * (cv - u[i]));
      // the batched pass computes each row exactly as the separate ones; the combination adds two
      // f32 roundings of values O(1)·|w|
      expectClose(g, want, { rtol: 1e-5, atol: 1e-5 }, `guided velocity, w = ${w}`);
      for (const v of [guided, cond, uncond]) v.dispose();
      lab.dispose();
    }
    net.dispose();
  });

  it('label dropout (host) replaces labels by ∅ with probability p, reproducibly', () => {
    const labels = Int32Array.from({ length: 20000 }, (_, i) => i % 10);
    const a = dropLabelsHost(labels, 0.1, 10, new HostRng(1));
    const b = dropLabelsHost(labels, 0.1, 10, new HostRng(1));
    expect([...a]).toEqual([...b]);
    let dropped = 0;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === 10) dropped++;
      else expect(a[i]).toBe(labels[i]);
    }
    // Binomial(20000, 0.1): σ = √(20000·0.09) ≈ 42; ±5σ
    expect(Math.abs(dropped - 2000)).toBeLessThan(5 * 42);
    expect([...dropLabelsHost(labels.subarray(0, 10), 0, 10, new HostRng(2))]).toEqual([...labels.subarray(0, 10)]);
    expect(dropLabelsHost(labels.subarray(0, 10), 1, 10, new HostRng(2)).every((v) => v === 10)).toBe(true);
    expect(() => new GuidanceLabels([0, 1.5])).toThrow(/not an integer/);
  });
});
