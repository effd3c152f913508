// Flow family: the fused interpolation-plus-target kernel of flow-matching training, its variants,
// and label dropout. Registered as random.wgsl's library (Philox4x32-10, u01, Box–Muller) followed
// by this file.
//
// Path (DESIGN.md, src/flow/schedulers.ts — the same formulas): x_t = α_t·x1 + σ_t·x0,
// u_t = α̇_t·x1 + σ̇_t·x0, with (α, σ, α̇, σ̇) from `path_coef` by scheduler kind:
//   0 CondOT     α = t, σ = 1 − (1 − σ_min)·t                         sp = (σ_min, ·)
//   1 polynomial α = tⁿ, σ = 1 − tⁿ                                    sp = (n, ·)
//   2 cosine     α = sin(πt/2), σ = cos(πt/2)
//   3 VP         α = exp(−½T(1−t)), T(s) = β_min·s + ½(β_max−β_min)s², σ = √(1 − α²)
//                                                                    sp = (β_min, β_max)
// Time samplers (`time_kind`): 0 uniform t = u01(w0); 1 logit-normal t = sigmoid(m + s·z),
//   z = Box–Muller(w0, w1).x, tp = (m, s), clamped to [2⁻²⁴, 1 − 2⁻²⁴]; then
//   t ← t_range.x + (t_range.y − t_range.x)·t.
//   w = philox_at(seed, step, row, STREAM_TIME): one t per row, shared by all D elements.
// Source noise: element i of x0 is normal k = i % 4 of normal4(philox_at(seed, step, ⌊i/4⌋,
//   STREAM_SOURCE)) — the same values random.wgsl's fill_normal gives for that stream.
// Path noise (data-to-data flows, `noise` = σ > 0): x_t gains σ·ε, ε element i the normal k = i % 4
//   of philox_at(seed, step, ⌊i/4⌋, STREAM_PATH_NOISE); u_t is unchanged. With CondOT (σ_min = 0)
//   and a given x0 from data this is the path x_t ~ N(t·x1 + (1 − t)·x0, σ²) of Tong et al.'s
//   I-CFM: the marginal probability path has full support between two data sets.
//
// Entries (x1, x0, xt, ut: f32 [N, D] row-major, flat n = N·D; t_in, t_out: f32 [N]):
//   interpolate_sample     x1 → xt, t_out, ut           draws x0 and t     (the training kernel)
//   interpolate_given_x0   x1, x0 → xt, t_out, ut       draws t            (OT couplings, reflow pairs)
//   interpolate_given_t    x1, t_in → xt, ut            draws x0           (loss at fixed times)
//   interpolate_given      x1, x0, t_in → xt, ut        draws nothing      (a pure path evaluator)
//   draw_source_time       → x0_out [N, D], t_out [N]   exactly the draws of interpolate_sample
//   draw_time              → t_out [N]                  exactly the t of interpolate_sample
//   drop_labels            labels i32 [n] → labels_out: replaced by null_label with probability p
//                          (u01 of philox_at(seed, step, ⌊i/4⌋, STREAM_LABEL_DROP) word i%4 < p)
//   flag_cond              cond_in f32 [R, W] → cond_out [R, W + 1]: values and a 1, or zeros (∅)
//                          w.p. p, the drop decision of label r in drop_labels
// One thread per 4 consecutive elements (one Philox call for their x0); each thread evaluates
// path_coef once per row it touches. Fused: the whole training input — noise, time, x_t, u_t —
// in one pass that reads x1 once and writes x_t, t, u_t once (unfused: randn, rand, 2 broadcasts,
// 4 multiplies, 2 adds, with 8 temporaries).
//
// Numerics: VP's 1 − α² is −expm1(−T) (a series for small T), so σ and σ̇ stay accurate as t → 1
// where α → 1; σ̇ = −α·α̇/σ is infinite only at t = 1 exactly, which no sampler draws. Polynomial
// powers with small integer exponents are repeated products (exact to rounding), others exp2/log2.

// STREAM_SOURCE, STREAM_TIME, STREAM_LABEL_DROP, STREAM_PATH_NOISE: generated from src/flow/random.ts's
// STREAM table and prepended with the random library.
const T_EPS: f32 = 5.9604644775390625e-8;

struct FlowParams {
  n: u32,
  d: u32,
  kind: u32,
  time_kind: u32,
  seed: vec2u,
  step: vec2u,
  sp: vec2f,
  tp: vec2f,
  t_range: vec2f,
  rows: u32,
  noise: f32,
}

