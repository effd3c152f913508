// Discrete family: discrete flow matching over tokens (Gat et al. 2024) — the mixture path sampler,
// the cross-entropy and generalized-KL losses with their gradients, and the discrete Euler (CTMC)
// step. Registered as random.wgsl's library (Philox4x32-10, u01) followed by this file.
//
// Tokens: a state is N sequences of d tokens, flat i32 [M = N·d], token i of row ⌊i/d⌋. Values
// 0…K−1 are categories; with a mask source (`mask` = 1) the value K is the mask. Logits are f32
// [M, K] row-major (the posterior p_{1|t}(· | x_t) of each token over the K categories).
// Scheduler: polynomial κ_t = tⁿ, κ̇_t = n·tⁿ⁻¹ (`n_exp` = n; n = 1 linear).
//
// Entries:
//   mix_path          x1 i32 [M] → xt i32 [M], t_out f32 [N]   t = t_max·u01 per row; per token
//                     x_t = x1 if u01 < κ_t else x0, x0 = K (mask) or ⌊u01'·K⌋ (uniform)
//   mix_path_given_t  x1, t_in [N] → xt                         the same with the times given
//   ce_fused          logits, x1 → grad [M, K], partial [P]      cross-entropy, mean over M tokens
//   gkl_fused         logits, x1, xt, t_in → grad, partial       generalized KL, mean over M tokens
//   gkl_rows          logits, x1, xt, t_in → row_loss [M]        the per-token ℓ_i (no gradient; ELBO)
//   euler_step        logits, xt → xt_out                        one CTMC step of every token
//   carry_unmasked    logits, xt → carried [M, K], kept [M]      mask source: a token that is no longer
//                     the mask keeps its value (posterior δ(x_t): 0 at x_t, CARRY_LOW elsewhere); the
//                     mask's rows pass through, kept = 1 there (the backward multiplies by kept)
// Random words: the row's t from philox_at(seed, step, row, STREAM_TIME).x (flow.wgsl's uniform
// time convention); token i's path draws from philox_at(seed, step, i, STREAM_DISCRETE_PATH) (x: keep test,
// y: x0); the Euler step's from philox_at(seed, step, offset + i, STREAM_DISCRETE_EULER) (x: the categorical
// draw x̂ by inverse CDF, y: the jump test, z: the jump target of the divergence-free rates).
//
// Losses (c = κ̇/(1−κ), p = softmax(z), log p = z − logsumexp(z), stable for any |z|):
//   CE   ℓ = −log p(x1)                       ∂ℓ/∂z_j = p_j − δ(j = x1)
//   GKL  ℓ = −c·[a − δ + (1 − δ)·log p(x1)],  a = p(x_t) (0 when x_t is the mask), δ = [x1 = x_t]
//        ∂ℓ/∂z_j = −c·[ a·(δ(j = x_t) − p_j) + (1 − δ)·(δ(j = x1) − p_j) ]
//   Both scaled by inv_m = 1/M (the mean). A 1-D grid of P = min(64, ⌈M/256⌉) workgroups strides
//   over the token rows, one thread a row: max, Σ exp, then the loss term and the K gradient values
//   in one more pass; each workgroup reduces its threads' sums to partial[wg] (fixed order:
//   deterministic) and the host sums the P partials. Fused: log-softmax, gather, the loss terms,
//   the first reduction level and the whole backward in one pass over the logits.
//
// Euler step (host-computed coefficients of the step's t: `rate` = κ̇/(1−κ), `div` = c(t)·κ̇/(κ(1−κ))
// (0: no divergence-free term), `kappa`, step `h`, `last`): x̂ ~ Categorical(softmax(z)) by inverse
// CDF on u1; last step: x_t ← x̂. Else the rates u_j = rate·δ(j = x̂) + div·((1−κ)·p0_j + κ·δ(j = x̂))
// over the V = K (+1 with a mask) states, self-rate zeroed, Λ = Σ u_j; the token jumps with
// probability 1 − exp(−h·Λ) (test on u2), to x̂ without the divergence-free term, else to j drawn from
// u/Λ by inverse CDF on u3. p0 = δ(mask) or uniform 1/K. One thread per token; fused: softmax, the
// draw, the rates, both tests and the write-back (unfused: softmax, cumsum, compare, one-hot, where).

// STREAM_TIME, STREAM_DISCRETE_PATH, STREAM_DISCRETE_EULER: generated from src/flow/random.ts's STREAM
// table and prepended with the random library.

struct DParams {
  rows: u32,
  d: u32,
  k: u32,
  mask: u32,
  seed: vec2u,
  step: vec2u,
  n_exp: f32,
  t_max: f32,
  inv_m: f32,
  offset: u32,
  rate: f32,
  div: f32,
  kappa: f32,
  h: f32,
  last: u32,
}

