/**
 * The playground's training worker: everything that touches the GPU runs here, so the page stays
 * responsive while a flow trains. It uses flowgpu's public browser entry only (like any embedder):
 * a `train.Trainer` on a toy (or drawn, or data-to-data) data source, trained in short slices
 * (~0.6 s each, cut by an AbortSignal), and after each slice the live views — samples and their
 * quality against fresh data, trajectories, the velocity field at t, the path x_t — are computed
 * and posted. See protocol.ts for the messages.
 */
import { data, flow, full, initGpu, io, metrics, nn, noGrad, tensor, train, type Gpu } from 'flowgpu';
import type { FromWorker, Quality, RunConfig, ToWorker, ViewConfig } from './protocol.js';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

const VIEW_N = 1000; // samples drawn for the views and the quality figure
const TRAJ_N = 160;
const GRID = 21; // velocity-field arrows per side
const EXTENT = 4.5;
const SLICE_MS = 600;
const CHECKPOINT_EVERY = 250;

let gpuRt: Gpu | null = null;
let run: RunConfig | null = null;
let view: ViewConfig | null = null;
let trainer: train.Trainer | null = null;
let reflowed: nn.VelocityNet | null = null;
let running = false;
let loop: Promise<void> | null = null;
let abort: AbortController | null = null;
let lastCheckpointStep = -1;
// every message waits for the GPU, then for the messages before it
let queue: Promise<unknown> = initGpu().then((g) => {
  gpuRt = g;
  const i = g.info;
  post({ type: 'ready', adapter: [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'WebGPU adapter' });
});

/** Host RNG seeds per (seed, step, stream), so a resumed run draws the same batches. */
const seedOf = (seed: number, step: number, stream: number) => (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b) ^ Math.imul(stream, 0xc2b2ae35)) >>> 0;

/** n points of the target: a toy set, or the drawn points with a little jitter (a density, not a point set). */
function drawTarget(cfg: RunConfig, n: number, seed: number): Float32Array {
  if (cfg.target !== 'drawn') return data.sampleToy(cfg.target, n, seed);
  const pts = cfg.drawn;
  const m = pts.length / 2;
  if (m < 1) throw new Error('draw some points on the left canvas first (target: drawn points)');
  const rng = new data.HostRng(seed);
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const k = rng.int(m);
    out[2 * i] = pts[2 * k] + 0.06 * rng.normal();
    out[2 * i + 1] = pts[2 * k + 1] + 0.06 * rng.normal();
  }
  return out;
}

/** n points of the source: N(0, I), or another toy set (a data-to-data flow). */
function drawSource(cfg: RunConfig, n: number, seed: number): Float32Array {
  return cfg.source === 'gaussian' ? flow.hostNormals(n * 2, seed) : data.sampleToy(cfg.source, n, seed);
}

function makeTrainer(cfg: RunConfig, net?: nn.VelocityNet): train.Trainer {
  const model = net ?? nn.buildNet(nn.mlpSpec({ dim: 2, hidden: cfg.hidden, hiddenLayers: cfg.layers }), cfg.seed);
  const gaussian = cfg.source === 'gaussian';
  const source: train.DataSource = {
    batch: (s) => ({
      x1: tensor(drawTarget(cfg, cfg.batch, seedOf(cfg.seed, s, 1)), [cfg.batch, 2]),
      ...(gaussian ? {} : { source: tensor(drawSource(cfg, cfg.batch, seedOf(cfg.seed, s, 2)), [cfg.batch, 2]) }),
    }),
  };
  return new train.Trainer({
    net: model,
    data: source,
    steps: cfg.steps,
    seed: cfg.seed,
    lr: cfg.lr,
    warmup: Math.min(100, Math.floor(cfg.steps / 10)),
    ema: 0,
    scheduler: flow.schedulerByName(cfg.path, { sigmaMin: cfg.sigmaMin }),
    time: flow.timeSamplerByName(cfg.timeSampler),
    coupling: cfg.coupling,
    logEvery: 25,
    checkpointEvery: CHECKPOINT_EVERY,
    // `flowgpu sample` reads dataset, path and sigmaMin from here (the exported model.safetensors)
    config: {
      kind: 'toy', madeBy: 'flowgpu playground', dataset: cfg.target === 'drawn' ? 'drawn points' : cfg.target, path: cfg.path,
      // a data-to-data flow: where `flowgpu sample` draws its start points (the toy set, unstandardised)
      ...(gaussian ? {} : { source: { kind: 'data', file: cfg.source, standardization: { mean: [0, 0], scale: [1, 1] } } }),
      sigmaMin: cfg.sigmaMin, timeSampler: cfg.timeSampler, coupling: cfg.coupling, batch: cfg.batch, steps: cfg.steps, lr: cfg.lr,
      seed: cfg.seed, net: model.spec,
    },
  });
}

