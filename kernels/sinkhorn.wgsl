// Sinkhorn family: minibatch optimal transport for flow-matching couplings, entirely on the GPU.
// Registered as random.wgsl's library (for the Gumbel noise of the pairing) followed by this file.
//
// Problem: rows x1 [n, D], columns x0 [m, D], cost C_ij = ‖x1_i − x0_j‖², uniform marginals
// a = 1/n, b = 1/m. Entropic OT with ε = reg · mean(C) (scale-free: `reg` is relative to the
// batch's mean cost; mean(C) is read on the GPU from csum = Σ C, so nothing comes back to the host).
// Log-domain Sinkhorn on potentials f [n], g [m] (stable for small ε, unlike scaling by exp(−C/ε)):
//   f_i = −ε·(log n + LSE_j((g_j − C_ij)/ε))         (potential_update on C,  other = g)
//   g_j = −ε·(log m + LSE_i((f_i − C_ij)/ε))         (potential_update on Cᵀ, other = f)
//   plan π_ij = exp((f_i + g_j − C_ij)/ε)   (row sums → 1/n, column sums = 1/m after a g update)
// Pairing (pair_rows): for each x1 row i, an x0 index j from π_i· / Σ_j π_ij:
//   sample = 1: Gumbel-max, j = argmax_j (g_j − C_ij)/ε + G_ij, G_ij = −log(−log u), which draws j
//     with probability exactly π_ij / Σ_j π_ij; the expected use of each x0 is then n·b_j·… = 1
//     per column (marginals preserved in expectation). u from philox_at(seed, step,
//     i·⌈m/4⌉ + ⌊j/4⌋, STREAM_PAIRING), word j % 4.
//   sample = 0: argmax of the plan row (deterministic; may use an x0 twice).
//
// Entries:
//   sq_dist         pts_a [n, D], pts_b [m, D] → cost_out [n, m]                      one thread per entry
//   sq_dist_both    pts_a, pts_b → cost_out [n, m] and cost_t [m, n] (Cᵀ, so that the column update also reads
//                   contiguous rows)
//   potential_update  cost [rows, cols], pot [cols], csum [1] → pot_out [rows]   one workgroup per row
//   pair_rows       cost [n, m], pot (= g) [m], csum [1] → idx i32 [n]           one workgroup per row
// Workgroup reductions: each thread folds its strided share of the row into (max, Σexp) — an
// online log-sum-exp — or (best, index), then a shared-memory tree combines the WG partials.
// Costs: O(n·m·D) once for C, then O(n·m) per half-iteration; a fixed iteration count (no
// convergence read-back inside a training step).

// STREAM_PAIRING: generated from src/flow/random.ts's STREAM table (prepended with the random library).
const SWG: u32 = 64u;
const LOWEST: f32 = -3.0e38;

struct DistParams { n: u32, m: u32, d: u32, _pad: u32 }

@group(0) @binding(0) var<storage, read> pts_a: array<f32>;
@group(0) @binding(1) var<storage, read> pts_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> cost_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> cost_t: array<f32>;
@group(0) @binding(4) var<uniform> dq: DistParams;

fn sq_dist_at(i: u32, j: u32) -> f32 {
  var s = 0.0;
  for (var k = 0u; k < dq.d; k++) {
    let e = pts_a[i * dq.d + k] - pts_b[j * dq.d + k];
    s = s + e * e;
  }
  return s;
}

@compute @workgroup_size(256)
fn sq_dist(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= dq.n * dq.m) { return; }
  cost_out[e] = sq_dist_at(e / dq.m, e % dq.m);
}

@compute @workgroup_size(256)
fn sq_dist_both(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= dq.n * dq.m) { return; }
  let i = e / dq.m;
  let j = e % dq.m;
  let c = sq_dist_at(i, j);
  cost_out[e] = c;
  cost_t[j * dq.n + i] = c;
}

struct SinkParams {
  rows: u32,
  cols: u32,
  reg: f32,
  inv_count: f32,
  sample: u32,
  _pad: u32,
  seed: vec2u,
  step: vec2u,
}

@group(0) @binding(5) var<storage, read> cost: array<f32>;
@group(0) @binding(6) var<storage, read> pot: array<f32>;
@group(0) @binding(7) var<storage, read> csum: array<f32>;
@group(0) @binding(8) var<storage, read_write> pot_out: array<f32>;
@group(0) @binding(9) var<storage, read_write> idx: array<i32>;
@group(0) @binding(10) var<uniform> sp: SinkParams;

var<workgroup> red_a: array<f32, SWG>;
var<workgroup> red_b: array<f32, SWG>;
var<workgroup> red_i: array<u32, SWG>;

fn epsilon() -> f32 {
  return max(sp.reg * csum[0] * sp.inv_count, 1e-30);
}

@compute @workgroup_size(SWG)
fn potential_update(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  let eps = epsilon();
  let inv_eps = 1.0 / eps;
  var mx = LOWEST;
  var s = 0.0;
  if (row < sp.rows) {
    let base = row * sp.cols;
    for (var j = lid; j < sp.cols; j += SWG) {
      let v = (pot[j] - cost[base + j]) * inv_eps;
      if (v > mx) {
        s = s * exp(mx - v) + 1.0;
        mx = v;
      } else {
        s = s + exp(v - mx);
      }
    }
  }
  red_a[lid] = mx;
  red_b[lid] = s;
  workgroupBarrier();
  for (var h = SWG / 2u; h > 0u; h = h / 2u) {
    if (lid < h) {
      let m1 = red_a[lid];
      let m2 = red_a[lid + h];
      let mm = max(m1, m2);
      red_b[lid] = red_b[lid] * exp(m1 - mm) + red_b[lid + h] * exp(m2 - mm);
      red_a[lid] = mm;
    }
    workgroupBarrier();
  }
  if (lid == 0u && row < sp.rows) {
    pot_out[row] = -eps * (log(f32(sp.rows)) + red_a[0] + log(red_b[0]));
  }
}

@compute @workgroup_size(SWG)
fn pair_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  let inv_eps = 1.0 / epsilon();
  var best = LOWEST;
  var arg = 0xffffffffu;
  if (row < sp.rows) {
    let base = row * sp.cols;
    let quads = (sp.cols + 3u) / 4u;
    for (var q = lid; q < quads; q += SWG) {
      var w = vec4u(0u);
      if (sp.sample == 1u) { w = philox_at(sp.seed, sp.step, row * quads + q, STREAM_PAIRING); }
      for (var k = 0u; k < 4u; k++) {
        let j = 4u * q + k;
        if (j >= sp.cols) { break; }
        var v = (pot[j] - cost[base + j]) * inv_eps;
        if (sp.sample == 1u) { v = v - log(-log(u01(w[k]))); }
        if (v > best || arg == 0xffffffffu) {
          best = v;
          arg = j;
        }
      }
    }
  }
  red_a[lid] = best;
  red_i[lid] = arg;
  workgroupBarrier();
  for (var h = SWG / 2u; h > 0u; h = h / 2u) {
    if (lid < h) {
      let v2 = red_a[lid + h];
      let j2 = red_i[lid + h];
      let j1 = red_i[lid];
      if (j2 != 0xffffffffu && (j1 == 0xffffffffu || v2 > red_a[lid] || (v2 == red_a[lid] && j2 < j1))) {
        red_a[lid] = v2;
        red_i[lid] = j2;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u && row < sp.rows) { idx[row] = i32(red_i[0]); }
}
