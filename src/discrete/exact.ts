/**
 * The exact posterior p_{1|t}(x_1^i | x_t) of a known pmf q over [K]^d under the mixture path, as a
 * model on the GPU (a composition of ops, for small K^d): the reference the samplers and the ELBO are
 * tested and calibrated against. With S = K^d sequences s (s_i its tokens),
 *
 *   w(s | x_t) = q(s)·Π_j [κ·δ(x_t^j = s_j) + (1 − κ)·p0(x_t^j)],   p(x_1^i = k | x_t) ∝ Σ_{s: s_i = k} w(s | x_t)
 *
 * (p0 = δ(mask) or 1/K). Returned as logits = log Σ w (log p up to a constant per token; −∞ where p = 0).
 * Two tokens (the 2-D data sets, K² cells) take the pmf as a K×K matrix Q instead of S = K² sequences:
 * p(x_1^1 = a | x_t) ∝ L_1(a)·Σ_b Q[a, b]·L_2(b) and p(x_1^2 = b | x_t) ∝ L_2(b)·Σ_a L_1(a)·Q[a, b], with
 * L_j(s) = κ·δ(x_t^j = s) + (1 − κ)·p0(x_t^j): two [N, K]·[K, K] products per call.
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
  if (length === 2) return pairPosterior(pmf, s);
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

/** The two-token form (see the file comment). */
function pairPosterior(pmf: ArrayLike<number>, s: TokenSpace): DiscreteModel & { dispose(): void } {
  const k = s.categories;
  const v = vocabulary(s);
  const q = keep(tensor(Float32Array.from(pmf), [k, k]));
  const qt = keep(tensor(Float32Array.from({ length: k * k }, (_, i) => pmf[(i % k) * k + Math.floor(i / k)]), [k, k]));
  // P0 [V, K]: row x = p0(x) in every column, so onehot(x_t) @ P0 broadcasts p0(x_t^j) over s
  const p0 = keep(tensor(Float32Array.from({ length: v * k }, (_, i) => (s.source === 'mask' ? (Math.floor(i / k) === k ? 1 : 0) : 1 / k)), [v, k]));
  return {
    forward(xt: Tensor, t: Tensor): Tensor {
      const n = xt.shape[0];
      const kap = reshape(pow(t, s.scheduler.n), [n, 1]);
      const hot = reshape(oneHot(xt.view([n * 2]), v), [n, 2, v]);
      const like = [0, 1].map((j) => {
        const hj = reshape(slice(hot, [0, j, 0], [n, j + 1, v]), [n, v]);
        return add(mul(slice(hj, [0, 0], [n, k]), kap), mul(matmul(hj, p0), affine(kap, -1, 1)));
      });
      const first = mul(like[0], matmul(like[1], qt));
      const second = mul(like[1], matmul(like[0], q));
      return concat([reshape(log(first), [n, 1, k]), reshape(log(second), [n, 1, k])], 1);
    },
    dispose() {
      for (const x of [q, qt, p0]) x.dispose();
    },
  };
}