let floor: { run: RunConfig; ref: Float32Array; sw2: number; mmd2: number; bandwidths: number[] } | null = null;

/**
 * Sliced W2 and MMD² of the samples against fresh data, beside the same figures between two
 * independent data draws (the floor, computed once per run).
 */
function quality(x: Float32Array, cfg: RunConfig): Quality {
  const n = Math.min(VIEW_N, x.length / 2);
  if (floor?.run !== cfg) {
    const q = metrics.sampleQualityAgainst(drawTarget(cfg, n, 31), (k, seed) => drawTarget(cfg, k, seed), 2, { n });
    floor = { run: cfg, ref: drawTarget(cfg, n, 1_000_003), sw2: q.sw2Floor, mmd2: q.mmd2Floor, bandwidths: q.bandwidths };
  }
  const xs = x.subarray(0, 2 * n);
  return {
    sw2: metrics.slicedWasserstein2(xs, floor.ref, 2),
    sw2Floor: floor.sw2,
    mmd2: metrics.mmdRbf(xs, floor.ref, 2, { bandwidths: floor.bandwidths }),
    mmd2Floor: floor.mmd2,
    n,
  };
}

/** Samples from a net with the view's solver, from fixed source points (the picture changes only as the net does). */
async function sampleWith(net: nn.VelocityNet, cfg: RunConfig, v: Pick<ViewConfig, 'solver' | 'steps'>, x0: Float32Array): Promise<{ x: Float32Array; nfe: number }> {
  const n = x0.length / 2;
  if (v.solver === 'sde') {
    if (cfg.source !== 'gaussian') throw new Error('the SDE sampler needs the Gaussian source (its score comes from the velocity of a noise-to-data path)');
    const xt = tensor(x0, [n, 2]);
    try {
      const r = await flow.sampleSDE(flow.timeAsTensor((x, t) => net.forward(x, t)), xt, {
        steps: v.steps, seed: 7, scheduler: flow.schedulerByName(cfg.path, { sigmaMin: cfg.sigmaMin }),
      });
      const x = await r.x.f32();
      r.x.dispose();
      return { x, nfe: r.nfe };
    } finally {
      xt.dispose();
    }
  }
  const r = await flow.generate(net, {
    n, source: x0, solver: v.solver, ...(v.solver === 'dopri5' ? { rtol: 1e-4, atol: 1e-4 } : { steps: v.steps }),
  });
  return { x: r.x, nfe: r.nfe };
}