@group(0) @binding(0) var<storage, read> x1: array<f32>;
@group(0) @binding(1) var<storage, read> x0: array<f32>;
@group(0) @binding(2) var<storage, read> t_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> xt: array<f32>;
@group(0) @binding(4) var<storage, read_write> t_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> ut: array<f32>;
@group(0) @binding(6) var<uniform> fp: FlowParams;
@group(0) @binding(7) var<storage, read_write> x0_out: array<f32>;

const WG: u32 = 256u;

var<private> INF_BITS: u32 = 0x7f800000u;

fn sigmoid(v: f32) -> f32 {
  if (v >= 0.0) { return 1.0 / (1.0 + exp(-v)); }
  let e = exp(v);
  return e / (1.0 + e);
}

// e^x − 1 without cancellation for small |x|.
fn expm1(x: f32) -> f32 {
  if (abs(x) < 0.1) {
    return x * (1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0 * (1.0 + x / 5.0 * (1.0 + x / 6.0)))));
  }
  return exp(x) - 1.0;
}

// x^e for x ≥ 0 (0^0 = 1, 0^e = 0 for e > 0, ∞ for e < 0).
fn pow_pos(x: f32, e: f32) -> f32 {
  if (e == 0.0) { return 1.0; }
  if (x <= 0.0) { return select(bitcast<f32>(INF_BITS), 0.0, e > 0.0); }
  if (e == floor(e) && abs(e) <= 16.0) {
    var r = 1.0;
    var b = x;
    var k = u32(abs(e));
    loop {
      if ((k & 1u) == 1u) { r = r * b; }
      k = k >> 1u;
      if (k == 0u) { break; }
      b = b * b;
    }
    return select(1.0 / r, r, e > 0.0);
  }
  return exp2(e * log2(x));
}

// (α_t, σ_t, α̇_t, σ̇_t)
fn path_coef(t: f32) -> vec4f {
  switch (fp.kind) {
    case 0u: {
      let k = 1.0 - fp.sp.x;
      return vec4f(t, 1.0 - k * t, 1.0, -k);
    }
    case 1u: {
      let n = fp.sp.x;
      let a = pow_pos(t, n);
      let da = n * pow_pos(t, n - 1.0);
      return vec4f(a, 1.0 - a, da, -da);
    }
    case 2u: {
      let h = 1.5707963267948966;
      let sc = sincos_acc(h * t);
      let c = sc.y;
      let s = sc.x;
      return vec4f(s, c, h * c, -h * s);
    }
    default: {
      let bmin = fp.sp.x;
      let bmax = fp.sp.y;
      let s = 1.0 - t;
      let big_t = bmin * s + 0.5 * (bmax - bmin) * s * s;
      let a = exp(-0.5 * big_t);
      let da = a * 0.5 * (bmin + (bmax - bmin) * s);
      let sg = sqrt(max(-expm1(-big_t), 0.0));
      return vec4f(a, sg, da, -a * da / sg);
    }
  }
}

fn draw_row_time(row: u32) -> f32 {
  let w = philox_at(fp.seed, fp.step, row, STREAM_TIME);
  var t: f32;
  if (fp.time_kind == 0u) {
    t = u01(w.x);
  } else {
    let z = box_muller(u01(w.x), u01(w.y)).x;
    t = clamp(sigmoid(fp.tp.x + fp.tp.y * z), T_EPS, 1.0 - T_EPS);
  }
  return fp.t_range.x + (fp.t_range.y - fp.t_range.x) * t;
}

fn quad_index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// Each entry point combines a source of x0 (drawn, or read from x0) with a source of t (drawn per
// row, writing t_out at each row's first element, or read from t_in) for the 4 elements of quad q;
// write_quad evaluates the path once per row it touches. Reads past n are clamped and unused.

fn drawn_source(q: u32) -> vec4f {
  return normal4(philox_at(fp.seed, fp.step, q, STREAM_SOURCE));
}

fn given_source(q: u32) -> vec4f {
  let i = q * 4u;
  let last = fp.n - 1u;
  return vec4f(x0[i], x0[min(i + 1u, last)], x0[min(i + 2u, last)], x0[min(i + 3u, last)]);
}

fn drawn_times(q: u32) -> vec4f {
  var t = vec4f(0.0);
  var row = 0xffffffffu;
  var tr = 0.0;
  for (var k = 0u; k < 4u; k++) {
    let i = min(q * 4u + k, fp.n - 1u);
    let r = i / fp.d;
    if (r != row) {
      row = r;
      tr = draw_row_time(r);
      if (i % fp.d == 0u) { t_out[r] = tr; }
    }
    t[k] = tr;
  }
  return t;
}

