/**
 * Kernel benches (mirrors kernels/): matmul at 256…4096 and at the MLP shapes of the toy models
 * (forward with a transposed weight, backward dX, dW with a transposed operand), each matmul
 * variant side by side; memory-bound kernels against a plain buffer copy; each fused kernel against
 * the unfused composition of the same ops (same outputs, more dispatches and memory passes).
 */
import { empty, gpu, raw, tensor, type Tensor } from '../src/internal.js';
import { condOT } from '../src/flow/schedulers.js';
import { drawSourceAndTime, interpolateWithTarget } from '../src/flow/paths.js';
import { odeStep } from '../src/flow/solvers.js';
import { randNormal } from '../src/flow/random.js';
import { AdamW } from '../src/optim/adamw.js';
import { EMA } from '../src/optim/ema.js';
import { VelocityMLP } from '../src/nn/mlp.js';
import { planMatmul, setMatmulVariant, type MatmulVariant } from '../src/tensor/matmul.js';
import { register, type BenchContext, type KernelCase } from './registry.js';

const { matmulRaw, unaryRaw, binaryRaw, reduceRaw, axpby, mseFusedRaw } = raw;

/** A tensor of `n` values in [−1, 1) from a cheap host generator (content does not matter for speed). */
function filled(shape: number[], seed = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return tensor(a, shape);
}

function disposeAll(...ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) t?.dispose();
}

// ------------------------------------------------------------------ matmul

interface MatmulShape {
  m: number;
  k: number;
  n: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  batch?: number;
}

function matmulCase(s: MatmulShape, variant: MatmulVariant | 'auto'): (ctx: BenchContext) => Promise<KernelCase> {
  return async () => {
    const nb = s.batch ?? 1;
    const pre = s.batch ? [nb] : [];
    const a = filled([...pre, ...(s.transA ? [s.k, s.m] : [s.m, s.k])], 1);
    const b = filled([...pre, ...(s.transB ? [s.n, s.k] : [s.k, s.n])], 2);
    const bias = s.bias ? filled([s.n], 3) : undefined;
    setMatmulVariant(variant);
    const plan = planMatmul({ m: s.m, n: s.n, k: s.k, nb, transA: !!s.transA, transB: !!s.transB });
    setMatmulVariant('auto');
    return {
      kind: 'kernel',
      flops: 2 * s.m * s.n * s.k * nb,
      notes: { kernel: plan.variant, ...(plan.variant !== 'general' ? { block: `${plan.rows}x${plan.cols}` } : {}) },
      record() {
        setMatmulVariant(variant);
        try {
          matmulRaw(a, b, { transA: s.transA, transB: s.transB, bias }).dispose();
        } finally {
          setMatmulVariant('auto');
        }
      },
      dispose: () => disposeAll(a, b, bias),
    };
  };
}

const cfgOf = (s: MatmulShape) => ({
  m: s.m,
  k: s.k,
  n: s.n,
  ...(s.transA ? { transA: true } : {}),
  ...(s.transB ? { transB: true } : {}),
  ...(s.bias ? { bias: true } : {}),
  ...(s.batch ? { batch: s.batch } : {}),
});

const label = (s: MatmulShape) => `${s.m}x${s.k}x${s.n}${s.transA ? '.tA' : ''}${s.transB ? '.tB' : ''}${s.bias ? '+bias' : ''}`;