async function computeViews(): Promise<void> {
  if (!trainer || !run || !view) return;
  const t0 = performance.now();
  const cfg = run;
  const v = view;
  const net = trainer.net;
  const x0 = drawSource(cfg, VIEW_N, 4242);
  const dataPts = drawTarget(cfg, VIEW_N, 777);
  const { x: samples, nfe } = await sampleWith(net, cfg, v, x0);
  const q = quality(samples, cfg);
  // trajectories: midpoint, 16 steps, from the first source points
  const xs = tensor(x0.subarray(0, TRAJ_N * 2), [TRAJ_N, 2]);
  let trajectories: Float32Array[] = [];
  try {
    const r = await noGrad(() => flow.sample(flow.timeAsTensor((x, t) => net.forward(x, t)), xs, { solver: 'midpoint', steps: 16, returnTrajectory: true }));
    r.x.dispose();
    trajectories = r.trajectory ?? [];
  } finally {
    xs.dispose();
  }
  // the velocity field on a grid at t = fieldT
  const grid = new Float32Array(GRID * GRID * 2);
  for (let i = 0; i < GRID; i++) {
    for (let j = 0; j < GRID; j++) {
      grid[2 * (i * GRID + j)] = -EXTENT + (2 * EXTENT * j) / (GRID - 1);
      grid[2 * (i * GRID + j) + 1] = -EXTENT + (2 * EXTENT * i) / (GRID - 1);
    }
  }
  const g = tensor(grid, [GRID * GRID, 2]);
  const tt = full([GRID * GRID], v.fieldT);
  let vel: Float32Array;
  try {
    const out = noGrad(() => net.forward(g, tt));
    vel = await out.f32();
    out.dispose();
  } finally {
    g.dispose();
    tt.dispose();
  }
  // the probability path: x_t = α_t·x1 + σ_t·x0 for fresh, independent pairs
  const sched = flow.schedulerByName(cfg.path, { sigmaMin: cfg.sigmaMin });
  const a = sched.alpha(v.pathT);
  const s = sched.sigma(v.pathT);
  const p1 = drawTarget(cfg, VIEW_N, 999);
  const p0 = drawSource(cfg, VIEW_N, 998);
  const xt = p1.map((x1, i) => a * x1 + s * p0[i]);
  post({
    type: 'views', step: trainer.step, data: dataPts, source: p0, samples, nfe, quality: q, trajectories,
    field: { grid, v: vel, t: v.fieldT }, xt, ms: performance.now() - t0,
  });
}

function progress(loss: number, stepsPerSecond: number): void {
  if (!trainer) return;
  post({ type: 'progress', step: trainer.step, steps: trainer.steps, loss, stepsPerSecond, running });
}

let viewsAt = 0;
let viewsMs = 0;

async function trainLoop(): Promise<void> {
  while (running && trainer && trainer.step < trainer.steps) {
    const t = trainer;
    abort = new AbortController();
    const timer = setTimeout(() => abort?.abort(), SLICE_MS);
    try {
      await t.run({ signal: abort.signal, onProgress: (p) => progress(p.loss, p.stepsPerSecond) });
    } finally {
      clearTimeout(timer);
    }
    if (t !== trainer) return; // reset meanwhile
    if (t.step - lastCheckpointStep >= CHECKPOINT_EVERY || t.step >= t.steps) {
      lastCheckpointStep = t.step;
      const bytes = await t.checkpoint();
      post({ type: 'checkpoint', step: t.step, bytes }, [bytes.buffer]);
    }
    // the views take a share of the time: at most a quarter of it, and not more than once a second
    const now = performance.now();
    if (t.step >= t.steps || now - viewsAt >= Math.max(1000, 3 * viewsMs)) {
      await computeViews();
      viewsAt = performance.now();
      viewsMs = viewsAt - now;
    }
  }
  running = false;
  const h = trainer?.history.loss;
  progress(h && h.length ? h[h.length - 1] : NaN, 0);
}

