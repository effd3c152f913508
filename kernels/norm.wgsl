// Norm family: GroupNorm (torch.nn.GroupNorm) forward and backward, f32, NCHW.
//
// Shapes: x, y, gy, gx [N, C, H, W] contiguous; gamma, beta, ggamma, gbeta [C]; stats [N·G, 2]
// (mean, rstd per (n, group)). C = G·cpg; the cpg channels of a group are adjacent, so a group's
// L = cpg·H·W elements are one contiguous run starting at (n·C + g·cpg)·H·W.
// y = (x − μ)·rstd·γ[c] + β[c], μ and σ² the mean and the biased variance over the group (as
// PyTorch), rstd = 1/√(σ² + eps).
//
// Entries (bindings by name; `p` uniform everywhere):
//   gn_forward          x, gamma, beta → y, stats. One workgroup per (n, g) (2-D grid); two passes
//                       over the run (mean, then Σ(x − μ)²: no cancellation as in E[x²] − μ²), a third
//                       writes y. stats are kept for the backward.
//   gn_backward_input   x, gy, gamma, stats → gx. One workgroup per (n, g). With x̂ = (x − μ)·rstd
//                       and ĝ = gy·γ: gx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)).
//   gn_backward_params  x, gy, stats → ggamma, gbeta. One workgroup per channel c:
//                       ggamma[c] = Σ_{n,h,w} gy·x̂, gbeta[c] = Σ_{n,h,w} gy (deterministic: no atomics).
// Reductions: each of the WG threads sums a strided share in f32, then a tree in workgroup memory.
// WG is an override (a power of two): 256 on GPUs; the host picks 8 (one subgroup) on CPU drivers,
// where a workgroup barrier is a coroutine switch of every invocation and the 4×4 level of a UNet
// has only 128 elements per group. The loops walk channel by channel so that no element needs a
// division to find its channel.

struct Params { batch: u32, c: u32, groups: u32, hw: u32, eps: f32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;
@group(0) @binding(6) var<storage, read> gy: array<f32>;
@group(0) @binding(7) var<storage, read> stats_in: array<f32>;
@group(0) @binding(8) var<storage, read_write> gx: array<f32>;
@group(0) @binding(9) var<storage, read_write> ggamma: array<f32>;
@group(0) @binding(10) var<storage, read_write> gbeta: array<f32>;

override WG: u32 = 256u;
var<workgroup> red: array<vec2f, WG>;

// Sums v over the workgroup (every thread gets the total). Call from uniform control flow.
fn wg_sum2(tid: u32, v: vec2f) -> vec2f {
  red[tid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (tid < s) { red[tid] = red[tid] + red[tid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

fn group_index(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }

@compute @workgroup_size(WG)
fn gn_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) tid: u32) {
  let ng = group_index(wid, nwg);
  if (ng >= p.batch * p.groups) { return; } // uniform: the whole workgroup leaves
  let cpg = p.c / p.groups;
  let len = cpg * p.hw;
  let base = ng * len; // (n·C + g·cpg)·HW = (n·G + g)·cpg·HW
  var s = 0.0;
  for (var i = tid; i < len; i += WG) { s += x[base + i]; }
  let mean = wg_sum2(tid, vec2f(s, 0.0)).x / f32(len);
  var q = 0.0;
  for (var i = tid; i < len; i += WG) {
    let d = x[base + i] - mean;
    q += d * d;
  }
  let rstd = inverseSqrt(wg_sum2(tid, vec2f(q, 0.0)).x / f32(len) + p.eps);
  let c0 = (ng % p.groups) * cpg;
  for (var cc = 0u; cc < cpg; cc++) {
    let a = rstd * gamma[c0 + cc];
    let b = beta[c0 + cc];
    let row = base + cc * p.hw;
    // (x − μ)·a + β, not x·a + (β − μ·a): no cancellation when |μ| ≫ σ
    for (var i = tid; i < p.hw; i += WG) { y[row + i] = (x[row + i] - mean) * a + b; }
  }
  if (tid == 0u) {
    stats[2u * ng] = mean;
    stats[2u * ng + 1u] = rstd;
  }
}

// (ĝ, x̂) = (gy·γ, (x − μ)·rstd) at element i.
fn gn_terms(i: u32, gm: f32, mean: f32, rstd: f32) -> vec2f {
  return vec2f(gy[i] * gm, (x[i] - mean) * rstd);
}

@compute @workgroup_size(WG)
fn gn_backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) tid: u32) {
  let ng = group_index(wid, nwg);
  if (ng >= p.batch * p.groups) { return; }
  let cpg = p.c / p.groups;
  let len = cpg * p.hw;
  let base = ng * len;
  let mean = stats_in[2u * ng];
  let rstd = stats_in[2u * ng + 1u];
  let c0 = (ng % p.groups) * cpg;
  var acc = vec2f(0.0);
  for (var cc = 0u; cc < cpg; cc++) {
    let row = base + cc * p.hw;
    for (var i = tid; i < p.hw; i += WG) {
      let t = gn_terms(row + i, gamma[c0 + cc], mean, rstd);
      acc += vec2f(t.x, t.x * t.y);
    }
  }
  let m = wg_sum2(tid, acc) / f32(len);
  for (var cc = 0u; cc < cpg; cc++) {
    let row = base + cc * p.hw;
    for (var i = tid; i < p.hw; i += WG) {
      let t = gn_terms(row + i, gamma[c0 + cc], mean, rstd);
      gx[row + i] = rstd * (t.x - m.x - t.y * m.y);
    }
  }
}

@compute @workgroup_size(WG)
fn gn_backward_params(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) tid: u32) {
  let c = group_index(wid, nwg);
  if (c >= p.c) { return; }
  let g = c / (p.c / p.groups);
  var acc = vec2f(0.0);
  for (var n = 0u; n < p.batch; n++) {
    let row = (n * p.c + c) * p.hw;
    let ng = n * p.groups + g;
    let mean = stats_in[2u * ng];
    let rstd = stats_in[2u * ng + 1u];
    for (var i = tid; i < p.hw; i += WG) {
      let xh = (x[row + i] - mean) * rstd;
      acc += vec2f(gy[row + i] * xh, gy[row + i]);
    }
  }
  let s = wg_sum2(tid, acc);
  if (tid == 0u) {
    ggamma[c] = s.x;
    gbeta[c] = s.y;
  }
}