// square sizes: the full suite goes to 4096; --quick stops at 1024
for (const size of [256, 512, 1024, 2048, 4096]) {
  const s = { m: size, k: size, n: size };
  register({ name: `matmul/${label(s)}`, group: 'matmul', config: cfgOf(s), quick: size <= 1024, setup: matmulCase(s, 'auto') });
}
// transposed operands at 1024
for (const s of [{ m: 1024, k: 1024, n: 1024, transA: true }, { m: 1024, k: 1024, n: 1024, transB: true }]) {
  register({ name: `matmul/${label(s)}`, group: 'matmul', config: cfgOf(s), quick: false, setup: matmulCase(s, 'auto') });
}
// the variants side by side (each where it applies on this adapter)
for (const v of ['general', 'tiled', 'sg8'] as const) {
  const s = { m: 1024, k: 1024, n: 1024 };
  register({
    name: `matmul/variant-${v}/${label(s)}`,
    group: 'matmul',
    config: { ...cfgOf(s), variant: v },
    quick: v !== 'tiled',
    unavailable: (ctx) => {
      if (v === 'sg8' && !ctx.g.traits.subgroup8) return 'needs 8-lane subgroups';
      if (v === 'tiled' && ctx.g.traits.cpu && ctx.quick) return 'GPU kernel (slow on a CPU driver; run without --quick)';
      return null;
    },
    setup: matmulCase(s, v),
  });
}
// MLP shapes: toy A (4×512, batch 4096), toy B (3×128, batch 1024), MNIST MLP (784 → 1024 → 784, batch 256)
const mlpShapes: [string, MatmulShape, boolean][] = [
  ['toyA-in-fwd', { m: 4096, k: 3, n: 512, transB: true, bias: true }, true],
  ['toyA-hidden-fwd', { m: 4096, k: 512, n: 512, transB: true, bias: true }, true],
  ['toyA-hidden-dX', { m: 4096, k: 512, n: 512 }, true],
  ['toyA-hidden-dW', { m: 512, k: 4096, n: 512, transA: true }, true],
  ['toyA-out-fwd', { m: 4096, k: 512, n: 2, transB: true, bias: true }, false],
  ['toyB-hidden-fwd', { m: 1024, k: 128, n: 128, transB: true, bias: true }, true],
  ['toyB-hidden-dW', { m: 128, k: 1024, n: 128, transA: true }, false],
  ['mnist-mlp-fwd', { m: 256, k: 785, n: 1024, transB: true, bias: true }, false],
];
for (const [tag, s, quick] of mlpShapes) {
  register({ name: `matmul/${tag}/${label(s)}`, group: 'matmul', config: { ...cfgOf(s), shape: tag }, quick, setup: matmulCase(s, 'auto') });
}

// ------------------------------------------------------------------ memory-bound kernels

const MEM_N = (ctx: BenchContext) => (ctx.quick ? 1 << 22 : 1 << 24); // 16 MiB / 64 MiB of f32

register(
  {
    name: 'memory/copy',
    group: 'memory',
    config: { what: 'copyBufferToBuffer', floats: '4M (quick) / 16M' },
    quick: true,
    async setup(ctx) {
      const n = MEM_N(ctx);
      const x = filled([n]);
      const y = empty([n]);
      return {
        kind: 'kernel',
        bytes: 8 * n,
        record: () => gpu().copy(x.pooled, 0, y.pooled, 0, 4 * n),
        dispose: () => disposeAll(x, y),
      };
    },
  },
);

/**
 * Memory-bound ops on N floats (4M quick, 16M): name, what, part of --quick, operand shapes (of N),
 * bytes moved per float of N, and the op (its result is released at once).
 */
const memoryOps: [string, string, boolean, ((n: number) => number[])[], number, (...xs: Tensor[]) => Tensor][] = [
  ['unary-affine', 'y = a·x + b (elementwise.wgsl unary_forward)', true, [(n) => [n]], 8, (x) => unaryRaw('affine', x, 2, 1)],
  ['unary-silu', 'silu(x)', true, [(n) => [n]], 8, (x) => unaryRaw('silu', x)],
  ['binary-add', 'c = a + b (same shape)', true, [(n) => [n], (n) => [n]], 12, (a, b) => binaryRaw('add', a, b)],
  ['binary-bias-broadcast', 'c = a[N,512] + b[512]', false, [(n) => [n / 512, 512], () => [512]], 8, (a, b) => binaryRaw('add', a, b)],
  ['reduce-sum-all', 'sum of all elements', true, [(n) => [n]], 4, (x) => reduceRaw('sum', x)],
  ['reduce-sum-rows', 'sum over axis 0 of [N/512, 512] (a bias gradient)', false, [(n) => [n / 512, 512]], 4, (x) => reduceRaw('sum', x, 0)],
];
for (const [tag, what, quick, shapes, bytesPerFloat, op] of memoryOps) {
  register({
    name: `memory/${tag}`,
    group: 'memory',
    config: { what, floats: '4M / 16M' },
    quick,
    async setup(ctx) {
      const n = MEM_N(ctx);
      const xs = shapes.map((sh, i) => filled(sh(n), i + 1));
      return { kind: 'kernel', bytes: bytesPerFloat * n, record: () => op(...xs).dispose(), dispose: () => disposeAll(...xs) };
    },
  });
}