function stop(): Promise<void> {
  running = false;
  abort?.abort();
  const l = loop;
  loop = null;
  return l ?? Promise.resolve();
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'reset': {
      await stop();
      trainer?.net.module.dispose();
      trainer = null;
      reflowed?.module.dispose();
      reflowed = null;
      run = m.run;
      view = m.view;
      trainer = makeTrainer(run);
      lastCheckpointStep = -1;
      if (m.checkpoint) {
        trainer.restore(m.checkpoint, 'the last checkpoint');
        lastCheckpointStep = trainer.step;
      }
      progress(NaN, 0);
      await computeViews();
      return;
    }
    case 'start':
      if (!trainer || running || trainer.step >= trainer.steps) return;
      running = true;
      progress(NaN, 0);
      loop = trainLoop().catch(fail);
      return;
    case 'pause':
      await stop();
      return;
    case 'view':
      view = m.view;
      if (!running) await computeViews(); // while training, the next slice draws it
      return;
    case 'reflow':
      await reflow(m.pairs, m.steps);
      return;
    case 'export': {
      const bytes = await trainer!.modelFile();
      post({ type: 'exported', bytes }, [bytes.buffer]);
      return;
    }
    case 'import': {
      await stop();
      const loaded = io.loadModel(m.bytes, { where: m.name });
      if (loaded.net.sampleShape.length !== 1 || loaded.net.sampleShape[0] !== 2 || loaded.net.numClasses) {
        loaded.net.module.dispose();
        throw new Error(`${m.name} is not a 2-D point model (its samples are [${loaded.net.sampleShape.join(', ')}]): the playground takes toy models`);
      }
      const c = loaded.config;
      const spec = loaded.net.spec as { model?: { hidden?: number; hiddenLayers?: number } };
      const guess: Partial<RunConfig> = {
        ...(typeof c.dataset === 'string' && data.isToyName(c.dataset) ? { target: c.dataset } : {}),
        ...(c.path === 'condot' || c.path === 'cosine' || c.path === 'vp' ? { path: c.path } : {}),
        ...(typeof c.sigmaMin === 'number' ? { sigmaMin: c.sigmaMin } : {}),
        ...(spec.model?.hidden ? { hidden: spec.model.hidden } : {}),
        ...(spec.model?.hiddenLayers ? { layers: spec.model.hiddenLayers } : {}),
      };
      trainer?.net.module.dispose();
      run = { ...run!, ...guess, source: 'gaussian' };
      trainer = makeTrainer(run, loaded.net); // fine-tunes from the imported weights on Start
      lastCheckpointStep = -1;
      post({ type: 'imported', run: guess, step: loaded.step ?? 0 });
      await computeViews();
      return;
    }
    case 'lose-device':
      // a test hook: what a driver reset looks like to the page
      (gpuRt as unknown as { device: GPUDevice }).device.destroy();
      return;
  }
}

/** Reflow: pairs from the current model's ODE, a student trained on their straight paths, and one Euler step of each. */
async function reflow(pairsN: number, steps: number): Promise<void> {
  if (!trainer || !run) return;
  const cfg = run;
  if (cfg.source !== 'gaussian') throw new Error('reflow here draws its pairs from N(0, I): pick the Gaussian source');
  const wasRunning = running;
  await stop();
  try {
    const teacher = trainer.net;
    post({ type: 'reflow-progress', phase: `solving the model's ODE for ${pairsN} pairs (rk4, 32 evaluations)`, fraction: 0 });
    const pairs = await train.reflowPairs(teacher, { pairs: pairsN, solver: 'rk4', nfe: 32, seed: cfg.seed + 1 });
    const student = io.loadModel(await trainer.modelFile()).net;
    const rt = train.reflowTrainer(student, pairs, { batch: Math.min(cfg.batch, pairsN), steps, lr: cfg.lr / 3, warmup: 0, ema: 0, seed: cfg.seed + 1, logEvery: 25 });
    await rt.run({ onProgress: (p) => post({ type: 'reflow-progress', phase: `training the straightened flow: step ${p.step}/${p.steps}, loss ${p.loss.toFixed(3)}`, fraction: p.step / p.steps }) });
    const x0 = drawSource(cfg, VIEW_N, 4242);
    const before = (await sampleWith(teacher, cfg, { solver: 'euler', steps: 1 }, x0)).x;
    const after = (await sampleWith(student, cfg, { solver: 'euler', steps: 1 }, x0)).x;
    reflowed?.module.dispose();
    reflowed = student;
    post({ type: 'reflow', before, after, beforeQ: quality(before, cfg), afterQ: quality(after, cfg), pairs: pairsN, steps });
  } finally {
    if (wasRunning && trainer.step < trainer.steps) {
      running = true;
      loop = trainLoop().catch(fail);
    }
  }
}

function fail(e: unknown): void {
  running = false;
  const message = e instanceof Error ? e.message : String(e);
  post({ type: 'error', message, lost: /device (was )?lost|destroyed/i.test(message) });
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  // one message at a time, in order
  queue = queue.then(() => handle(ev.data)).catch(fail);
};

queue = queue.catch(fail);

