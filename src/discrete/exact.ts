/**
 * The exact posterior p_{1|t}(x_1^i | x_t) of a known pmf q over [K]^d under the mixture path, as a
 * model on the GPU (a composition of ops, for small K^d): the reference the samplers and the ELBO are
 * tested and calibrated against. With S = K^d sequences s (s_i its tokens),
 *
 *   w(s | x_t) = q(s)·Π_j [κ·δ(x_t^j = s_j) + (1 − κ)·p0(x_t^j)],   p(x_1^i = k | x_t) ∝ Σ_{s: s_i = k} w(s | x_t)
 *
 * (p0 = δ(mask) or 1/K). Returned as logits = log Σ w (log p up to a constant per token; −∞ where p = 0).
 */
import { add, concat, log, matmul, mul, pow, reshape, slice, affine } from '../autograd/ops.js';
import { FlowGpuError } from '../gpu/errors.js';
import { oneHot } from '../tensor/primitives.js';
import { keep, tensor, type Tensor } from '../tensor/tensor.js';
import { vocabulary, type TokenSpace } from './kernels.js';
import type { DiscreteModel } from './sample.js';

/** A model giving the exact posterior of `pmf` ([K^d], index Σ s_i·K^(d−1−i)); dispose it when done. */
export function exactPosteriorModel(pmf: ArrayLike<number>, length: number, s: TokenSpace): DiscreteModel & { dispose(): void } {
  const k = s.categories;
  const v = vocabulary(s);
  const states = k ** length;
  if (pmf.length !== states) throw new FlowGpuError(`exact posterior: the pmf has ${pmf.length} entries, K^d = ${states}`);
  // per token j: A_j [V, S] = δ(v = s_j); P0 [V, S] = p0(v); E_j [S, K] = δ(s_j = k)
  const a: Tensor[] = [];
  const e: Tensor[] = [];
  for (let j = 0; j < length; j++) {
    const stride = k ** (length - 1 - j);
    const aj = new Float32Array(v * states);
    const ej = new Float32Array(states * k);
    for (let st = 0; st < states; st++) {
      const tok = Math.floor(st / stride) % k;
      aj[tok * states + st] = 1;
      ej[st * k + tok] = 1;
    }
    a.push(keep(tensor(aj, [v, states])));
    e.push(keep(tensor(ej, [states, k])));
  }
  const p0 = new Float32Array(v * states);
  for (let tok = 0; tok < v; tok++) {
    const p = s.source === 'mask' ? (tok === k ? 1 : 0) : 1 / k;
    p0.fill(p, tok * states, (tok + 1) * states);
  }
  const p0t = keep(tensor(p0, [v, states]));
  const q = keep(tensor(Float32Array.from(pmf), [1, states]));
  return {
    forward(xt: Tensor, t: Tensor): Tensor {
      const n = xt.shape[0];
      const kap = reshape(pow(t, s.scheduler.n), [n, 1]);
      const oneMinus = affine(kap, -1, 1);
      const hot = reshape(oneHot(xt.view([n * length]), v), [n, length, v]);
      let w: Tensor = q;
      for (let j = 0; j < length; j++) {
        const hj = reshape(slice(hot, [0, j, 0], [n, j + 1, v]), [n, v]);
        const lj = add(mul(matmul(hj, a[j]), kap), mul(matmul(hj, p0t), oneMinus));
        w = mul(w, lj);
      }
      const cols = e.map((ej) => reshape(log(matmul(w, ej)), [n, 1, k]));
      return length === 1 ? cols[0] : concat(cols, 1);
    },
    dispose() {
      for (const x of [...a, ...e, p0t, q]) x.dispose();
    },
  };
}
