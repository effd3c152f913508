/**
 * The MNIST page: the shipped class-conditional flow and its one-step student, loaded with
 * `io.pretrained(name, { url })` from the site's pretrained/ folder and sampled on the GPU, each
 * row drawn as soon as its chunk lands. `window.mnistDemo` exposes the last images for the browser
 * test (test/browser/demo.mjs), which has them read by flowgpu's MNIST classifier.
 */
import { data, flow, initGpu, io, type Gpu } from 'flowgpu';
import { imageRow } from './draw.js';
import { showDeviceLost, showError, showNoWebGpu, webGpuProblem } from './webgpu.js';

const NFE_CHOICES = [1, 2, 4, 10, 20, 40, 80];
const SIZE = 16;
const SCALE = 3;
const LEFT = 18; // room for the row's digit
const GAP = 1;
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const val = (id: string) => ($(id) as HTMLInputElement | HTMLSelectElement).value;

interface Batch {
  pixels: number[];
  labels: number[];
  ms: number;
  nfe: number;
}

const state = {
  adapter: '',
  ready: false,
  busy: false,
  generation: 0,
  teacher: null as Batch | null,
  student: null as Batch | null,
  errors: [] as string[],
};
(globalThis as unknown as { mnistDemo: unknown }).mnistDemo = { state, generate: () => generateAll() };

let teacher: io.LoadedModel | null = null;
let student: io.LoadedModel | null = null;
let pending = false;

function labelsFor(): Int32Array {
  const d = val('digit');
  return Int32Array.from({ length: 100 }, (_, i) => (d === 'all' ? Math.floor(i / 10) : Number(d)));
}

/** Samples 100 digits from one model and draws them row by row as they arrive. */
async function sampleInto(m: io.LoadedModel, canvasId: string, o: { solver: flow.SolverName; nfe: number; guidance: number; seed: number }): Promise<Batch> {
  const cv = $<HTMLCanvasElement>(canvasId);
  const ctx = cv.getContext('2d')!;
  const cell = SIZE * SCALE + GAP;
  cv.width = LEFT + 10 * cell + GAP;
  cv.height = 10 * cell + GAP;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, cv.width, cv.height);
  ctx.fillStyle = '#777';
  ctx.fillRect(LEFT, 0, cv.width - LEFT, cv.height);
  const labels = labelsFor();
  ctx.fillStyle = '#444';
  ctx.font = '13px system-ui, sans-serif';
  for (let r = 0; r < 10; r++) ctx.fillText(String(labels[r * 10]), 4, GAP + r * cell + cell / 2 + 4);
  const t0 = performance.now();
  const r = await flow.generate(m.net, {
    n: 100, labels, guidance: o.guidance, solver: o.solver, nfe: o.nfe, seed: o.seed, chunk: 10,
    onChunk: (x, at, k) => imageRow(ctx, data.modelToPixels(x), k, SIZE, SCALE, LEFT + GAP, GAP + (at / 10) * cell, GAP),
  });
  const ms = performance.now() - t0;
  return { pixels: Array.from(data.modelToPixels(r.x)), labels: Array.from(labels), ms, nfe: r.nfe };
}

async function generateAll(): Promise<void> {
  if (!teacher || !student) return;
  if (state.busy) {
    pending = true; // one more run with the newest settings when this one ends
    return;
  }
  state.busy = true;
  ($('generate') as HTMLButtonElement).disabled = true;
  try {
    do {
      pending = false;
      const guidance = Number(val('guidance'));
      const nfe = NFE_CHOICES[Number(val('nfe'))];
      const solver = val('solver') as flow.SolverName;
      const seed = Math.max(0, Math.floor(Number(val('seed')) || 0));
      $('teacher-how').textContent = `${solver}, ${nfe} evaluation${nfe > 1 ? 's' : ''}, guidance ${guidance.toFixed(1)}`;
      $('teacher-time').textContent = 'sampling…';
      state.teacher = await sampleInto(teacher, 'cv-teacher', { solver, nfe, guidance, seed });
      $('teacher-time').textContent = `${state.teacher.ms.toFixed(0)} ms for the batch of 100 (${state.teacher.nfe} evaluations${guidance !== 1 ? ' of the guided pair' : ''})`;
      $('student-time').textContent = 'sampling…';
      state.student = await sampleInto(student, 'cv-student', { solver: 'euler', nfe: 1, guidance: 1, seed });
      $('student-time').textContent = `${state.student.ms.toFixed(0)} ms for the batch of 100 (1 evaluation)`;
      state.generation++;
    } while (pending);
  } finally {
    state.busy = false;
    ($('generate') as HTMLButtonElement).disabled = false;
  }
}

function fail(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  state.errors.push(message);
  state.busy = false;
  if (/device (was )?lost|destroyed/i.test(message)) {
    showDeviceLost(message, 'Reload the models', () => location.reload());
  } else {
    showError(message);
  }
}

async function main(): Promise<void> {
  const problem = await webGpuProblem();
  if (problem) {
    showNoWebGpu(problem, [
      { src: 'img/mnist16-cond.png', caption: 'mnist16-cond: one row per digit, midpoint, 40 evaluations, guidance 2' },
      { src: 'img/mnist16-1step.png', caption: 'mnist16-1step: one Euler step' },
    ]);
    return;
  }
  const g: Gpu = await initGpu();
  const i = g.info;
  state.adapter = [i.vendor, i.architecture, i.description].filter(Boolean).join(' ');
  $('adapter').textContent = `GPU: ${state.adapter || 'WebGPU adapter'} · loading the weights…`;
  const base = new URL('pretrained/', location.href);
  [teacher, student] = await Promise.all([
    io.pretrained('mnist16-cond', { url: new URL('mnist16-cond.safetensors', base) }),
    io.pretrained('mnist16-1step', { url: new URL('mnist16-1step.safetensors', base) }),
  ]);
  $('adapter').textContent = `GPU: ${state.adapter || 'WebGPU adapter'}`;
  state.ready = true;
  const show = () => {
    $('guidance-value').textContent = Number(val('guidance')).toFixed(1);
    $('nfe-value').textContent = String(NFE_CHOICES[Number(val('nfe'))]);
  };
  for (const id of ['guidance', 'nfe']) {
    $(id).addEventListener('input', show);
    $(id).addEventListener('change', () => generateAll().catch(fail));
  }
  for (const id of ['digit', 'solver', 'seed']) $(id).addEventListener('change', () => generateAll().catch(fail));
  $('generate').onclick = () => generateAll().catch(fail);
  show();
  await generateAll();
}

main().catch(fail);
