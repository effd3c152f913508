// ODE family: the fused state updates of the fixed-step solvers and of Dormand–Prince 5(4), and the
// scaled RMS error norm that the adaptive controller reads back (src/flow/solvers.ts).
//
// Bindings: x (state) and k1..k6 (slopes, velocity-field outputs) read-only f32 [n]; y read_write
//   f32 [n] (the new state or stage input, a fresh buffer: the solvers never update in place, so x
//   and the slopes stay valid for the next stage); `p` uniform. Every tensor is flat: the solver
//   integrates any [N, D] (or [N, D + 1] augmented) state elementwise.
// Entries (one dispatch per update, no temporaries through JS):
//   euler_step  y = x + c0·k1                     Euler (c0 = h); every single-slope stage: the
//                                                 midpoint stage (c0 = h/2) and final (k2, c0 = h),
//                                                 Heun's predictor (c0 = h), RK4's stages
//                                                 (h/2, h/2, h)
//   heun_step   y = x + c0·k1 + c1·k2             Heun's final update (c0 = c1 = h/2)
//   rk4_step    y = x + c0·k1 + … + c3·k4         RK4's final update (h/6·(1, 2, 2, 1))
//   rk_stage    y = cx·x + Σ_{j<count} cj·k(j+1)  Dormand–Prince: stage inputs 2..7 (cx = 1, up to
//                                                 six slopes) and the error vector h·Σ eⱼkⱼ (cx = 0)
//   error_norm_partial  partial[w] = Σ_i (e_i / (atol + rtol·max(|x_i|, |xn_i|)))² over a
//                       grid-strided share of i, reduced in workgroup memory
//   error_norm_finish   out[slot] = sqrt(Σ_w partial[w] / n) (one workgroup): the RMS norm of
//                       Hairer & Wanner (II.4.11), one f32 that dopri5 reads back per step
// Unused slope bindings are simply not referenced by an entry (reflection binds only what an entry
// uses), so each entry binds at most 8 storage buffers (WebGPU's default per-stage limit).
// Numerics: coefficients already include h, so each output element is one short f32 dot product;
// the norm accumulates squares in f32 per thread then in a tree, enough for a step-size controller.

struct Params {
  n: u32,
  count: u32,
  cx: f32,
  _pad: u32,
  c: array<vec4f, 2>,
}

struct NormParams {
  n: u32,
  parts: u32,
  atol: f32,
  rtol: f32,
  slot: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> k1: array<f32>;
@group(0) @binding(2) var<storage, read> k2: array<f32>;
@group(0) @binding(3) var<storage, read> k3: array<f32>;
@group(0) @binding(4) var<storage, read> k4: array<f32>;
@group(0) @binding(5) var<storage, read> k5: array<f32>;
@group(0) @binding(6) var<storage, read> k6: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

const WG: u32 = 256u;

fn coef(j: u32) -> f32 { return p.c[j / 4u][j % 4u]; }
fn index(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn euler_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n) { y[i] = x[i] + coef(0u) * k1[i]; }
}

@compute @workgroup_size(WG)
fn heun_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n) { y[i] = x[i] + (coef(0u) * k1[i] + coef(1u) * k2[i]); }
}

@compute @workgroup_size(WG)
fn rk4_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n) {
    y[i] = x[i] + ((coef(0u) * k1[i] + coef(1u) * k2[i]) + (coef(2u) * k3[i] + coef(3u) * k4[i]));
  }
}

@compute @workgroup_size(WG)
fn rk_stage(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  // Bindings past `count` are bound to k1 by the host and never read.
  var s = coef(0u) * k1[i];
  if (p.count > 1u) { s += coef(1u) * k2[i]; }
  if (p.count > 2u) { s += coef(2u) * k3[i]; }
  if (p.count > 3u) { s += coef(3u) * k4[i]; }
  if (p.count > 4u) { s += coef(4u) * k5[i]; }
  if (p.count > 5u) { s += coef(5u) * k6[i]; }
  y[i] = p.cx * x[i] + s;
}

// ---------------------------------------------------------------- error norm

// Distinct binding numbers from the update entries: no two resource variables share one.
@group(0) @binding(9) var<storage, read> e: array<f32>;
@group(0) @binding(10) var<storage, read> xa: array<f32>;
@group(0) @binding(11) var<storage, read> xb: array<f32>;
@group(0) @binding(12) var<storage, read_write> partial: array<f32>;
@group(0) @binding(13) var<uniform> q: NormParams;

var<workgroup> acc: array<f32, WG>;

fn tree_sum(lid: u32) {
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { acc[lid] += acc[lid + s]; }
    workgroupBarrier();
  }
}

// Dispatched with q.parts workgroups in x (≤ 65535); thread lid of workgroup w takes
// i = w·WG + lid, then strides by parts·WG.
@compute @workgroup_size(WG)
fn error_norm_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  var s = 0.0;
  for (var i = wid.x * WG + lid; i < q.n; i += q.parts * WG) {
    let sc = q.atol + q.rtol * max(abs(xa[i]), abs(xb[i]));
    let r = e[i] / sc;
    s += r * r;
  }
  acc[lid] = s;
  tree_sum(lid);
  if (lid == 0u) { partial[wid.x] = acc[0]; }
}

@group(0) @binding(14) var<storage, read> pin: array<f32>;
@group(0) @binding(15) var<storage, read_write> out: array<f32>;

// One workgroup; pin is the previous pass's partial sums (q.parts values).
@compute @workgroup_size(WG)
fn error_norm_finish(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < q.parts; i += WG) { s += pin[i]; }
  acc[lid] = s;
  tree_sum(lid);
  if (lid == 0u) { out[q.slot] = sqrt(acc[0] / f32(q.n)); }
}