// ------------------------------------------------------------------ fused vs unfused

/** Registers a fused kernel and its unfused composition (same outputs) as a pair. */
function pair(
  name: string,
  config: Record<string, unknown>,
  quick: boolean,
  bytes: (ctx: BenchContext) => number,
  make: (ctx: BenchContext) => { fused: () => void; unfused: () => void; dispose: () => void },
): void {
  let shared: { fused: () => void; unfused: () => void; dispose: () => void } | null = null;
  let users = 0;
  const get = (ctx: BenchContext) => {
    shared ??= make(ctx);
    users++;
    return shared;
  };
  const release = () => {
    if (--users === 0) {
      shared?.dispose();
      shared = null;
    }
  };
  for (const fused of [true, false]) {
    register({
      name: `fused/${name}${fused ? '' : '/unfused'}`,
      group: 'fused',
      config: { ...config, fused },
      quick,
      ...(fused ? {} : { baselineOf: `fused/${name}` }),
      async setup(ctx) {
        const s = get(ctx);
        return { kind: 'kernel', bytes: bytes(ctx), record: fused ? s.fused : s.unfused, dispose: release };
      },
    });
  }
}

const ROWS = (ctx: BenchContext) => (ctx.quick ? 4096 : 65536);

pair(
  'mse-loss-and-grad',
  { what: 'loss = mean((p − y)²) and dloss/dp', shape: '[rows, 2], rows 4096 (quick) / 65536' },
  true,
  (ctx) => 12 * ROWS(ctx) * 2,
  (ctx) => {
    const n = ROWS(ctx);
    const p = filled([n, 2], 1);
    const y = filled([n, 2], 2);
    return {
      fused: () => {
        const r = mseFusedRaw(p, y);
        r.loss.dispose();
        r.grad.dispose();
      },
      unfused: () => {
        const d = binaryRaw('sub', p, y);
        const sq = binaryRaw('mul', d, d);
        const s = reduceRaw('sum', sq);
        const loss = unaryRaw('affine', s, 1 / (2 * n), 0);
        const grad = unaryRaw('affine', d, 2 / (2 * n), 0);
        disposeAll(d, sq, s, loss, grad);
      },
      dispose: () => disposeAll(p, y),
    };
  },
);

pair(
  'interpolate-and-target',
  { what: 'draw x0 ~ N(0, I), t ~ U(0, 1); x_t = t·x1 + (1 − t)·x0, u_t = x1 − x0 (CondOT)', shape: '[rows, 2]' },
  true,
  (ctx) => 4 * ROWS(ctx) * (2 + 2 + 2 + 1),
  (ctx) => {
    const n = ROWS(ctx);
    const x1 = filled([n, 2], 1);
    const scheduler = condOT();
    let step = 0;
    return {
      fused: () => {
        const r = interpolateWithTarget(x1, { scheduler, seed: 1, step: ++step });
        disposeAll(r.xt, r.t, r.ut);
      },
      unfused: () => {
        // the same draws (one kernel), then the path written as separate elementwise ops
        const { x0, t } = drawSourceAndTime([n, 2], { seed: 1, step: ++step });
        const tc = t.view([n, 1]);
        const diff = binaryRaw('sub', x1, x0); // u_t
        const scaled = binaryRaw('mul', tc, diff);
        const xt = binaryRaw('add', x0, scaled);
        disposeAll(x0, t, tc, scaled, xt, diff);
      },
      dispose: () => x1.dispose(),
    };
  },
);

