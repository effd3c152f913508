/**
 * Exact log-likelihood of a flow (seed 000, P12; DESIGN.md, "Likelihood"). Along a trajectory of
 * dx/dt = v(x, t) the density obeys d(log p_t(x_t))/dt = −div v(x_t, t), so
 *
 *   log q(x1) = log p0(x0) − ∫₀¹ div v(x_t, t) dt,
 *
 * with x0 found by integrating the ODE backwards from x1 at t = 1 to t = 0. We integrate the
 * augmented state z = [x, Δ] ([N, D + 1]) backwards with dz/dt = [v, −div v] from Δ(1) = 0, which
 * gives Δ(0) = ∫₀¹ div v dt, and return log N(x0; 0, I) − Δ(0).
 *
 * The divergence comes from vector–Jacobian products through the autograd tape: for a probe u
 * ([N, D], one per row), one backward pass of v seeded with u gives uᵀ·∂v/∂x per row, and
 * Σ_d u_d·(uᵀ∂v/∂x)_d = uᵀ(∂v/∂x)u.
 *   - exact: u = e_1 … e_D, D backward passes: div v = Σ_i e_iᵀ(∂v/∂x)e_i (low dimension).
 *   - hutchinson: u = ε with E[εεᵀ] = I (Rademacher ±1 or Gaussian), K probes averaged: one
 *     backward pass per probe and an unbiased estimate of div v, hence (the trace enters the
 *     integral linearly) an unbiased estimate of log q(x1) (not of q). As in FFJORD, each probe is
 *     drawn once per solve and held fixed over t, so the adaptive solver sees a smooth field.
 *     Probe j is drawn from the shared generator (src/flow/random.ts) at (seed, step j,
 *     STREAM.hutchinson): `hutchinsonProbes`.
 * Rows are independent (the field acts on each point separately), so one pass serves all N points.
 * The model's parameters are not touched: the backward passes are pruned to the part of the graph
 * that depends on x, and no parameter gradient is accumulated.
 *
 * Also: bits per dimension for images under uniform dequantisation (`bitsPerDim`, `dequantize`).
 */
import { backward, enableGrad, noGrad } from '../autograd/tape.js';
import { FlowGpuError } from '../gpu/errors.js';
import { binaryRaw, broadcastToRaw, concatRaw, kernel, reduceRaw, sliceRaw, unaryRaw } from '../tensor/primitives.js';
import { empty, gpu, keep, run, tensor, tidy, zeros, type Shape, type Tensor } from '../tensor/tensor.js';
import { STREAM } from './random.js';
import { noise, sdeParams } from './sde.js';
import { sample, type SolverName, type VelocityField } from './solvers.js';

/**
 * Options of `logLikelihood`: exact or Hutchinson divergence (probes, distribution, seed), and the
 * backward ODE solver (default rk4, 32 steps).
 */
export interface LikelihoodOptions {
  /** 'exact' (D backward passes per evaluation; the default up to D = 16) or 'hutchinson'. */
  divergence?: 'exact' | 'hutchinson';
  /** Hutchinson: probes averaged per evaluation (default 1). */
  probes?: number;
  /** Hutchinson probe distribution (default Rademacher, the lower-variance choice). */
  probe?: 'rademacher' | 'gaussian';
  /** Seed of the Hutchinson probes. */
  seed?: number;
  /** ODE solver for the backward integration (default rk4). */
  solver?: SolverName;
  /** Fixed-step solvers: steps (default 32). */
  steps?: number;
  /** dopri5 tolerances. */
  rtol?: number;
  atol?: number;
}

/**
 * The output of `logLikelihood`: log q(x1) per point in nats, the points mapped back to the source,
 * and velocity evaluations.
 */
export interface LikelihoodResult {
  /** log q(x1) per point, [N] (nats). */
  logp: Tensor;
  /** The points mapped back to the source, [N, D]. */
  x0: Tensor;
  /** Velocity-field evaluations (each with D or `probes` backward passes). */
  nfe: number;
}

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * Every tensor of v's graph that does not depend on x (parameters, time embeddings, …) is marked
 * as not requiring grad while `fn` runs, so backward neither walks into it nor accumulates into a
 * parameter's `.grad`.
 */