fn given_times(q: u32) -> vec4f {
  var t = vec4f(0.0);
  for (var k = 0u; k < 4u; k++) { t[k] = t_in[min(q * 4u + k, fp.n - 1u) / fp.d]; }
  return t;
}

fn write_quad(q: u32, x0q: vec4f, tq: vec4f) {
  var row = 0xffffffffu;
  var c = vec4f(0.0);
  var eps = vec4f(0.0);
  if (fp.noise != 0.0) { eps = fp.noise * normal4(philox_at(fp.seed, fp.step, q, STREAM_PATH_NOISE)); }
  for (var k = 0u; k < 4u; k++) {
    let i = q * 4u + k;
    if (i >= fp.n) { break; }
    let r = i / fp.d;
    if (r != row) {
      row = r;
      c = path_coef(tq[k]);
    }
    let a = x1[i];
    let b = x0q[k];
    xt[i] = c.x * a + c.y * b + eps[k];
    ut[i] = c.z * a + c.w * b;
  }
}

@compute @workgroup_size(WG)
fn interpolate_sample(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = quad_index(gid, nwg);
  if (q * 4u < fp.n) { write_quad(q, drawn_source(q), drawn_times(q)); }
}

@compute @workgroup_size(WG)
fn interpolate_given_x0(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = quad_index(gid, nwg);
  if (q * 4u < fp.n) { write_quad(q, given_source(q), drawn_times(q)); }
}

@compute @workgroup_size(WG)
fn interpolate_given_t(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = quad_index(gid, nwg);
  if (q * 4u < fp.n) { write_quad(q, drawn_source(q), given_times(q)); }
}

@compute @workgroup_size(WG)
fn interpolate_given(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = quad_index(gid, nwg);
  if (q * 4u < fp.n) { write_quad(q, given_source(q), given_times(q)); }
}

@compute @workgroup_size(WG)
fn draw_source_time(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = quad_index(gid, nwg);
  if (q * 4u >= fp.n) { return; }
  let z = drawn_source(q);
  _ = drawn_times(q);
  for (var k = 0u; k < 4u; k++) {
    let i = q * 4u + k;
    if (i >= fp.n) { break; }
    x0_out[i] = z[k];
  }
}

@compute @workgroup_size(WG)
fn draw_time(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = quad_index(gid, nwg);
  if (r >= fp.rows) { return; }
  t_out[r] = draw_row_time(r);
}

// ------------------------------------------------------------------ label dropout

struct DropParams {
  n: u32,
  null_label: i32,
  p: f32,
  _pad: u32,
  seed: vec2u,
  step: vec2u,
}

@group(0) @binding(8) var<storage, read> labels: array<i32>;
@group(0) @binding(9) var<storage, read_write> labels_out: array<i32>;
@group(0) @binding(10) var<uniform> dp: DropParams;

@compute @workgroup_size(WG)
fn drop_labels(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = quad_index(gid, nwg);
  if (q * 4u >= dp.n) { return; }
  let w = philox_at(dp.seed, dp.step, q, STREAM_LABEL_DROP);
  for (var k = 0u; k < 4u; k++) {
    let i = q * 4u + k;
    if (i >= dp.n) { break; }
    labels_out[i] = select(labels[i], dp.null_label, u01(w[k]) < dp.p);
  }
}

// ------------------------------------------------------------------ vector conditions

// A continuous condition c [rows, width] reaches the network as [rows, width + 1]: the values and a
// 1 (present), or all zeros (∅, the null condition of classifier-free guidance). Row r is dropped to
// ∅ with probability p, decided by the same draw drop_labels uses for label r (u01 of word r % 4 of
// philox_at(seed, step, ⌊r/4⌋, STREAM_LABEL_DROP)); p = 0 only appends the flag. One thread per output
// element.

struct CondParams {
  rows: u32,
  width: u32,
  p: f32,
  _pad: u32,
  seed: vec2u,
  step: vec2u,
}

@group(0) @binding(11) var<storage, read> cond_in: array<f32>;
@group(0) @binding(12) var<storage, read_write> cond_out: array<f32>;
@group(0) @binding(13) var<uniform> cp: CondParams;

@compute @workgroup_size(WG)
fn flag_cond(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = quad_index(gid, nwg);
  let w1 = cp.width + 1u;
  if (o >= cp.rows * w1) { return; }
  let r = o / w1;
  let j = o % w1;
  let keep = u01(philox_at(cp.seed, cp.step, r / 4u, STREAM_LABEL_DROP)[r % 4u]) >= cp.p;
  var v = 1.0;
  if (j < cp.width) { v = cond_in[r * cp.width + j]; }
  cond_out[o] = select(0.0, v, keep);
}
