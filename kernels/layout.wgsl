// Layout family: moving data without arithmetic — strided copy (permute, broadcast_to, slice,
// concat), row gather (embedding lookup) and its backward, one-hot.
//
// strided_copy — bindings: x read-only f32, y read_write f32, `p` uniform.
//   Visits every index of p.shape (rank ≤ 8, two vec4u, outermost first) and copies
//   x[p.x_off + Σ idx·p.sx] to y[p.y_off + Σ idx·p.sy]. Permute = permuted input strides;
//   broadcast = stride 0; slice = offset + strides; concat = one copy per piece into a slice of y.
//   strided_copy_i32 does the same for i32 tensors (bindings x_i32, y_i32).
//   strided_copy_rows: the same copy when the innermost dimension has stride 1 in x and y; one
//   thread copies a segment of up to SEG elements of a row (p.n = the number of segments), so the
//   index arithmetic (a u32 division and modulo per dimension, tens of instructions per lane on a
//   CPU driver) runs once per segment instead of once per element.
// gather_rows — table [V, D] f32, idx [N] i32 → y [N, D]; out-of-range indices write NaN rows so
//   a bad label shows up instead of silently reading another row.
// scatter_rows — backward of gather_rows: gt [V, D] = Σ_{n: idx[n]=v} gy[n, :]. One thread per
//   (v, d) loops over N: deterministic (no float atomics), fine for the small V of class labels.
// one_hot — idx [N] i32 → y [N, C] f32 with 1 at idx[n] (an index outside 0..C-1 gives a zero row,
//   the null class of classifier-free guidance).

struct Params {
  n: u32,
  rank: u32,
  x_off: u32,
  y_off: u32,
  shape: array<vec4u, 2>,
  sx: array<vec4u, 2>,
  sy: array<vec4u, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u;

// NaN / ±inf as private variables: WGSL forbids them in constant expressions.
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;

fn dim(v: array<vec4u, 2>, k: u32) -> u32 { return v[k / 4u][k % 4u]; }

// Source and destination element of the i-th index of the first `dims` dimensions of p.shape
// (dims = p.rank: an element; p.rank − 1: the start of a row).
fn strided_index(i: u32, dims: u32) -> vec2u {
  var rem = i;
  var ix = p.x_off;
  var iy = p.y_off;
  for (var k = dims; k > 0u; k--) {
    let d = dim(p.shape, k - 1u);
    let q = rem % d;
    rem = rem / d;
    ix += q * dim(p.sx, k - 1u);
    iy += q * dim(p.sy, k - 1u);
  }
  return vec2u(ix, iy);
}

@compute @workgroup_size(WG)
fn strided_copy(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let at = strided_index(i, p.rank);
  y[at.y] = x[at.x];
}

const SEG: u32 = 32u;

@compute @workgroup_size(WG)
fn strided_copy_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let inner = dim(p.shape, p.rank - 1u);
  let nseg = (inner + SEG - 1u) / SEG;
  let at = strided_index(i / nseg, p.rank - 1u);
  let c0 = (i % nseg) * SEG;
  let c1 = min(c0 + SEG, inner);
  for (var c = c0; c < c1; c++) { y[at.y + c] = x[at.x + c]; }
}

// The same for i32 tensors (labels, indices): copied as integers, so every bit pattern survives
// (moving them through f32 registers could canonicalise the ones that read as NaN).
@group(0) @binding(6) var<storage, read> x_i32: array<i32>;
@group(0) @binding(7) var<storage, read_write> y_i32: array<i32>;

@compute @workgroup_size(WG)
fn strided_copy_i32(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let at = strided_index(i, p.rank);
  y_i32[at.y] = x_i32[at.x];
}

struct RowParams { n: u32, d: u32, v: u32, _pad: u32 }
@group(0) @binding(3) var<storage, read> idx: array<i32>;
@group(0) @binding(4) var<uniform> q: RowParams;
@group(0) @binding(5) var<storage, read_write> yi: array<f32>;

// yi[n, :] = x[idx[n], :]; q.n rows of q.d, table of q.v rows
@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= q.n * q.d) { return; }
  let row = i / q.d;
  let col = i % q.d;
  let k = idx[row];
  if (k < 0 || u32(k) >= q.v) { yi[i] = bitcast<f32>(NAN_BITS); return; }
  yi[i] = x[u32(k) * q.d + col];
}

// yi[v, :] = Σ_{n: idx[n] = v} x[n, :]  (x is the output gradient, yi the table gradient)
@compute @workgroup_size(WG)
fn scatter_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= q.v * q.d) { return; }
  let v = i32(i / q.d);
  let col = i % q.d;
  var s = 0.0;
  for (var r = 0u; r < q.n; r++) {
    if (idx[r] == v) { s += x[r * q.d + col]; }
  }
  yi[i] = s;
}

// yi[n, c] = (idx[n] == c); q.n rows, q.d = C classes
@compute @workgroup_size(WG)
fn one_hot(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= q.n * q.d) { return; }
  let row = i / q.d;
  let col = i32(i % q.d);
  yi[i] = select(0.0, 1.0, idx[row] == col);
}
