/**
 * nn/: Linear's PyTorch-default initialisation and names, the velocity MLP against a float64
 * forward built from its read-back weights, its state-dict names against torch.nn.Sequential's,
 * the sinusoidal time embedding against float64 (forward) and finite differences (backward), the
 * learned Embedding table, and flat-buffer plumbing (flatten, bindFlat, loadStateDict).
 */
import { describe, expect, it } from 'vitest';
import {
  gpu, HostRng, Linear, Module, PARAM_ALIGN, SinusoidalEmbedding, VelocityMLP, backward, mul, noGrad, sinusoidalFrequencies, sum, tensor, tidy,
  type Tensor, type VelocityMLPConfig,
} from '../src/internal.js';
import { checkOp, expectClose, Rng, useGpu } from './helpers.js';
import { Embedding } from '../src/nn/embedding.js';
import { sinusoidalRef } from './reference.js';

useGpu();

/** float64 forward of the MLP from its state dict: Sequential(Linear, SiLU, …, Linear) on the concat. */
function refMlp(
  sd: Map<string, { shape: number[]; data: ArrayLike<number> }>,
  input: Float64Array,
  n: number,
  width: number,
): Float64Array {
  let h = input;
  let w = width;
  const idx = [...sd.keys()].filter((k) => k.endsWith('.weight')).map((k) => parseInt(k, 10));
  const last = Math.max(...idx);
  for (const i of idx) {
    const W = sd.get(`${i}.weight`)!;
    const b = sd.get(`${i}.bias`)!;
    const [out, inn] = W.shape;
    expect(inn).toBe(w);
    const y = new Float64Array(n * out);
    for (let r = 0; r < n; r++)
      for (let o = 0; o < out; o++) {
        let s = b.data[o];
        for (let k = 0; k < inn; k++) s += W.data[o * inn + k] * h[r * inn + k];
        y[r * out + o] = i === last ? s : s / (1 + Math.exp(-s)); // SiLU after every Linear but the last
      }
    h = y;
    w = out;
  }
  return h;
}

async function readAll(t: Tensor): Promise<Float32Array> {
  return t.f32();
}

