// Loss family: mean squared error and its gradient in one pass.
//
// Bindings: pred, tgt (target) read-only f32 [n]; grad read_write f32 [n]; partial read_write f32
//   [workgroups]; `p` uniform.
// Each thread takes one element: d = pred − target, writes grad = 2·d/n (the gradient of the mean
// with respect to pred) and contributes d²/n to its workgroup's sum, reduced in workgroup memory
// to partial[workgroup]. The host then sums the partials (reduce family) into the loss.
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
  let i = gid.x + gid.y * nwg.x * WG;
  var v = 0.0;
  if (i < p.n) {
    let d = pred[i] - tgt[i];
    grad[i] = 2.0 * d * p.inv_n;
    v = d * d * p.inv_n;
  }
  acc[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { acc[lid] += acc[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[wid.x + wid.y * nwg.x] = acc[0]; }
}
