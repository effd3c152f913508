// Loss family: mean squared error and its gradient in one pass.
//
// Bindings: pred, tgt (target) read-only f32 [n]; grad read_write f32 [n]; partial read_write f32
//   [workgroups]; `p` uniform.
// A 1-D grid of P = min(64, ⌈n / (16·256)⌉) workgroups strides over the elements: per element d = pred − target, grad =
// 2·d/n (the gradient of the mean with respect to pred), and d²/n into the thread's sum; each
// workgroup reduces its threads' sums in workgroup memory to partial[workgroup], and the host sums
// the P partials (reduce family) into the loss. Few workgroups, because each reduction tree costs
// 9 barriers, which is what a CPU driver makes expensive (one workgroup per 256 elements made the
// fused kernel slower than the unfused composition on lavapipe). Fixed order: deterministic.
// Fused: the difference, the square, the first reduction level and the backward — the unfused
// composition is sub, square, mean (two passes) and in backward sub, scale, scale again.

struct Params { n: u32, inv_n: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> tgt: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;
var<workgroup> acc: array<f32, WG>;

@compute @workgroup_size(WG)
fn mse_fused(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  var v = 0.0;
  for (var i = gid.x; i < p.n; i += nwg.x * WG) {
    let d = pred[i] - tgt[i];
    grad[i] = 2.0 * d * p.inv_n;
    v += d * d * p.inv_n;
  }
  acc[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { acc[lid] += acc[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[wid.x] = acc[0]; }
}