function withGraphPrunedTo<T>(root: Tensor, x: Tensor, fn: () => T): T {
  const depends = new Map<Tensor, boolean>();
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    if (i === 0 && depends.has(t)) {
      stack.pop();
      continue;
    }
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      if (!depends.has(inputs[i])) stack.push([inputs[i], 0]);
    } else {
      stack.pop();
      depends.set(t, t === x || inputs.some((c) => depends.get(c) === true));
    }
  }
  const off: Tensor[] = [];
  for (const [t, d] of depends) {
    if (!d && t.requiresGrad) {
      t.requiresGrad = false;
      off.push(t);
    }
  }
  try {
    return fn();
  } finally {
    for (const t of off) t.requiresGrad = true;
  }
}

/**
 * Σ_k u_kᵀ(∂v/∂x)u_k / K per row, [N, 1], with v = field(x, t) evaluated here; returns v too
 * (detached). Creates its tensors in the caller's scope.
 */
export function divergenceByVjp(field: VelocityField, x: Tensor, t: number, probes: readonly Tensor[]): { v: Tensor; div: Tensor } {
  const n = x.shape[0];
  const leaf = unaryRaw('affine', x, 1, 0);
  leaf.requiresGrad = true;
  const vt = enableGrad(() => field(leaf, t));
  if (vt.size !== x.size) throw new FlowGpuError(`likelihood: the velocity field returned [${vt.shape.join(', ')}] for points [${x.shape.join(', ')}]`);
  let acc: Tensor | null = null;
  if (vt.requiresGrad) {
    withGraphPrunedTo(vt, leaf, () => {
      for (const u of probes) {
        backward(vt, u);
        const g = leaf.grad;
        leaf.grad = null;
        if (!g) continue; // v does not depend on x
        const term = binaryRaw('mul', g, u);
        g.dispose();
        if (acc) {
          const s = binaryRaw('add', acc, term);
          acc.dispose();
          term.dispose();
          acc = s;
        } else acc = term;
      }
    });
  }
  let div: Tensor;
  if (acc) {
    const s = reduceRaw('sum', acc, 1, true);
    div = probes.length === 1 ? s : unaryRaw('affine', s, 1 / probes.length, 0);
  } else div = zeros([n, 1]);
  // Detach v: the solver only needs its values.
  const v = unaryRaw('affine', vt, 1, 0);
  return { v, div };
}

/**
 * The K Hutchinson probes of one solve: probe j has the given shape and is drawn from the shared
 * generator at counter (seed, step j, STREAM.hutchinson); Rademacher ±1 is sign(u − ½) of the
 * uniform randUniform gives there, Gaussian is randNormal's value.
 */
export function hutchinsonProbes(shape: Shape, count: number, probe: 'rademacher' | 'gaussian', seed: number): Tensor[] {
  const kind = probe === 'gaussian' ? 'normal' : 'rademacher';
  return Array.from({ length: count }, (_, j) => noise(shape, kind, { seed, step: j, stream: STREAM.hutchinson }));
}

/**
 * log q(x1) for points x1 [N, D] under the flow of `v` (trained from the source N(0, I) at t = 0
 * to the data at t = 1), by integrating the ODE and the divergence backwards from t = 1 to 0.
 */
