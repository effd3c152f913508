/**
 * The 2-D playground page: controls, canvases and the training worker (worker.ts). The page itself
 * never touches the GPU; it sends the run's settings to the worker and draws what comes back.
 * `window.playground` exposes the state for the browser test (test/browser/demo.mjs).
 */
import type { FromWorker, Quality, RunConfig, ToWorker, ViewConfig } from './protocol.js';
import { arrows, axes, fmt, fromPx, lossCurve, points, trajectories, view2d } from './draw.js';
import { clearError, showDeviceLost, showError, showNoWebGpu, webGpuProblem } from './webgpu.js';

const STEP_CHOICES = [1, 2, 4, 6, 10, 16, 24, 40];
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const val = (id: string) => ($(id) as HTMLInputElement | HTMLSelectElement).value;

interface PageState {
  adapter: string;
  ready: boolean;
  running: boolean;
  step: number;
  steps: number;
  loss: number;
  stepsPerSecond: number;
  quality: Quality | null;
  viewsStep: number;
  nfe: number;
  reflow: { before: Quality; after: Quality } | null;
  errors: string[];
  lost: boolean;
}

const state: PageState = {
  adapter: '', ready: false, running: false, step: 0, steps: 0, loss: NaN, stepsPerSecond: 0, quality: null, viewsStep: -1, nfe: 0,
  reflow: null, errors: [], lost: false,
};
(globalThis as unknown as { playground: unknown }).playground = { state, send: (m: ToWorker) => send(m) };

let worker: Worker | null = null;
let drawn: number[] = [];
const lossSteps: number[] = [];
const lossValues: number[] = [];
let lastCheckpoint: { step: number; bytes: Uint8Array; run: RunConfig } | null = null;
let lastViews: Extract<FromWorker, { type: 'views' }> | null = null;
let lastProgressAt = 0;

/** A run whose steps stop coming says why it may be stuck instead of looking frozen. */
function watchdog(): void {
  setInterval(() => {
    if (!state.running || performance.now() - lastProgressAt < 30_000) return;
    lastProgressAt = performance.now();
    showError(
      `no training step finished in 30 s. ${val('coupling') === 'sinkhorn' ? 'The Sinkhorn coupling iterates on the GPU every step and can take very long on a software adapter (seen on SwiftShader): try exact OT or independent. ' : ''}` +
        'A smaller batch or width is faster; Pause stops after the current step.',
    );
  }, 5000);
}

function runConfig(): RunConfig {
  return {
    target: val('target'),
    source: val('source'),
    drawn: [...drawn],
    path: val('path') as RunConfig['path'],
    sigmaMin: Math.max(0, Math.min(0.5, Number(val('sigma-min')) || 0)),
    timeSampler: val('time-sampler') as RunConfig['timeSampler'],
    coupling: val('coupling') as RunConfig['coupling'],
    hidden: Number(val('hidden')),
    layers: Number(val('layers')),
    batch: Number(val('batch')),
    lr: Number(val('lr')),
    steps: Math.max(50, Math.min(100000, Math.round(Number(val('steps')) || 2000))),
    seed: 0,
  };
}

function viewConfig(): ViewConfig {
  return {
    solver: val('solver') as ViewConfig['solver'],
    steps: STEP_CHOICES[Number(val('solver-steps'))],
    fieldT: Number(val('field-t')),
    pathT: Number(val('path-t')),
  };
}

function send(m: ToWorker, transfer: Transferable[] = []): void {
  worker?.postMessage(m, transfer);
}

/** A new run with the current settings (any change of them resets, as in the TensorFlow Playground). */
function reset(startAfter = state.running): void {
  clearError();
  lossSteps.length = 0;
  lossValues.length = 0;
  state.quality = null;
  state.viewsStep = -1;
  lastCheckpoint = null;
  send({ type: 'reset', run: runConfig(), view: viewConfig() });
  if (startAfter) send({ type: 'start' });
  drawLoss();
}

function startWorker(restore?: { step: number; bytes: Uint8Array; run: RunConfig }): void {
  worker?.terminate();
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (ev: MessageEvent<FromWorker>) => onMessage(ev.data);
  worker.onerror = (ev) => {
    state.errors.push(ev.message);
    showError(`the training worker failed: ${ev.message}`);
  };
  if (restore) {
    state.viewsStep = -1;
    send({ type: 'reset', run: restore.run, view: viewConfig(), checkpoint: restore.bytes });
    state.step = restore.step;
  }
}