pair(
  'adamw-ema',
  { what: 'AdamW step + EMA over all parameters of toy model A (791 042)', params: 791042 },
  true,
  () => 4 * 791042 * (4 + 4), // read p, g, m, v, ema; write p, m, v, ema (g read once)
  () => {
    const model = new VelocityMLP({ dim: 2, hidden: 512, hiddenLayers: 4 }, 1);
    const flat = model.flatten();
    // gradients: any values
    const gsrc = filled([flat.size], 4);
    gpu().copy(gsrc.pooled, 0, flat.grads.pooled, flat.grads.offset * 4, flat.size * 4);
    gsrc.dispose();
    const ema = new EMA(flat, { decay: 0.999 });
    const opt = new AdamW(flat, { lr: 1e-3, weightDecay: 0.01, ema });
    const m = opt.m;
    const v = opt.v;
    const p = flat.params;
    const g = flat.grads;
    const sh = ema.shadow;
    let t = 0;
    return {
      fused: () => opt.step(),
      unfused: () => {
        // torch's AdamW as separate elementwise ops on the same flat buffers
        t++;
        const b1 = 0.9;
        const b2 = 0.999;
        axpby(m, g, 1 - b1, b1); // m = b1·m + (1 − b1)·g
        const g2 = binaryRaw('mul', g, g);
        axpby(v, g2, 1 - b2, b2); // v = b2·v + (1 − b2)·g²
        const sq = unaryRaw('sqrt', v);
        const den = unaryRaw('affine', sq, 1 / Math.sqrt(1 - b2 ** t), 1e-8); // √v̂ + eps
        const upd = binaryRaw('div', m, den);
        axpby(p, upd, -1e-3 / (1 - b1 ** t), 1 - 1e-3 * 0.01); // p = (1 − lr·wd)·p − lr/bc1·m/den
        axpby(sh, p, 1 - 0.999, 0.999); // ema
        disposeAll(g2, sq, den, upd);
      },
      dispose: () => {
        ema.shadow.dispose();
        opt.m.dispose();
        opt.v.dispose();
        model.dispose();
      },
    };
  },
);

for (const solver of ['euler', 'midpoint'] as const) {
  pair(
    `ode-update-${solver}`,
    { what: `${solver} state update(s) with a precomputed velocity (the model is not part of it)`, shape: '[rows, 2]' },
    true,
    (ctx) => 4 * ROWS(ctx) * 2 * (solver === 'euler' ? 3 : 6),
    (ctx) => {
      const n = ROWS(ctx);
      const x = filled([n, 2], 1);
      const k = filled([n, 2], 2);
      const v = () => k.view([n, 2]);
      const h = 0.01;
      return {
        fused: () => {
          const views: Tensor[] = [];
          const out = odeStep(solver, (y) => {
            const kv = v();
            views.push(kv);
            return kv;
          }, x, 0, h);
          disposeAll(out, ...views);
        },
        unfused: () => {
          // x + h·k as two ops per update (the midpoint's half step and full step)
          const hk = unaryRaw('affine', k, solver === 'euler' ? h : h / 2, 0);
          const y = binaryRaw('add', x, hk);
          if (solver === 'midpoint') {
            const hk2 = unaryRaw('affine', k, h, 0);
            const y2 = binaryRaw('add', x, hk2);
            disposeAll(hk2, y2);
          }
          disposeAll(hk, y);
        },
        dispose: () => disposeAll(x, k),
      };
    },
  );
}

/** Normal draws on the GPU (Philox + Box–Muller), as bandwidth: the floor of any sampler. */
register({
  name: 'memory/rand-normal',
  group: 'memory',
  config: { what: 'N(0, 1) fill (Philox4x32-10 + Box–Muller)', floats: '4M / 16M' },
  quick: false,
  async setup(ctx) {
    const n = MEM_N(ctx);
    let step = 0;
    return { kind: 'kernel', bytes: 4 * n, record: () => randNormal([n], { seed: 1, step: ++step }).dispose(), dispose() {} };
  },
});
