// Binary family: c = a ∘ b with NumPy broadcasting.
//
// Bindings: a, b read-only f32; c read_write f32; `p` uniform.
// Shapes: c is contiguous with shape p.shape (rank ≤ 8, dims packed in two vec4u, outermost first);
//   a and b are read through strides p.sa / p.sb (a stride of 0 broadcasts that dimension).
//   The host collapses adjacent dimensions that are contiguous in a, b and c, so most calls run
//   with rank 1 or 2.
// OP (override): one of the OP_* codes — add, sub, mul, div, max, min, eq (1.0 where a == b, else
//   0.0), gt (1.0 where a > b), pow (a^b for a > 0). The OP_* constants are prepended by the host
//   from src/tensor/opcodes.ts (BINARY), the one table TypeScript and WGSL share.
// `same_shape` is the rank-1, unit-stride case with no index arithmetic.

struct Params {
  n: u32,
  rank: u32,
  _pad0: u32,
  _pad1: u32,
  shape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override OP: u32 = 0u;
const WG: u32 = 256u;

// NaN / ±inf as private variables: WGSL forbids them in constant expressions.
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;

fn op(u: f32, v: f32) -> f32 {
  switch OP {
    case OP_ADD: { return u + v; }
    case OP_SUB: { return u - v; }
    case OP_MUL: { return u * v; }
    case OP_DIV: { return u / v; }
    case OP_MAX: { return max(u, v); }
    case OP_MIN: { return min(u, v); }
    case OP_EQ: { return select(0.0, 1.0, u == v); }
    case OP_GT: { return select(0.0, 1.0, u > v); }
    case OP_POW: { return pow(u, v); }
    default: { return bitcast<f32>(NAN_BITS); }
  }
}

fn dim(v: array<vec4u, 2>, k: u32) -> u32 { return v[k / 4u][k % 4u]; }

@compute @workgroup_size(WG)
fn broadcast(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  // innermost dimension last
  for (var k = p.rank; k > 0u; k--) {
    let d = dim(p.shape, k - 1u);
    let q = rem % d;
    rem = rem / d;
    ia += q * dim(p.sa, k - 1u);
    ib += q * dim(p.sb, k - 1u);
  }
  c[i] = op(a[ia], b[ib]);
}

@compute @workgroup_size(WG)
fn same_shape(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) { c[i] = op(a[i], b[i]); }
}
