/**
 * The in-page half of `npm run test:browser` (test/browser/run.mjs serves this file and the internal
 * entry bundled for browsers, and calls `window.runFlowgpuTests()`) and of `npm run test:deno`
 * (test/deno/run.mjs runs it under Deno's WebGPU: wgpu and naga). Everything here runs on
 * `navigator.gpu`: each check runs a real op on the GPU, reads the result back, and
 * compares it with a float64 computation in plain JS, with the error bounds of the Node tests
 * (test/core.test.ts, test/ops-loss.test.ts, test/nn.test.ts, test/optim.test.ts), restated next to
 * each check.
 */
import {
  AdamW, VelocityMLP, backward, gpu, initGpu, linearSumAssignment, matmul, mseLoss, noGrad, poisonOutputs, raw, sample, sinkhornPairing,
  softmax, tensor, tidy, timeAsTensor,
} from '/flowgpu/internal.js';

const EPS = 2 ** -24;

/** The seeded generator of test/helpers.ts (mulberry32; normals by Box–Muller), f32-representable. */
class Rng {
  constructor(seed) {
    this.s = seed >>> 0 || 1;
  }
  uniform(lo = 0, hi = 1) {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  normal() {
    const u = 1 - this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
  array(n, gen = () => this.normal()) {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.fround(gen());
    return a;
  }
}

/** Throws unless |got − want| ≤ atol + rtol·|want| everywhere (NaN never passes); names the worst element. */
function expectClose(got, want, { rtol, atol }, what) {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  let worst = -1;
  let excess = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    const bound = atol + rtol * Math.abs(want[i]);
    if (!(err <= bound)) {
      const e = Number.isNaN(err) ? Infinity : err - bound;
      if (worst < 0 || e > excess) [worst, excess] = [i, e];
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} is ${got[worst]}, expected ${want[worst]} (bound ${atol + rtol * Math.abs(want[worst])}, rtol ${rtol}, atol ${atol})`,
    );
  }
}

function refMatmul(a, b, m, k, n) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      c[i * n + j] = s;
    }
  return c;
}

function softmaxRef(x, cols) {
  const y = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += cols) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[o + c]);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[o + c] - m);
    for (let c = 0; c < cols; c++) y[o + c] = Math.exp(x[o + c] - m) / s;
  }
  return y;
}

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

/**
 * float64 forward of torch.nn.Sequential(Linear, SiLU, …, Linear) from a state dict (Map name →
 * {shape, data}), keeping each layer's input and pre-activation for the backward pass.
 */
function mlpForward(sd, input, n) {
  const idx = [...sd.keys()].filter((k) => k.endsWith('.weight')).map((k) => parseInt(k, 10)).sort((a, b) => a - b);
  const last = idx[idx.length - 1];
  const tape = [];
  let h = input;
  for (const i of idx) {
    const W = sd.get(`${i}.weight`);
    const b = sd.get(`${i}.bias`);
    const [out, inn] = W.shape;
    const z = new Float64Array(n * out);
    for (let r = 0; r < n; r++)
      for (let o = 0; o < out; o++) {
        let s = b.data[o];
        for (let k = 0; k < inn; k++) s += W.data[o * inn + k] * h[r * inn + k];
        z[r * out + o] = s;
      }
    tape.push({ i, hIn: h, z, inn, out, silu: i !== last });
    h = i === last ? z : z.map((v) => v * sigmoid(v));
  }
  return { out: h, tape };
}

/** float64 gradients of mean((mlp(input) − y)²) with respect to every weight and bias. */
function mlpMseGrads(sd, input, y, n) {
  const { out, tape } = mlpForward(sd, input, n);
  let loss = 0;
  for (let i = 0; i < out.length; i++) loss += (out[i] - y[i]) ** 2;
  loss /= out.length;
  let g = out.map((v, i) => (2 * (v - y[i])) / out.length);
  const grads = new Map();
  for (let L = tape.length - 1; L >= 0; L--) {
    const { i, hIn, z, inn, out: o, silu } = tape[L];
    const dz = silu ? g.map((v, j) => { const s = sigmoid(z[j]); return v * s * (1 + z[j] * (1 - s)); }) : g;
    const W = sd.get(`${i}.weight`).data;
    const dW = new Float64Array(o * inn);
    const db = new Float64Array(o);
    const dh = new Float64Array(n * inn);
    for (let r = 0; r < n; r++)
      for (let a = 0; a < o; a++) {
        const d = dz[r * o + a];
        db[a] += d;
        for (let k = 0; k < inn; k++) {
          dW[a * inn + k] += d * hIn[r * inn + k];
          dh[r * inn + k] += d * W[a * inn + k];
        }
      }
    grads.set(`${i}.weight`, dW);
    grads.set(`${i}.bias`, db);
    g = dh;
  }
  return { loss, out, grads };
}

/** Rows of [x (n×d), t] as the MLP's raw-time input concat. */
function concatXT(x, t, n, d) {
  const w = d + 1;
  const input = new Float64Array(n * w);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < d; j++) input[r * w + j] = x[r * d + j];
    input[r * w + d] = typeof t === 'number' ? t : t[r];
  }
  return input;
}

const toF64 = (sd) => new Map([...sd].map(([k, v]) => [k, { shape: v.shape, data: Float64Array.from(v.data) }]));

const checks = [
  [
    // every WGSL file through this WebGPU's compiler (Tint in Chromium, naga under Deno): a shader
    // module and a compute pipeline for each entry point, with the default override constants
    'every kernel family compiles: a shader module and a pipeline per entry point',
    async (g) => {
      const dev = g.device;
      const bad = [];
      let families = 0;
      let pipelines = 0;
      for (const [name, code] of Object.entries(raw.kernelSources())) {
        if (/^\s*enable\s+subgroups/m.test(code) && !dev.features.has('subgroups')) continue;
        families++;
        dev.pushErrorScope('validation');
        const module = dev.createShaderModule({ code, label: name });
        for (const m of code.matchAll(/@compute\b[^{]*?\bfn\s+(\w+)\s*\(/g)) {
          dev.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: m[1] }, label: `${name}.${m[1]}` });
          pipelines++;
        }
        const err = await dev.popErrorScope();
        if (err) bad.push(`${name}: ${err.message}`);
      }
      if (bad.length) throw new Error(bad.join('\n'));
      return `${families} families, ${pipelines} pipelines`;
    },
  ],
  [
    'reports the adapter',
    async (g) => {
      const { vendor, device, architecture, description, backend } = g.info;
      if (backend !== 'browser') throw new Error(`backend is '${backend}', expected 'browser' (navigator.gpu)`);
      if (vendor.length + device.length + architecture.length + description.length === 0) throw new Error('the adapter has no vendor, device, architecture or description');
      return `vendor '${vendor}', device '${device}', architecture '${architecture}', description '${description}'`;
    },
  ],
  [
    'Sinkhorn pairing of 64 points finishes and costs within 5% of the exact assignment (float64)',
    async () => {
      const rng = new Rng(9);
      const n = 64;
      const a = rng.array(n * 2, () => rng.normal());
      const b = rng.array(n * 2, () => rng.normal());
      const idx = await tidy(() => sinkhornPairing(tensor(Float32Array.from(a), [n, 2]), tensor(Float32Array.from(b), [n, 2]), { reg: 0.01, iters: 200, pairing: 'argmax' })).data();
      const cost = (i, j) => (a[2 * i] - b[2 * j]) ** 2 + (a[2 * i + 1] - b[2 * j + 1]) ** 2;
      const c = new Float64Array(n * n).map((_, k) => cost(Math.floor(k / n), k % n));
      const exact = linearSumAssignment(c, n).reduce((s, j, i) => s + cost(i, j), 0);
      const got = Array.from(idx).reduce((s, j, i) => s + cost(i, j), 0);
      // argmax pairing is not a permutation (two rows may pick one column), so it can cost a little
      // less than the assignment; measured on SwiftShader: 17.21 vs 17.54 (n = 256: 32.39 vs 33.53, 7 s)
      if (!(got <= 1.05 * exact)) throw new Error(`Sinkhorn pairing costs ${got.toFixed(4)}, the exact assignment ${exact.toFixed(4)}`);
      return `cost ${got.toFixed(4)} vs exact ${exact.toFixed(4)}`;
    },
  ],
  [
    'matmul 65×33 · 33×17 matches float64',
    async () => {
      const rng = new Rng(2);
      const [m, k, n] = [65, 33, 17];
      const a = rng.array(m * k);
      const b = rng.array(k * n);
      const got = await tidy(() => matmul(tensor(Float32Array.from(a), [m, k]), tensor(Float32Array.from(b), [k, n]))).f32();
      // f32 dot products of length k: |err| ≲ k·2⁻²⁴·Σ|a||b| ≈ 1e-7·k·√k for N(0,1) data (test/core.test.ts)
      expectClose(got, refMatmul(a, b, m, k, n), { rtol: 1e-5, atol: 2e-6 * k }, 'matmul');
      return `${m}x${k}x${n}`;
    },
  ],
  [
    'softmax over rows of 33 matches float64 (N(0,1) and ±80 logits)',
    async () => {
      const rng = new Rng(61);
      const [rows, cols] = [9, 33];
      for (const [name, gen] of [['N(0,1)', () => rng.normal()], ['±80', () => rng.uniform(-80, 80)]]) {
        const x = rng.array(rows * cols, gen);
        let R = 0; // the largest |x − rowmax|
        for (let o = 0; o < x.length; o += cols) {
          const row = x.subarray(o, o + cols);
          R = Math.max(R, Math.max(...row) - Math.min(...row));
        }
        const got = await tidy(() => softmax(tensor(Float32Array.from(x), [rows, cols]))).f32();
        // exp(x − m) within 3 + 2R ulp (WGSL), the row sum adds C·EPS, the division 2.5 ulp:
        // rtol (11 + 4R)·EPS + C·EPS; entries below 2⁻¹²⁶ may be flushed to zero (test/ops-loss.test.ts)
        expectClose(got, softmaxRef(x, cols), { rtol: (11 + 4 * R) * EPS + cols * EPS, atol: 2 ** -126 }, `softmax ${name}`);
      }
      return `${rows}x${cols}`;
    },
  ],
  [
    'VelocityMLP forward + backward of an MSE loss, one AdamW step, an Euler sample: all match float64',
    async () => {
      const rng = new Rng(4);
      const [n, d] = [5, 2];
      const net = new VelocityMLP({ dim: d, hidden: 8, hiddenLayers: 2 }, 1);
      const flat = net.flatten();
      const opt = new AdamW(net, { lr: 0.01, weightDecay: 0.01, betas: [0.9, 0.999], eps: 1e-8 });
      try {
        const x = rng.array(n * d);
        const t = rng.array(n, () => rng.uniform());
        const y = rng.array(n * d);
        const sd0 = toF64(await net.stateDict());
        const p0 = Float64Array.from(await flat.params.f32());

        const lossT = tidy(() => {
          const l = mseLoss(net.forward(tensor(Float32Array.from(x), [n, d]), tensor(Float32Array.from(t), [n])), tensor(Float32Array.from(y), [n, d]));
          backward(l);
          return l;
        });
        const loss = await lossT.item();
        lossT.dispose();
        const grads = await flat.grads.f32();
        const ref = mlpMseGrads(sd0, concatXT(x, t, n, d), y, n);
        // forward: each output is good to ≲1e-5 absolute (test/nn.test.ts: f32 dot products of
        // length ≤ 24 with |w| ≤ 1/√in, 10× margin); the loss, a mean of squares of d = out − y, to
        // 2·mean|d|·1e-5 plus its own f32 rounding
        let meanAbsD = 0;
        for (let i = 0; i < ref.out.length; i++) meanAbsD += Math.abs(ref.out[i] - y[i]) / ref.out.length;
        expectClose([loss], [ref.loss], { rtol: 1e-6, atol: 2e-5 * meanAbsD + 1e-7 }, 'loss');
        // gradients: the f32 backward of these small layers is good to ~1e-6 (test/nn.test.ts bound)
        for (const [name, want] of ref.grads) {
          const off = flat.offsets.get(name);
          expectClose(grads.subarray(off, off + want.length), want, { rtol: 1e-4, atol: 1e-5 }, `grad ${name}`);
        }

        opt.step();
        const p1 = await flat.params.f32();
        // torch.optim.AdamW's first step in float64 on the GPU's own gradients (so this isolates the
        // optimiser): p ← p·(1 − lr·wd) − lr/(1−β1)·m / (√v/√(1−β2) + eps). f32 rounding of the
        // update (≤ lr) and of p: 2e-6 absolute and relative (test/optim.test.ts)
        const [lr, wd, b1, b2, eps] = [0.01, 0.01, 0.9, 0.999, 1e-8];
        const want = p0.map((p, i) => {
          const g = grads[i];
          const m = (1 - b1) * g;
          const v = (1 - b2) * g * g;
          return p * (1 - lr * wd) - ((lr / (1 - b1)) * m) / (Math.sqrt(v) / Math.sqrt(1 - b2) + eps);
        });
        expectClose(p1, want, { rtol: 2e-6, atol: 2e-6 }, 'parameters after one AdamW step');
        let moved = 0;
        for (let i = 0; i < p1.length; i++) moved = Math.max(moved, Math.abs(p1[i] - p0[i]));
        if (!(moved > 0.005)) throw new Error(`AdamW step moved no parameter by more than ${moved}`);

        // Euler, 8 steps from t = 0 to 1, of 6 points through the updated network
        const sd1 = toF64(await net.stateDict());
        const pts = 6;
        const steps = 8;
        const x0 = rng.array(pts * d);
        const x0t = tensor(Float32Array.from(x0), [pts, d]);
        const r = await sample(timeAsTensor((xx, tt) => net.forward(xx, tt)), x0t, { solver: 'euler', steps });
        const got = await r.x.f32();
        r.x.dispose();
        x0t.dispose();
        if (r.nfe !== steps) throw new Error(`euler: ${r.nfe} evaluations, expected ${steps}`);
        let xr = Float64Array.from(x0);
        const h = 1 / steps;
        for (let i = 0; i < steps; i++) {
          const v = mlpForward(sd1, concatXT(xr, i * h, pts, d), pts).out;
          xr = xr.map((xi, j) => xi + h * v[j]);
        }
        // each velocity is good to ≲1e-6 (each layer of width ≤ 8 adds ≲1e-6, test/nn.test.ts) and
        // enters with weight h: 8·h·1e-6 = 1e-6, plus the f32 rounding of x (8 steps · 2⁻²⁴ · |x| ≲ 4:
        // 2e-6); differences are carried by the flow's Lipschitz factor e^L over [0, 1] (L ≲ 2 for
        // weights ≤ 1/√in): ≲ 2e-5. Measured on SwiftShader: 2e-7.
        expectClose(got, xr, { rtol: 0, atol: 2e-5 }, 'euler sample');
        return `loss ${loss.toFixed(6)} (float64 ${ref.loss.toFixed(6)}), ${flat.size} flat params, max AdamW move ${moved.toExponential(2)}`;
      } finally {
        opt.dispose();
        net.dispose();
      }
    },
  ],
];

/** Runs every check; never throws. Returns [{ name, ok, detail, ms }]. */
window.runFlowgpuTests = async () => {
  const results = [];
  let g;
  const t0 = performance.now();
  try {
    g = await initGpu();
    poisonOutputs(NaN); // an element a kernel forgot to write shows up as NaN
  } catch (e) {
    return [{ name: 'initGpu() on navigator.gpu', ok: false, detail: String(e && e.stack ? e.stack : e) }];
  }
  results.push({ name: 'initGpu() on navigator.gpu', ok: true, detail: '', ms: performance.now() - t0 });
  for (const [name, fn] of checks) {
    const t0 = performance.now();
    try {
      const detail = await fn(g);
      results.push({ name, ok: true, detail: detail ?? '', ms: performance.now() - t0 });
    } catch (e) {
      results.push({ name, ok: false, detail: String(e && e.stack ? e.stack : e), ms: performance.now() - t0 });
    }
  }
  try {
    await gpu().sync();
  } catch (e) {
    results.push({ name: 'device still healthy at the end', ok: false, detail: String(e) });
  }
  return results;
};
window.flowgpuPageReady = true;