export async function logLikelihood(v: VelocityField, x1: Tensor, o: LikelihoodOptions = {}): Promise<LikelihoodResult> {
  if (x1.rank !== 2) throw new FlowGpuError(`logLikelihood: points must be [N, D], got [${x1.shape.join(', ')}]`);
  const [n, d] = x1.shape;
  const mode = o.divergence ?? (d <= 16 ? 'exact' : 'hutchinson');
  const k = mode === 'exact' ? d : (o.probes ?? 1);
  if (!Number.isInteger(k) || k < 1) throw new FlowGpuError(`logLikelihood: probes must be a positive integer, got ${o.probes}`);
  // Probes are fixed for the whole solve.
  const probes: Tensor[] = noGrad(() =>
    keep(
      tidy(() => {
        if (mode === 'exact') {
          return Array.from({ length: d }, (_, i) => {
            const row = new Float32Array(d);
            row[i] = 1;
            return broadcastToRaw(tensor(row, [1, d]), [n, d]);
          });
        }
        if (mode !== 'hutchinson') throw new FlowGpuError(`logLikelihood: divergence must be 'exact' or 'hutchinson', got '${mode as string}'`);
        return hutchinsonProbes([n, d], k, o.probe ?? 'rademacher', o.seed ?? 0);
      }),
    ),
  );
  const augmented: VelocityField = (z, t) => {
    const x = sliceRaw(z, [0, 0], [n, d]);
    const { v: vt, div } = divergenceByVjp(v, x, t, probes);
    return concatRaw([vt, unaryRaw('neg', div)], 1);
  };
  const z1 = noGrad(() => tidy(() => concatRaw([x1, zeros([n, 1])], 1)));
  keep(z1);
  let res;
  try {
    res = await sample(augmented, z1, {
      solver: o.solver ?? 'rk4',
      steps: o.steps ?? 32,
      t0: 1,
      t1: 0,
      rtol: o.rtol,
      atol: o.atol,
    });
  } finally {
    z1.dispose();
    probes.forEach((p) => p.dispose());
  }
  const z0 = res.x;
  const out = noGrad(() =>
    tidy(() => {
      const x0 = sliceRaw(z0, [0, 0], [n, d]);
      const delta = sliceRaw(z0, [0, d], [n, d + 1]).view([n]);
      const sq = reduceRaw('sum', unaryRaw('pow', x0, 2), 1);
      const logp0 = unaryRaw('affine', sq, -0.5, -0.5 * d * LOG_2PI);
      return { logp: binaryRaw('sub', logp0, delta), x0 };
    }),
  );
  z0.dispose();
  keep([out.logp, out.x0]);
  return { logp: out.logp, x0: out.x0, nfe: res.nfe };
}

// ------------------------------------------------------------------ images

/**
 * Bits per dimension of discrete data (pixels with `levels` values k = 0 … L−1) from the mean
 * log-density, in nats, that a flow gives to its dequantised, rescaled version.
 *
 * Uniform dequantisation: y = (k + u)/L with u ~ U[0, 1)^D fills the cube of each k, so
 * P(k) = ∫ p_y over that cube ≥ exp(E_u[log p_y(y)]) · L^(−D) (Jensen), and the model sees
 * z = scale·y + shift, p_y(y) = p_z(z)·scale^D. Hence
 *   bpd = −(log p_z(z) + D·ln(scale) − D·ln L) / (D·ln 2)
 *       = −log p_z(z) / (D·ln 2) − log₂(scale) + log₂(L),
 * an upper bound on the true code length (a model uniform over the cube gives exactly log₂ L).
 */
export function bitsPerDim(logpz: number, dims: number, o: { levels?: number; scale?: number } = {}): number {
  const L = o.levels ?? 256;
  const scale = o.scale ?? 1;
  if (!(dims > 0) || !(L > 1) || !(scale > 0)) throw new FlowGpuError(`bitsPerDim: need dims > 0, levels > 1, scale > 0 (got ${dims}, ${L}, ${scale})`);
  return -logpz / (dims * Math.LN2) - Math.log2(scale) + Math.log2(L);
}

/**
 * Uniform dequantisation on the GPU: pixel values x = k/(L − 1) in [0, 1] become
 * scale·(k + u)/L + shift, u in (0, 1) the value randUniform(x.shape, {seed, step, stream}) gives
 * (stream default STREAM.dequantize; a new step, e.g. per evaluation batch, gives new offsets).
 */
export function dequantize(
  x: Tensor,
  o: { levels?: number; scale?: number; shift?: number; seed?: number; step?: number; stream?: number } = {},
): Tensor {
  const y = empty(x.shape);
  if (x.size === 0) return y;
  run(kernel('sde'), 'dequantize', {
    inputs: { sde_x: x },
    outputs: { sde_y: y },
    params: {
      ...sdeParams(x.size, o.seed ?? 0, o.step ?? 0, o.stream ?? STREAM.dequantize),
      levels: o.levels ?? 256, scale: o.scale ?? 1, shift: o.shift ?? 0,
    },
    workgroups: gpu().grid(Math.ceil(x.size / 4), 256),
    label: 'dequantize',
  });
  return y;
}