describe('Linear', () => {
  it('uses PyTorch names, layouts and default init U(−1/√in, 1/√in)', async () => {
    const inF = 50;
    const outF = 40;
    const lin = new Linear(inF, outF, { rng: new HostRng(3) });
    expect(lin.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([
      ['weight', [outF, inF]],
      ['bias', [outF]],
    ]);
    const bound = 1 / Math.sqrt(inF);
    const w = await readAll(lin.weight);
    const b = await readAll(lin.bias!);
    for (const v of [...w, ...b]) expect(Math.abs(v)).toBeLessThanOrEqual(bound);
    // Uniformity: Kolmogorov–Smirnov statistic of the 2000 weights against U(−bound, bound).
    // The 1% critical value is 1.63/√n ≈ 0.036; a normal or a wrong bound would exceed it.
    const sorted = Float64Array.from(w).sort();
    let ks = 0;
    sorted.forEach((v, i) => {
      const F = (v + bound) / (2 * bound);
      ks = Math.max(ks, Math.abs(F - i / sorted.length), Math.abs(F - (i + 1) / sorted.length));
    });
    expect(ks).toBeLessThan(1.63 / Math.sqrt(sorted.length));
    // and the bias spans its range too (not e.g. zeros): its max |b| should be near the bound
    expect(Math.max(...b.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    const nob = new Linear(4, 3, { bias: false });
    expect(nob.namedParameters().map(([n]) => n)).toEqual(['weight']);
    lin.dispose();
    nob.dispose();
  });
});

describe('VelocityMLP', () => {
  it("names its parameters as torch.nn.Sequential(Linear, SiLU, …, Linear) does", () => {
    const net = new VelocityMLP({ dim: 2, hidden: 16, hiddenLayers: 3 });
    expect(net.namedParameters().map(([n, t]) => `${n}:${t.shape.join('x')}`)).toEqual([
      '0.weight:16x3', '0.bias:16',
      '2.weight:16x16', '2.bias:16',
      '4.weight:16x16', '4.bias:16',
      '6.weight:2x16', '6.bias:2',
    ]);
    net.dispose();
    // MNIST 16×16, class-conditional: Linear(256 + 1 + 10, H) … Linear(H, 256)
    const img = new VelocityMLP({ dim: 256, hidden: 32, hiddenLayers: 2, condDim: 10 });
    expect(img.namedParameters().map(([n, t]) => `${n}:${t.shape.join('x')}`)).toEqual([
      '0.weight:32x267', '0.bias:32', '2.weight:32x32', '2.bias:32', '4.weight:256x32', '4.bias:256',
    ]);
    img.dispose();
  });

  it('the reference toy network has 791 042 parameters (DESIGN.md)', () => {
    const net = new VelocityMLP({ dim: 2, hidden: 512, hiddenLayers: 4 });
    expect(net.parameterCount()).toBe(791042);
    net.dispose();
  });

  const cases: { name: string; cfg: Partial<VelocityMLPConfig> & { dim: number; hidden: number; hiddenLayers: number }; tShape: 'n' | 'n1' | 'one'; cond?: 'f32' | 'i32' }[] = [
    { name: 'raw t [N]', cfg: { dim: 2, hidden: 24, hiddenLayers: 3 }, tShape: 'n' },
    { name: 'raw t [N,1], outDim ≠ dim', cfg: { dim: 3, outDim: 2, hidden: 20, hiddenLayers: 1 }, tShape: 'n1' },
    { name: 'one t for all rows', cfg: { dim: 2, hidden: 16, hiddenLayers: 2 }, tShape: 'one' },
    { name: 'sinusoidal t (odd width)', cfg: { dim: 2, hidden: 16, hiddenLayers: 2, timeEmbedding: 'sinusoidal', timeDim: 9, timeScale: 10 }, tShape: 'n' },
    { name: 'cond f32', cfg: { dim: 4, hidden: 16, hiddenLayers: 2, condDim: 3 }, tShape: 'n', cond: 'f32' },
    { name: 'cond i32 labels (−1 = null → zero row)', cfg: { dim: 4, hidden: 16, hiddenLayers: 2, condDim: 5 }, tShape: 'n', cond: 'i32' },
  ];
  for (const c of cases) {
    it(`forward matches a float64 Sequential on the concat: ${c.name}`, async () => {
      const rng = new Rng(11);
      const net = new VelocityMLP(c.cfg, 5);
      net.flatten();
      const cfg = net.config;
      const n = 37;
      const x = rng.array(n * cfg.dim);
      const t = rng.array(c.tShape === 'one' ? 1 : n, () => rng.uniform());
      const labels = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? -1 : rng.int(0, cfg.condDim - 1)));
      const condF = rng.array(n * cfg.condDim);
      const got = await tidy(() => {
        const xt = tensor(Float32Array.from(x), [n, cfg.dim]);
        const tt = tensor(Float32Array.from(t), c.tShape === 'n1' ? [n, 1] : c.tShape === 'one' ? [] : [n]);
        const ct = c.cond === 'i32' ? tensor(labels, [n], 'i32') : c.cond === 'f32' ? tensor(Float32Array.from(condF), [n, cfg.condDim]) : undefined;
        return noGrad(() => net.forward(xt, tt, ct));
      }).f32();
      // with gradients recorded the activations run as separate ops (the backward needs the
      // pre-activations); without, they are fused into the matmul stores: both must match float64
      const g = gpu();
      const d0 = g.stats.dispatches;
      const training = await tidy(() => {
        const xt = tensor(Float32Array.from(x), [n, cfg.dim]);
        const tt = tensor(Float32Array.from(t), c.tShape === 'n1' ? [n, 1] : c.tShape === 'one' ? [] : [n]);
        const ct = c.cond === 'i32' ? tensor(labels, [n], 'i32') : c.cond === 'f32' ? tensor(Float32Array.from(condF), [n, cfg.condDim]) : undefined;
        const d1 = g.stats.dispatches;
        const y = net.forward(xt, tt, ct);
        expect(y.requiresGrad).toBe(true);
        const d2 = g.stats.dispatches;
        noGrad(() => net.forward(xt, tt, ct)).dispose();
        expect(g.stats.dispatches - d2, 'at least one dispatch fewer per hidden activation when sampling').toBeLessThanOrEqual(d2 - d1 - cfg.hiddenLayers);
        return y;
      }).f32();
      expect(d0).toBeLessThan(g.stats.dispatches);
      const sd = await net.stateDict();
      // the concat the PyTorch Sequential sees
      const width = net.inWidth;
      const input = new Float64Array(n * width);
      const temb = cfg.timeEmbedding === 'raw' ? null : sinusoidalRef(c.tShape === 'one' ? new Array(n).fill(t[0]) : t, cfg.timeDim, cfg.timeScale, cfg.maxPeriod);
      for (let r = 0; r < n; r++) {
        let k = r * width;
        for (let j = 0; j < cfg.dim; j++) input[k++] = x[r * cfg.dim + j];
        if (temb) for (let j = 0; j < cfg.timeDim; j++) input[k++] = temb[r * cfg.timeDim + j];
        else input[k++] = t[c.tShape === 'one' ? 0 : r];
        for (let j = 0; j < cfg.condDim; j++) input[k++] = c.cond === 'i32' ? (labels[r] === j ? 1 : 0) : condF[r * cfg.condDim + j];
      }
      const want = refMlp(sd, input, n, width);
      expect(got.length).toBe(n * cfg.outDim);
      // f32 dot products of length ≤ 24 with |w| ≤ 1/√in and |h| ≲ 3: each layer adds ≲ 1e-6;
      // 1e-5 absolute leaves a 10× margin over 4 layers.
      expectClose(got, want, { rtol: 1e-5, atol: 1e-5 }, `mlp ${c.name}`);
      expectClose(training, want, { rtol: 1e-5, atol: 1e-5 }, `mlp ${c.name} (recording gradients)`);
      net.dispose();
    });
  }

  it('backward reaches every parameter and matches finite differences of the float64 forward', async () => {
    // d(Σ w⊙v)/dθ by the tape vs central differences of refMlp, on a few weights of each layer.
    const rng = new Rng(4);
    const net = new VelocityMLP({ dim: 2, hidden: 8, hiddenLayers: 2 }, 1);
    const flat = net.flatten();
    const n = 5;
    const x = rng.array(n * 2);
    const t = rng.array(n, () => rng.uniform());
    const wOut = rng.array(n * 2);
    tidy(() => {
      const v = net.forward(tensor(Float32Array.from(x), [n, 2]), tensor(Float32Array.from(t), [n]));
      backward(sum(mul(v, tensor(Float32Array.from(wOut), [n, 2]))));
    });
    const grads = await flat.grads.f32();
    // float64 copies of the weights, so that +-h perturbs them exactly
    const sd = new Map([...(await net.stateDict())].map(([k, v]) => [k, { shape: v.shape, data: Float64Array.from(v.data) }]));
    const input = new Float64Array(n * 3);
    for (let r = 0; r < n; r++) input.set([x[2 * r], x[2 * r + 1], t[r]], 3 * r);
    const loss = (s: typeof sd) => refMlp(s, input, n, 3).reduce((acc, v, i) => acc + v * wOut[i], 0);
    for (const [name, { data }] of sd) {
      const off = flat.offsets.get(name)!;
      for (const i of [0, data.length - 1, Math.floor(data.length / 2)]) {
        const h = 1e-4;
        const orig = data[i];
        data[i] = orig + h;
        const lp = loss(sd);
        data[i] = orig - h;
        const lm = loss(sd);
        data[i] = orig;
        const fd = (lp - lm) / (2 * h);
        // central differences in float64: truncation O(h^2 |L'''|) < 1e-7; the f32 backward of these
        // small layers is good to ~1e-6
        expect(Math.abs(grads[off + i] - fd), `${name}[${i}]: ${grads[off + i]} vs ${fd}`).toBeLessThan(1e-5 + 1e-4 * Math.abs(fd));
      }
    }
    net.dispose();
  });

  it('rebuilds from its JSON config with identical names and, for the same seed, weights', async () => {
    const a = new VelocityMLP({ dim: 2, hidden: 8, hiddenLayers: 2, timeEmbedding: 'sinusoidal', timeDim: 6 }, 9);
    const cfg = JSON.parse(JSON.stringify(a.config)) as VelocityMLPConfig;
    expect(cfg).toEqual({
      kind: 'mlp', dim: 2, outDim: 2, hidden: 8, hiddenLayers: 2, timeEmbedding: 'sinusoidal', timeDim: 6,
      timeScale: 1000, maxPeriod: 10000, condDim: 0, activation: 'silu',
    });
    const b = VelocityMLP.fromConfig(cfg, 9);
    const sa = await a.stateDict();
    const sb = await b.stateDict();
    expect([...sb.keys()]).toEqual([...sa.keys()]);
    for (const [k, v] of sa) expect([...sb.get(k)!.data]).toEqual([...v.data]);
    const c = VelocityMLP.fromConfig(cfg, 10);
    expect([...(await c.stateDict()).get('0.weight')!.data]).not.toEqual([...sa.get('0.weight')!.data]);
    for (const m of [a, b, c]) m.dispose();
  });

  it('rejects inputs of the wrong shape with a message naming the expected one', () => {
    const net = new VelocityMLP({ dim: 2, hidden: 4, hiddenLayers: 1 });
    tidy(() => {
      expect(() => net.forward(tensor([1, 2, 3], [1, 3]), tensor([0.5]))).toThrow(/x must be \[N, 2\]/);
      expect(() => net.forward(tensor([1, 2, 3, 4], [2, 2]), tensor([0.1, 0.2, 0.3]))).toThrow(/t must be/);
      expect(() => net.forward(tensor([1, 2], [1, 2]), tensor([0.5]), tensor([1], [1, 1]))).toThrow(/unconditional/);
    });
    expect(() => new VelocityMLP({ dim: 2, hidden: 0, hiddenLayers: 1 })).toThrow(/positive integers/);
    net.dispose();
  });
});

describe('SinusoidalEmbedding', () => {
  it('matches float64 for t in [0, 1] at scale 1000, even and odd widths', async () => {
    const rng = new Rng(21);
    for (const dim of [8, 7, 64]) {
      const scale = 1000;
      const maxPeriod = 10000;
      const t = rng.array(40, () => rng.uniform());
      t[0] = 0;
      t[1] = 1;
      const emb = new SinusoidalEmbedding(dim, { scale, maxPeriod });
      const got = await tidy(() => emb.forward(tensor(Float32Array.from(t), [t.length]))).f32();
      const want = sinusoidalRef(t, dim, scale, maxPeriod);
      const half = Math.floor(dim / 2);
      for (let r = 0; r < t.length; r++)
        for (let j = 0; j < dim; j++) {
          const i = j % half;
          const a = scale * t[r] * Math.exp((-Math.log(maxPeriod) * i) / half); // radians
          // the f32 product t·freq (freq rounded once) is off by ≤ 2⁻²³ of itself: ≈1.2e-7·|a|
          // radians, doubled for margin; plus sin/cos of a reduced argument in [−π, π] (≲ 2e-6).
          const bound = j >= 2 * half ? 0 : 2.5e-7 * Math.abs(a) + 2e-6;
          const err = Math.abs(got[r * dim + j] - want[r * dim + j]);
          if (!(err <= bound)) throw new Error(`dim ${dim} t=${t[r]} column ${j}: ${got[r * dim + j]} vs ${want[r * dim + j]} (err ${err} > ${bound})`);
        }
      emb.dispose();
    }
  });

  it('frequencies are scale·maxPeriod^(−i/half)/(2π)', () => {
    const f = sinusoidalFrequencies(6, 1000, 10000);
    expect(f.length).toBe(3);
    expect(f[0]).toBeCloseTo(1000 / (2 * Math.PI), 10);
    expect(f[2]).toBeCloseTo((1000 * 10000 ** (-2 / 3)) / (2 * Math.PI), 10);
  });

  it('is differentiable in t (finite differences of the float64 reference)', async () => {
    const rng = new Rng(5);
    const dim = 6;
    const scale = 10;
    const emb = new SinusoidalEmbedding(dim, { scale, maxPeriod: 100 });
    await checkOp({
      name: 'sinusoidal embedding',
      inputs: [{ shape: [12], data: rng.array(12, () => rng.uniform()) }],
      gpu: (t) => emb.forward(t),
      ref: (t) => sinusoidalRef(t, dim, scale, 100),
      // |a| ≤ 10 rad: forward error ≲ 2.5e-6; the derivative carries a factor scale·ω ≤ 10
      tol: { rtol: 1e-5, atol: 5e-6 },
      gradTol: { rtol: 1e-4, atol: 1e-4 },
    });
    emb.dispose();
  });
});

describe('Embedding', () => {
  it('the Embedding module looks rows up by i32 index', async () => {
    const e = new Embedding(4, 3, { rng: new HostRng(1) });
    const table = await e.weight.f32();
    const y = tidy(() => e.forward(tensor([3, 0, 3], [3], 'i32')));
    expect([...(await y.f32())]).toEqual([...table.subarray(9, 12), ...table.subarray(0, 3), ...table.subarray(9, 12)]);
    y.dispose();
    e.dispose();
  });
});

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

describe('Module flat buffers', () => {
  it('flatten keeps values, aligns each parameter to PARAM_ALIGN and zeroes the padding', async () => {
    const bag = new Bag([[3, 5], [70], [1]], new HostRng(1));
    const before = await bag.stateDict();
    const flat = bag.flatten();
    expect([...flat.offsets.entries()]).toEqual([['p0', 0], ['p1', PARAM_ALIGN], ['p2', 3 * PARAM_ALIGN]]);
    expect(flat.size).toBe(4 * PARAM_ALIGN);
    const all = await flat.params.f32();
    for (const [n, { data }] of before) {
      const off = flat.offsets.get(n)!;
      expect([...all.slice(off, off + data.length)]).toEqual([...data]);
    }
    for (const i of [15, 63, 134, 191, 193, 255]) expect(all[i]).toBe(0);
    expect(bag.flatten()).toBe(flat); // idempotent
    bag.dispose();
  });

  it('loadStateDict writes through the flat views; bindFlat shares a buffer without copying', async () => {
    const a = new VelocityMLP({ dim: 2, hidden: 8, hiddenLayers: 2 }, 1);
    const b = new VelocityMLP({ dim: 2, hidden: 8, hiddenLayers: 2 }, 2);
    const fa = a.flatten();
    b.flatten();
    const sa = await a.stateDict();
    b.loadStateDict(new Map([...sa].map(([k, v]) => [k, v.data])));
    const sb = await b.stateDict();
    for (const [k, v] of sa) expect([...sb.get(k)!.data]).toEqual([...v.data]);
    expect(() => b.loadStateDict({ '0.weight': sa.get('0.weight')!.data })).toThrow(/missing/);
    // bindFlat: c computes with a's buffer; a later change to a's weights shows in c
    const c = new VelocityMLP({ dim: 2, hidden: 8, hiddenLayers: 2 }, 3);
    c.bindFlat(fa.params);
    const x = tensor([0.3, -0.2, 1.1, 0.4], [2, 2]);
    const t = tensor([0.1, 0.9]);
    const va = await tidy(() => noGrad(() => a.forward(x, t))).f32();
    const vc = await tidy(() => noGrad(() => c.forward(x, t))).f32();
    expect([...vc]).toEqual([...va]);
    const w2 = sa.get('4.bias')!.data.map((v) => v + 1);
    a.loadStateDict({ '4.bias': w2 }, false);
    const vc2 = await tidy(() => noGrad(() => c.forward(x, t))).f32();
    expectClose(vc2, [...va].map((v) => v + 1), { rtol: 1e-6, atol: 1e-6 }, 'bound module sees the new bias');
    c.dispose(); // leaves a's buffer alive
    const va2 = await tidy(() => noGrad(() => a.forward(x, t))).f32();
    expect([...va2]).toEqual([...vc2]);
    x.dispose();
    t.dispose();
    a.dispose();
    b.dispose();
  });
});