@group(0) @binding(0) var<storage, read> x1: array<i32>;
@group(0) @binding(1) var<storage, read> t_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> xt: array<i32>;
@group(0) @binding(3) var<storage, read_write> t_out: array<f32>;
@group(0) @binding(4) var<uniform> q: DParams;
@group(0) @binding(5) var<storage, read> logits: array<f32>;
@group(0) @binding(6) var<storage, read> xt_in: array<i32>;
@group(0) @binding(7) var<storage, read_write> grad: array<f32>;
@group(0) @binding(8) var<storage, read_write> partial: array<f32>;
@group(0) @binding(9) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(10) var<storage, read_write> carried: array<f32>;
@group(0) @binding(11) var<storage, read_write> kept: array<f32>;

const WG: u32 = 256u;
var<workgroup> acc: array<f32, WG>;

fn flat_id(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// κ_t = tⁿ and κ̇_t = n·tⁿ⁻¹ for t in [0, 1] (repeated products for small integer n).
fn kappa_of(t: f32) -> vec2f {
  let n = q.n_exp;
  if (t <= 0.0) { return vec2f(0.0, select(0.0, 1.0, n == 1.0)); }
  if (n == floor(n) && n <= 8.0) {
    var r = 1.0;
    for (var j = 1u; j < u32(n); j++) { r = r * t; }
    return vec2f(r * t, n * r);
  }
  let r = exp2((n - 1.0) * log2(t));
  return vec2f(r * t, n * r);
}

// ------------------------------------------------------------------ path

fn path_token(i: u32, t: f32) {
  let kap = kappa_of(t).x;
  let w = philox_at(q.seed, q.step, i, STREAM_DISCRETE_PATH);
  var x0 = i32(q.k);
  if (q.mask == 0u) { x0 = i32(min(u32(u01(w.y) * f32(q.k)), q.k - 1u)); }
  xt[i] = select(x0, x1[i], u01(w.x) < kap);
}

@compute @workgroup_size(WG)
fn mix_path(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_id(gid, nwg);
  if (i >= q.rows * q.d) { return; }
  let r = i / q.d;
  let t = q.t_max * u01(philox_at(q.seed, q.step, r, STREAM_TIME).x);
  if (i % q.d == 0u) { t_out[r] = t; }
  path_token(i, t);
}

@compute @workgroup_size(WG)
fn mix_path_given_t(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_id(gid, nwg);
  if (i >= q.rows * q.d) { return; }
  path_token(i, t_in[i / q.d]);
}

// ------------------------------------------------------------------ losses

// (max, Σ exp(z − max)) of token row i's logits.
fn row_max_sum(i: u32) -> vec2f {
  let b = i * q.k;
  var m = logits[b];
  for (var j = 1u; j < q.k; j++) { m = max(m, logits[b + j]); }
  var s = 0.0;
  for (var j = 0u; j < q.k; j++) { s += mass(logits[b + j], m); }
  return vec2f(m, s);
}

// e^{z − m}, and 0 when z or the row's max m is −∞ (below the most negative finite f32): −∞ − (−∞)
// would be NaN, and drivers differ in how a NaN compares (SwiftShader's e > 0 was true), so a row
// with no finite mass gets none instead of NaNs.
const NEG_FINITE_MAX: f32 = -3.4028234663852886e38;
fn mass(z: f32, m: f32) -> f32 {
  if (z < NEG_FINITE_MAX || m < NEG_FINITE_MAX) { return 0.0; }
  return exp(z - m);
}

// logsumexp of token row i's logits.
fn row_lse(i: u32) -> f32 {
  let ms = row_max_sum(i);
  return ms.x + log(ms.y);
}

// The generalized-KL weight c = κ̇/(1−κ) of token row i.
fn gkl_weight(i: u32) -> f32 {
  let kd = kappa_of(t_in[i / q.d]);
  return kd.y / (1.0 - kd.x);
}

// ℓ_i of the generalized KL (see the header), with what its gradient needs: (ℓ_i, logsumexp, c, a).
fn gkl_token(i: u32) -> vec4f {
  let b = i * q.k;
  let lse = row_lse(i);
  let c = gkl_weight(i);
  let a_id = u32(xt_in[i]);
  let y = u32(x1[i]);
  var a = 0.0;
  if (a_id < q.k) { a = exp(logits[b + a_id] - lse); }
  var l = a - select(0.0, 1.0, a_id == y);
  if (a_id != y) { l += logits[b + y] - lse; }
  return vec4f(-c * l, lse, c, a);
}

fn reduce_partial(v: f32, lid: u32, wid: u32) {
  acc[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { acc[lid] += acc[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[wid] = acc[0]; }
}

@compute @workgroup_size(WG)
fn ce_fused(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  var v = 0.0;
  let m = q.rows * q.d;
  for (var i = gid.x; i < m; i += nwg.x * WG) {
    let b = i * q.k;
    let lse = row_lse(i);
    let y = u32(x1[i]);
    for (var j = 0u; j < q.k; j++) {
      grad[b + j] = (exp(logits[b + j] - lse) - select(0.0, 1.0, j == y)) * q.inv_m;
    }
    v += (lse - logits[b + y]) * q.inv_m;
  }
  reduce_partial(v, lid, wid.x);
}

@compute @workgroup_size(WG)
fn gkl_fused(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  var v = 0.0;
  let m = q.rows * q.d;
  for (var i = gid.x; i < m; i += nwg.x * WG) {
    let r = gkl_token(i);
    v += r.x * q.inv_m;
    let b = i * q.k;
    let a_id = u32(xt_in[i]);
    let y = u32(x1[i]);
    let gs = -r.z * q.inv_m;
    for (var j = 0u; j < q.k; j++) {
      let p = exp(logits[b + j] - r.y);
      var g = 0.0;
      if (a_id < q.k) { g = r.w * (select(0.0, 1.0, j == a_id) - p); }
      if (a_id != y) { g += select(0.0, 1.0, j == y) - p; }
      grad[b + j] = gs * g;
    }
  }
  reduce_partial(v, lid, wid.x);
}

@compute @workgroup_size(WG)
fn gkl_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_id(gid, nwg);
  if (i >= q.rows * q.d) { return; }
  row_loss[i] = gkl_token(i).x;
}

// ------------------------------------------------------------------ carry-over of unmasked tokens

// With a mask source the path keeps x1 wherever x_t is not the mask, so the exact posterior of such a
// token is δ(x_t). CARRY_LOW is finite (−∞ would turn guidance's (1 + w)·z − w·z into NaN) and far
// enough below any real logit that e^{z − max} is 0 in f32.
const CARRY_LOW: f32 = -1e30;

@compute @workgroup_size(WG)
fn carry_unmasked(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = flat_id(gid, nwg);
  if (e >= q.rows * q.d * q.k) { return; }
  let i = e / q.k;
  let j = e % q.k;
  let tok = u32(xt_in[i]);
  if (j == 0u) { kept[i] = select(0.0, 1.0, tok == q.k); }
  carried[e] = select(select(CARRY_LOW, 0.0, j == tok), logits[e], tok == q.k);
}

// ------------------------------------------------------------------ Euler (CTMC) step

// 1 − e^{−x} for x ≥ 0 without cancellation at small x.
fn one_minus_exp_neg(x: f32) -> f32 {
  if (x < 1e-3) { return x * (1.0 - 0.5 * x * (1.0 - x / 3.0)); }
  return 1.0 - exp(-x);
}

// The rate from the current state `cur` to state j (j ≠ cur) given the draw x̂.
fn rate_to(j: u32, cur: u32, xh: u32) -> f32 {
  if (j == cur) { return 0.0; }
  var p0 = 0.0;
  if (q.mask == 1u) { p0 = select(0.0, 1.0, j == q.k); } else { p0 = select(0.0, 1.0 / f32(q.k), j < q.k); }
  let hit = select(0.0, 1.0, j == xh);
  return q.rate * hit + q.div * ((1.0 - q.kappa) * p0 + q.kappa * hit);
}

@compute @workgroup_size(WG)
fn euler_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_id(gid, nwg);
  if (i >= q.rows * q.d) { return; }
  let b = i * q.k;
  let ms = row_max_sum(i);
  let w = philox_at(q.seed, q.step, q.offset + i, STREAM_DISCRETE_EULER);
  // x̂ by inverse CDF: the first j with Σ_{l ≤ j} e_l > u1·Σ e, e = exp(z − max) (the same sum, in
  // the same order, as row_max_sum); a rounding miss falls back to the last j with e_j > 0. A row
  // with no finite mass (all logits −∞: a posterior undefined at this x_t) does not move, and at the
  // last step keeps its current token (category 0 from the mask).
  let goal = u01(w.x) * ms.y;
  var cum = 0.0;
  var xh = q.k;
  for (var j = 0u; j < q.k; j++) {
    let e = mass(logits[b + j], ms.x);
    cum += e;
    if (e > 0.0) { xh = j; }
    if (cum > goal && e > 0.0) { break; }
  }
  let cur = u32(xt_in[i]);
  if (xh == q.k) {
    xt[i] = i32(select(cur, select(0u, cur, cur < q.k), q.last == 1u));
    return;
  }
  if (q.last == 1u) {
    xt[i] = i32(xh);
    return;
  }
  var next = cur;
  if (q.div == 0.0) {
    let lam = select(q.rate, 0.0, xh == cur);
    if (u01(w.y) < one_minus_exp_neg(q.h * lam)) { next = xh; }
  } else {
    let states = q.k + q.mask;
    var total = 0.0;
    for (var j = 0u; j < states; j++) { total += rate_to(j, cur, xh); }
    if (u01(w.y) < one_minus_exp_neg(q.h * total)) {
      let tg = u01(w.z) * total;
      var c2 = 0.0;
      for (var j = 0u; j < states; j++) {
        let r = rate_to(j, cur, xh);
        c2 += r;
        if (r > 0.0) { next = j; }
        if (c2 > tg && r > 0.0) { break; }
      }
    }
  }
  xt[i] = i32(next);
}
