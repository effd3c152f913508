// Softmax family: softmax and log-softmax over the last axis, with their backward.
//
// Bindings: x (input or saved output) read-only f32 [rows, cols]; g (incoming gradient) read-only;
//   y read_write f32 [rows, cols]; `p` uniform. One thread per row (rows are short here: class
//   logits); max-subtracted so exp never overflows.
// LOG (override): 0 softmax, 1 log-softmax.
// Backward, from the saved output s = softmax or ls = log-softmax:
//   softmax:      gx = s ⊙ (g − Σ g⊙s)
//   log-softmax:  gx = g − exp(ls) · Σ g

struct Params { rows: u32, cols: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override LOG: u32 = 0u;
const WG: u32 = 64u;

// NaN / ±inf as private variables: WGSL forbids them in constant expressions.
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.rows) { return; }
  let o = r * p.cols;
  var m = bitcast<f32>(NEG_INF_BITS);
  for (var c = 0u; c < p.cols; c++) { m = max(m, x[o + c]); }
  var s = 0.0;
  for (var c = 0u; c < p.cols; c++) { s += exp(x[o + c] - m); }
  if (LOG == 1u) {
    let ls = log(s);
    for (var c = 0u; c < p.cols; c++) { y[o + c] = x[o + c] - m - ls; }
  } else {
    let inv = 1.0 / s;
    for (var c = 0u; c < p.cols; c++) { y[o + c] = exp(x[o + c] - m) * inv; }
  }
}

// x = saved output (softmax or log-softmax), g = output gradient, y = input gradient
@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.rows) { return; }
  let o = r * p.cols;
  var s = 0.0;
  if (LOG == 1u) {
    for (var c = 0u; c < p.cols; c++) { s += g[o + c]; }
    for (var c = 0u; c < p.cols; c++) { y[o + c] = g[o + c] - exp(x[o + c]) * s; }
  } else {
    for (var c = 0u; c < p.cols; c++) { s += g[o + c] * x[o + c]; }
    for (var c = 0u; c < p.cols; c++) { y[o + c] = x[o + c] * (g[o + c] - s); }
  }
}
