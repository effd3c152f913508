/**
 * Matmul kernel selection. `matmulRaw` (primitives.ts) checks shapes and allocates; this module
 * decides which kernel computes C and dispatches it:
 *
 * - `sg8` (kernels/matmul_subgroup.wgsl): adapters whose subgroups are exactly 8 lanes and that run
 *   on the CPU — Mesa's lavapipe, what CI and machines without a GPU get. About 5× the general
 *   kernel there (the variant log in kernels/matmul.wgsl says why).
 * - `tiled` (matmul.wgsl, matmul_tiled): hardware GPUs, 128×128 tiles, 8×8 per thread.
 * - `skinny` (matmul.wgsl, matmul_skinny): CPU drivers, products with many outputs that sg8 cannot
 *   take (a toy MLP's 3-wide input layer, its 2-wide output layer and that layer's dX; MNIST's
 *   267-wide input layer, whose rows are not vec4-aligned): an 8×4 register block per thread,
 *   1.7–3× the general kernel.
 * - `small` (matmul.wgsl, matmul_small): CPU drivers, skinny products with few outputs and a long K
 *   (the weight gradients of those layers): one output per thread, so enough threads to fill the cores.
 * - `general` (matmul.wgsl, matmul): anything, bounds-checked; also fills the edge strips the two
 *   aligned kernels leave when M or N is not a multiple of their tile.
 *
 * The aligned kernels are used only where they pay: sg8's pipelines take seconds to compile on a
 * CPU driver, so products below 2²² multiply-adds (tests) stay on the general kernel; skinny ones
 * (a side ≤ 16) go to `skinny` or `small` on CPU drivers whatever their size.
 * `setMatmulVariant` forces a variant (the bench compares them; tests check each against float64).
 */
import matmulSrc from '../../kernels/matmul.wgsl';
import matmulSubgroupSrc from '../../kernels/matmul_subgroup.wgsl';
import type { Gpu } from '../gpu/runtime.js';
import { FlowGpuError } from '../gpu/errors.js';
import { ACT, withOpCodes, type Activation } from './opcodes.js';
import { gpu, run, type Tensor } from './tensor.js';

const MATMUL = { name: 'matmul', code: withOpCodes('matmul', matmulSrc) };
const MATMUL_SUBGROUP = { name: 'matmul_subgroup', code: withOpCodes('matmul_subgroup', matmulSubgroupSrc) };
/** The matmul families' sources (for `kernelSources`). */
export const MATMUL_FAMILIES = [MATMUL, MATMUL_SUBGROUP];

export type MatmulVariant = 'general' | 'small' | 'skinny' | 'tiled' | 'sg8';

export interface MatmulDims {
  m: number;
  n: number;
  k: number;
  /** Batch count (workgroup z). */
  nb: number;
  transA: boolean;
  transB: boolean;
}

export interface MatmulPlan {
  variant: MatmulVariant;
  /** The block [0, rows) × [0, cols) the aligned kernel computes; the general kernel does the rest. */
  rows: number;
  cols: number;
  /** sg8 only: vec4 column groups per lane (1 or 2). */
  p4: number;
}

let forced: MatmulVariant | null = null;

/** Forces a variant where it applies (falls back to `general` where it cannot); `auto` restores the choice. */
export function setMatmulVariant(v: MatmulVariant | 'auto'): void {
  forced = v === 'auto' ? null : v;
}

/**
 * Products below this many multiply-adds (all batches) stay on the general kernel unless a variant is forced (the
 * aligned kernels' pipelines take seconds to compile on a CPU driver; tests use small products).
 * 2²² lets a batch-64 MLP's 256×512 layers use sg8: 3–5× the general kernel there.
 */
const MIN_WORK = 1 << 22;

function aligned(d: MatmulDims): boolean {
  // vec4 rows for every operand as stored, and whole 8-deep K steps.
  return d.k % 8 === 0 && d.n % 4 === 0 && (!d.transA || d.m % 4 === 0);
}

/** `skinny` needs this many 8×4 blocks (threads); skinny products with fewer go to `small`. */
const SKINNY_MIN_BLOCKS = 512;

/** A side this short makes the tiled kernels mostly padding. */
const SKINNY = 16;

