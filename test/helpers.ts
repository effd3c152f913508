/**
 * Test helpers shared by every suite.
 *
 * - `useGpu()` acquires the one device all test files share (tests fail, never skip, when no adapter
 *   exists: the error says how to install the software Vulkan driver) and poisons op outputs with
 *   NaN so an element a kernel forgot to write shows up.
 * - `Rng`: seeded float64 generator for inputs.
 * - `checkOp`: runs an op on the GPU against a CPU float64 reference, then checks its backward
 *   against central finite differences of that reference (in float64), for a random upstream
 *   gradient. Error bounds are relative to the scale of the values involved:
 *   |gpu − ref| ≤ atol + rtol·|ref|.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { backward, initGpu, poisonOutputs, sum, mul, tensor, tidy, type Gpu, type Tensor } from '../src/internal.js';

let gpuPromise: Promise<Gpu> | null = null;

export function useGpu(): { gpu: () => Gpu } {
  let g: Gpu | null = null;
  beforeAll(async () => {
    gpuPromise ??= initGpu();
    g = await gpuPromise;
    poisonOutputs(NaN);
  });
  afterAll(async () => {
    await g?.sync();
  });
  return { gpu: () => g! };
}

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  uniform(lo = 0, hi = 1): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  normal(): number {
    const u = 1 - this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }
  /** f32-representable values (so the CPU reference sees exactly what the GPU sees). */
  array(n: number, gen: () => number = () => this.normal()): Float64Array {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.fround(gen());
    return a;
  }
  shape(rank: number, lo = 1, hi = 9): number[] {
    return Array.from({ length: rank }, () => this.int(lo, hi));
  }
}

export const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: { rtol: number; atol: number },
  what = 'values',
): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    const err = Math.abs(g - w);
    const bound = tol.atol + tol.rtol * Math.abs(w);
    if (!(err <= bound) && (worst < 0 || err - bound > worstExcess || Number.isNaN(err))) {
      worst = i;
      worstExcess = Number.isNaN(err) ? Infinity : err - bound;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} is ${got[worst]}, expected ${want[worst]} ` +
        `(|err| ${Math.abs(got[worst] - want[worst]).toExponential(3)} > atol ${tol.atol} + rtol ${tol.rtol}·|ref|)`,
    );
  }
}

export interface OpCase {
  name: string;
  /** Input shapes and values (f32-representable). */
  inputs: { shape: number[]; data: Float64Array; grad?: boolean }[];
  /** The GPU op on tensors. */
  gpu: (...xs: Tensor[]) => Tensor;
  /** The CPU float64 reference: flat inputs → flat output. */
  ref: (...xs: Float64Array[]) => Float64Array;
  tol: { rtol: number; atol: number };
  /** Tolerance for gradients (defaults to 10× the forward one). */
  gradTol?: { rtol: number; atol: number };
  /** Finite-difference step (relative). */
  h?: number;
  skipGrad?: boolean;
  /** Finite differences are taken at this many random elements per input (all when fewer); every
   *  other gradient element is still required to be finite, which catches unwritten (NaN) ones. */
  fdSamples?: number;
}

function pickIndices(n: number, k: number, rng: Rng): number[] {
  if (n <= k) return [...Array(n).keys()];
  const set = new Set<number>([0, n - 1]);
  while (set.size < k) set.add(rng.int(0, n - 1));
  return [...set].sort((a, b) => a - b);
}

/** Forward against the float64 reference, backward against float64 central differences. */
export async function checkOp(c: OpCase, rng = new Rng(7)): Promise<void> {
  const wantOut = c.ref(...c.inputs.map((i) => i.data));
  // upstream gradient w: L = Σ w ⊙ out. Forward and backward run in one tidy() scope, as in a
  // training step: a composite op's intermediates (mean's sum, cross-entropy's log-softmax) are
  // released when the scope ends, so backward cannot run after it.
  const w = c.skipGrad ? new Float64Array(0) : rng.array(wantOut.length);
  let backwardError: unknown = null;
  const { out, grads } = tidy(() => {
    const xs = c.inputs.map((i) => {
      const t = tensor(Float32Array.from(i.data), i.shape);
      t.requiresGrad = !c.skipGrad && i.grad !== false;
      return t;
    });
    const y = c.gpu(...xs);
    if (!c.skipGrad) {
      try {
        backward(sum(mul(y, tensor(Float32Array.from(w), y.shape))));
      } catch (e) {
        backwardError = e; // reported after the forward comparison
      }
    }
    return { out: y, grads: xs };
  });
  const got = await out.data();
  expectClose(got, wantOut, c.tol, `${c.name} forward`);
  if (backwardError) throw backwardError;
  if (c.skipGrad) {
    out.dispose();
    grads.forEach((t) => t.dispose());
    return;
  }
  const gt = c.gradTol ?? { rtol: c.tol.rtol * 10, atol: c.tol.atol * 10 };
  for (let k = 0; k < c.inputs.length; k++) {
    if (c.inputs[k].grad === false) continue;
    const x = c.inputs[k].data;
    const fd = new Float64Array(x.length);
    // L(x+) − L(x−) summed as Σ w·(o+ − o−): outputs that do not depend on x[i] cancel exactly,
    // so the difference carries only the float64 noise of the outputs that do (taking L(x+) − L(x−)
    // of two full sums instead costs Σ|w·o|·2⁻⁵²/h, which swamps small gradient elements).
    const dL = (xp: Float64Array[], xm: Float64Array[]) => {
      const op = c.ref(...xp);
      const om = c.ref(...xm);
      let s = 0;
      for (let i = 0; i < op.length; i++) s += w[i] * (op[i] - om[i]);
      return s;
    };
    const picks = pickIndices(x.length, c.fdSamples ?? 48, rng);
    for (const i of picks) {
      const h = (c.h ?? 1e-6) * Math.max(1, Math.abs(x[i]));
      const xp = Float64Array.from(x);
      const xm = Float64Array.from(x);
      xp[i] += h;
      xm[i] -= h;
      const argsP = c.inputs.map((inp, j) => (j === k ? xp : inp.data));
      const argsM = c.inputs.map((inp, j) => (j === k ? xm : inp.data));
      fd[i] = dL(argsP, argsM) / (2 * h);
    }
    const g = grads[k].grad;
    expect(g, `${c.name}: input ${k} got no gradient`).toBeTruthy();
    const gd = await g!.data();
    const bad = gd.findIndex((v) => !Number.isFinite(v));
    expect(bad, `${c.name}: gradient of input ${k} has a non-finite element at ${bad}`).toBe(-1);
    expectClose(picks.map((i) => gd[i]), picks.map((i) => fd[i]), gt, `${c.name} gradient of input ${k}`);
    g!.dispose();
    grads[k].grad = null;
  }
  out.dispose();
  grads.forEach((t) => t.dispose());
}