function onMessage(m: FromWorker): void {
  switch (m.type) {
    case 'ready':
      state.ready = true;
      state.adapter = m.adapter;
      $('adapter').textContent = `GPU: ${m.adapter}`;
      for (const id of ['start', 'reset', 'export', 'reflow']) ($(id) as HTMLButtonElement).disabled = false;
      if (!state.lost) reset(false);
      state.lost = false;
      return;
    case 'progress':
      lastProgressAt = performance.now();
      state.running = m.running;
      state.step = m.step;
      state.steps = m.steps;
      if (Number.isFinite(m.loss)) {
        state.loss = m.loss;
        lossSteps.push(m.step);
        lossValues.push(m.loss);
      }
      if (m.stepsPerSecond > 0) state.stepsPerSecond = m.stepsPerSecond;
      $('step').textContent = String(m.step);
      $('steps-total').textContent = String(m.steps);
      $('loss').textContent = Number.isFinite(state.loss) ? state.loss.toFixed(4) : '–';
      $('sps').textContent = state.stepsPerSecond > 0 ? state.stepsPerSecond.toFixed(0) : '–';
      $('start').textContent = m.running ? 'Pause' : m.step >= m.steps ? 'Done' : m.step > 0 ? 'Resume' : 'Start';
      ($('start') as HTMLButtonElement).disabled = !m.running && m.step >= m.steps;
      drawLoss();
      return;
    case 'views':
      lastViews = m;
      state.quality = m.quality;
      state.viewsStep = m.step;
      state.nfe = m.nfe;
      drawViews();
      return;
    case 'checkpoint':
      lastCheckpoint = { step: m.step, bytes: m.bytes, run: runConfig() };
      return;
    case 'reflow-progress':
      $('reflow-status').textContent = m.phase;
      return;
    case 'reflow': {
      state.reflow = { before: m.beforeQ, after: m.afterQ };
      $('reflow-status').textContent = `done: ${m.pairs} pairs, ${m.steps} steps`;
      ($('reflow') as HTMLButtonElement).disabled = false;
      scatterInto('cv-before', m.before);
      scatterInto('cv-after', m.after);
      $('before-q').textContent = `sliced W₂ ${fmt(m.beforeQ.sw2)}`;
      $('after-q').textContent = `sliced W₂ ${fmt(m.afterQ.sw2)} (floor ${fmt(m.afterQ.sw2Floor)})`;
      return;
    }
    case 'exported': {
      const url = URL.createObjectURL(new Blob([m.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = 'model.safetensors';
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      return;
    }
    case 'imported':
      for (const [k, v] of Object.entries(m.run)) {
        const id = { target: 'target', path: 'path', sigmaMin: 'sigma-min', hidden: 'hidden', layers: 'layers' }[k];
        if (id) ($(id) as HTMLInputElement).value = String(v);
      }
      ($('source') as HTMLSelectElement).value = 'gaussian';
      gaussianOnly();
      $('reflow-status').textContent = `imported a model trained for ${m.step} steps: Start fine-tunes it`;
      return;
    case 'error':
      state.errors.push(m.message);
      ($('reflow') as HTMLButtonElement).disabled = false;
      if (m.lost) {
        state.lost = true;
        state.running = false;
        const from = lastCheckpoint;
        showDeviceLost(m.message, from ? `Restart from step ${from.step}` : 'Restart', () => startWorker(from ?? undefined));
      } else {
        showError(m.message);
      }
      return;
  }
}

function scatterInto(id: string, x: Float32Array): void {
  const v = view2d($<HTMLCanvasElement>(id));
  axes(v);
  if (lastViews) points(v, lastViews.data, '#ccc', 2);
  points(v, x, '#1f6feb', 2);
}

function drawViews(): void {
  const m = lastViews;
  const q = state.quality;
  if (q) {
    $('sw2').textContent = fmt(q.sw2);
    $('sw2floor').textContent = `(floor ${fmt(q.sw2Floor)})`;
    $('mmd').textContent = fmt(q.mmd2);
    $('mmdfloor').textContent = `(floor ${fmt(q.mmd2Floor)})`;
  }
  $('nfe').textContent = m ? String(m.nfe) : '–';
  // samples beside the data (and the drawn points)
  const vs = view2d($<HTMLCanvasElement>('cv-samples'));
  axes(vs);
  if (m) {
    points(vs, m.data, '#9aa1a9', 2.5);
    points(vs, m.samples, 'rgba(31, 111, 235, 0.8)', 2.5);
  }
  if (val('target') === 'drawn') points(vs, drawn, '#d1242f', 4);
  if (!m) return;
  const vt = view2d($<HTMLCanvasElement>('cv-traj'));
  axes(vt);
  trajectories(vt, m.trajectories, '#1f6feb');
  const vf = view2d($<HTMLCanvasElement>('cv-field'));
  axes(vf);
  points(vf, m.data, '#e4e4e4', 2);
  arrows(vf, m.field.grid, m.field.v, (2 * 4.5) / 20, '#8250df');
  const vp = view2d($<HTMLCanvasElement>('cv-path'));
  axes(vp);
  points(vp, m.xt, '#1a7f37', 2);
}

function drawLoss(): void {
  const v = view2d($<HTMLCanvasElement>('cv-loss'));
  lossCurve(v, lossSteps, lossValues, '#d1242f');
}

/** The SDE sampler and reflow need the Gaussian source: off for data-to-data flows. */
function gaussianOnly(): void {
  const gaussian = val('source') === 'gaussian';
  const sde = document.querySelector<HTMLOptionElement>('#solver option[value=sde]')!;
  sde.disabled = !gaussian;
  if (!gaussian && val('solver') === 'sde') ($('solver') as HTMLSelectElement).value = 'midpoint';
  const r = $('reflow') as HTMLButtonElement;
  r.disabled = !gaussian || !state.ready;
  r.title = gaussian ? '' : 'reflow draws its pairs from N(0, I): pick the Gaussian source';
}

function wire(): void {
  for (const id of ['target', 'source', 'path', 'sigma-min', 'time-sampler', 'coupling', 'hidden', 'layers', 'batch', 'lr', 'steps']) {
    $(id).addEventListener('change', () => {
      gaussianOnly();
      $('draw-hint').hidden = val('target') !== 'drawn';
      if (val('target') === 'drawn' && drawn.length === 0) {
        send({ type: 'pause' });
        drawViews();
        return; // wait for points
      }
      reset();
    });
  }
  const onView = () => {
    $('solver-steps-value').textContent = val('solver') === 'dopri5' ? 'adaptive' : String(STEP_CHOICES[Number(val('solver-steps'))]);
    $('field-t-value').textContent = Number(val('field-t')).toFixed(2);
    $('path-t-value').textContent = Number(val('path-t')).toFixed(2);
    send({ type: 'view', view: viewConfig() });
  };
  for (const id of ['solver', 'solver-steps', 'field-t', 'path-t']) $(id).addEventListener('input', onView);
  $('start').onclick = () => send({ type: state.running ? 'pause' : 'start' });
  $('reset').onclick = () => reset(false);
  $('export').onclick = () => send({ type: 'export' });
  $('reflow').onclick = () => {
    ($('reflow') as HTMLButtonElement).disabled = true;
    $('reflow-status').textContent = 'starting…';
    send({ type: 'reflow', pairs: 2000, steps: 400 });
  };
  ($('import') as HTMLInputElement).onchange = async (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (!f) return;
    const bytes = new Uint8Array(await f.arrayBuffer());
    send({ type: 'import', bytes, name: f.name }, [bytes.buffer]);
  };
  $('clear-drawn').onclick = () => {
    drawn = [];
    drawViews();
  };
  // drawing points: drag on the samples canvas to spray
  const cv = $<HTMLCanvasElement>('cv-samples');
  let down = false;
  const spray = (ev: PointerEvent) => {
    if (val('target') !== 'drawn') return;
    const r = cv.getBoundingClientRect();
    const [x, y] = fromPx({ w: r.width, h: r.height }, ev.clientX - r.left, ev.clientY - r.top);
    drawn.push(x, y);
    drawViews();
  };
  cv.addEventListener('pointerdown', (ev) => {
    down = true;
    spray(ev);
  });
  cv.addEventListener('pointermove', (ev) => down && spray(ev));
  const up = () => {
    if (!down) return;
    down = false;
    if (val('target') === 'drawn' && drawn.length >= 2) reset();
  };
  cv.addEventListener('pointerup', up);
  cv.addEventListener('pointerleave', up);
  window.addEventListener('resize', () => {
    drawViews();
    drawLoss();
  });
}

async function main(): Promise<void> {
  const problem = await webGpuProblem();
  if (problem) {
    showNoWebGpu(problem, [
      { src: 'img/checkerboard-samples.png', caption: 'checkerboard: data and samples of a trained flow' },
      { src: 'img/checkerboard-trajectories.png', caption: 'trajectories from noise to the checkerboard' },
    ]);
    return;
  }
  wire();
  watchdog();
  drawLoss();
  drawViews();
  startWorker();
}

main().catch((e) => showError(String(e)));