export function planMatmul(d: MatmulDims, g: Gpu = gpu()): MatmulPlan {
  const general: MatmulPlan = { variant: 'general', rows: 0, cols: 0, p4: 0 };
  const tr = g.traits;
  const skinny = Math.min(d.m, d.n, d.k) <= SKINNY;
  // 8×4 blocks only pay with enough of them to keep every core busy
  const manyBlocks = Math.ceil(d.m / 8) * Math.ceil(d.n / 4) * d.nb >= SKINNY_MIN_BLOCKS;
  let want: MatmulVariant | null = forced;
  if (!want && tr.cpu) {
    if (skinny) want = manyBlocks ? 'skinny' : 'small';
    else if (d.m * d.n * d.k * d.nb < MIN_WORK) want = 'general';
    // sg8 needs vec4-aligned rows (a 267-wide input layer is not); skinny beats general there
    else want = tr.subgroup8 && aligned(d) ? 'sg8' : manyBlocks ? 'skinny' : 'general';
  }
  want ??= d.m * d.n * d.k * d.nb < MIN_WORK ? 'general' : 'tiled';
  if (want === 'small' || want === 'skinny') return { variant: want, rows: 0, cols: 0, p4: 0 };
  if (want === 'general' || !aligned(d)) return general;
  if (want === 'sg8') {
    if (!tr.subgroup8) return general;
    const p4 = d.n % 64 === 0 ? 2 : 1;
    const rows = d.m - (d.m % 32);
    const cols = d.n - (d.n % (32 * p4));
    if (rows === 0 || cols === 0) return general;
    return { variant: 'sg8', rows, cols, p4 };
  }
  const rows = d.m - (d.m % 128);
  const cols = d.n - (d.n % 128);
  if (rows === 0 || cols === 0) return general;
  return { variant: 'tiled', rows, cols, p4: 0 };
}

export interface MatmulCall extends MatmulDims {
  a: Tensor;
  b: Tensor;
  c: Tensor;
  bias?: Tensor;
  act: Activation;
  /** Per-batch element offsets (0 broadcasts an operand). */
  sa: number;
  sb: number;
  sc: number;
}

function checkGroups(g: Gpu, wg: [number, number, number], what: string): void {
  const maxWg = g.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  if (wg.some((x) => x > maxWg)) throw new FlowGpuError(`matmul: ${what} needs ${wg.join('×')} workgroups, more than ${maxWg} per dimension`);
}

/** Dispatches C = op(A)·op(B) (+ bias)(act) with the planned kernel(s). */
export function dispatchMatmul(call: MatmulCall): MatmulPlan {
  const g = gpu();
  const plan = planMatmul(call, g);
  const overrides = {
    TRANS_A: call.transA ? 1 : 0,
    TRANS_B: call.transB ? 1 : 0,
    HAS_BIAS: call.bias ? 1 : 0,
    ACT: ACT[call.act],
  };
  const inputs = { a: call.a, b: call.b, bias: call.bias ?? call.a };
  const outputs = { c: call.c };
  const base = { m: call.m, n: call.n, k: call.k, sa: call.sa, sb: call.sb, sc: call.sc };
  const general = (row0: number, col0: number, rows: number, cols: number) => {
    if (rows <= 0 || cols <= 0) return;
    const wg: [number, number, number] = [Math.ceil(cols / 64), Math.ceil(rows / 64), call.nb];
    checkGroups(g, wg, `${call.m}×${call.n}×batch ${call.nb}`);
    run(g.family(MATMUL), 'matmul', {
      inputs, outputs, params: { ...base, row0, col0 }, overrides, workgroups: wg, label: 'matmul',
    });
  };
  if (plan.variant === 'general') {
    general(0, 0, call.m, call.n);
    return plan;
  }
  if (plan.variant === 'small' || plan.variant === 'skinny') {
    const threads = plan.variant === 'small' ? call.m * call.n : Math.ceil(call.m / 8) * Math.ceil(call.n / 4);
    const [x, y] = g.grid(threads, 64);
    checkGroups(g, [x, y, call.nb], `${call.m}×${call.n}×batch ${call.nb}`);
    run(g.family(MATMUL), `matmul_${plan.variant}`, {
      inputs, outputs, params: { ...base, row0: 0, col0: 0 }, overrides, workgroups: [x, y, call.nb], label: `matmul.${plan.variant}`,
    });
    return plan;
  }
  if (plan.variant === 'sg8') {
    const wg: [number, number, number] = [plan.cols / (32 * plan.p4), plan.rows / 32, call.nb];
    checkGroups(g, wg, `${call.m}×${call.n}×batch ${call.nb}`);
    run(g.family(MATMUL_SUBGROUP), 'matmul_sg8', {
      inputs, outputs, params: { ...base, row0: 0, col0: 0 }, overrides: { ...overrides, P4: plan.p4 }, workgroups: wg,
      label: 'matmul.sg8',
    });
  } else {
    const wg: [number, number, number] = [plan.cols / 128, plan.rows / 128, call.nb];
    checkGroups(g, wg, `${call.m}×${call.n}×batch ${call.nb}`);
    run(g.family(MATMUL), 'matmul_tiled', {
      // the tiled entry point binds the same buffers through their vec4 views
      inputs: { a4: inputs.a, b4: inputs.b, bias4: inputs.bias },
      outputs: { c4: call.c },
      params: { ...base, row0: 0, col0: 0 }, overrides, workgroups: wg, label: 'matmul.tiled',
    });
  }
  general(plan.rows, 0, call.m - plan.rows, call.n); // bottom strip, full width
  general(0, plan.cols, plan.rows, call.n - plan.cols); // right strip beside the block
  return plan;
}
