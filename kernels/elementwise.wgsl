// Elementwise family: unary math ops with their backward, fill, and in-place accumulate.
//
// Bindings (every entry): x / gy read-only f32 arrays, y / gx read_write f32 arrays, `p` uniform.
// Shapes: flat; n elements. Threads: 1-D over a 2-D grid (index = gid.x + gid.y * 65535·WG-ish,
// computed from num_workgroups so n may exceed 65535 workgroups).
// vec4 entries (`…4`): when n % 4 == 0 the host binds the same buffers as vec4 arrays (x4, y4, gy4)
// and runs one thread per 4 elements, applying the same scalar function to each lane (bit-identical
// results). On a CPU driver every load is a per-lane loop, so one 16-byte load instead of four
// 4-byte loads is what counts (bench/README.md's optimisation log has the measurement).
// OP (override, compile-time): one of the OP_* codes — neg, exp, log, sqrt, pow(x, a), abs, relu,
//   silu, gelu (tanh form), sigmoid, tanh, sin, cos, affine a·x + b. The OP_* constants are not
//   declared here: the host prepends them from src/tensor/opcodes.ts (UNARY) when it registers the
//   family, so TypeScript and WGSL share one table.
// Forward and backward of each op sit side by side in `f` and `df`; the backward recomputes from x
// (cheaper than keeping y alive, and exact for every op here).
// Numerics: sigmoid and tanh are written in the form that cannot overflow (exp of a non-positive
// argument only); tanh uses a series near 0 and derivatives avoid 1 − s / 1 − t² cancellation, so
// values and gradients keep relative accuracy in the tails (sigmoid(±50), tanh'(20), gelu(−6)).
// pow handles negative bases with integer exponents and 0^a explicitly, because WGSL's pow is
// undefined for x ≤ 0.

struct Params { n: u32, a: f32, b: f32, _pad: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override OP: u32 = 0u;
const WG: u32 = 256u;

// NaN / ±inf as private variables: WGSL forbids them in constant expressions.
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;

fn sigmoid(v: f32) -> f32 {
  if (v >= 0.0) { return 1.0 / (1.0 + exp(-v)); }
  let e = exp(v);
  return e / (1.0 + e);
}

// Near 0 the exp form cancels in 1 − e^{−2|v|} (tanh(1e-30) came out as 3e-8), so |v| < 0.25
// uses the Taylor series to v¹¹ (the next term is < 3e-10 relative there).
fn tanh_stable(v: f32) -> f32 {
  let z = abs(v);
  if (z < 0.25) {
    let v2 = v * v;
    return v * (1.0 + v2 * (-0.33333334 + v2 * (0.13333334 + v2 * (-0.053968254 + v2 * (0.021869488 + v2 * -0.0088632355)))));
  }
  let t = exp(-2.0 * z);
  return sign(v) * (1.0 - t) / (1.0 + t);
}

// 1 − tanh²(v) = 4e/(1 + e)², e = e^{−2|v|}: no cancellation, so the tails keep relative accuracy.
fn sech2(v: f32) -> f32 {
  let e = exp(-2.0 * abs(v));
  let d = 1.0 + e;
  return 4.0 * e / (d * d);
}

fn is_int(a: f32) -> bool { return floor(a) == a; }

fn pow_real(v: f32, a: f32) -> f32 {
  if (a == 0.0) { return 1.0; }
  if (v == 0.0) {
    if (a > 0.0) { return 0.0; }
    return bitcast<f32>(INF_BITS); // +inf
  }
  if (v > 0.0) { return pow(v, a); }
  if (!is_int(a)) { return bitcast<f32>(NAN_BITS); } // NaN: negative base, fractional power
  let m = pow(-v, a);
  if (fract(a * 0.5) != 0.0) { return -m; }
  return m;
}

const GELU_C: f32 = 0.7978845608028654; // sqrt(2/pi)
const GELU_K: f32 = 0.044715;

fn f(v: f32) -> f32 {
  switch OP {
    case OP_NEG: { return -v; }
    case OP_EXP: { return exp(v); }
    // log(0) = −∞ and log(x < 0) = NaN explicitly: WGSL leaves both undefined (SwiftShader gave −88)
    case OP_LOG: {
      if (v == 0.0) { return bitcast<f32>(NEG_INF_BITS); }
      if (v < 0.0) { return bitcast<f32>(NAN_BITS); }
      return log(v);
    }
    case OP_SQRT: { return sqrt(v); }
    case OP_POW: { return pow_real(v, p.a); }
    case OP_ABS: { return abs(v); }
    case OP_RELU: { return max(v, 0.0); }
    case OP_SILU: { return v * sigmoid(v); }
    // 0.5·(1 + tanh u) = sigmoid(2u): same function, without the cancellation for negative v
    case OP_GELU: { return v * sigmoid(2.0 * GELU_C * (v + GELU_K * v * v * v)); }
    case OP_SIGMOID: { return sigmoid(v); }
    case OP_TANH: { return tanh_stable(v); }
    case OP_SIN: { return sin_acc(v); }
    case OP_COS: { return cos_acc(v); }
    case OP_AFFINE: { return p.a * v + p.b; }
    default: { return bitcast<f32>(NAN_BITS); }
  }
}

// d f / d x at v
fn df(v: f32) -> f32 {
  switch OP {
    case OP_NEG: { return -1.0; }
    case OP_EXP: { return exp(v); }
    case OP_LOG: { return 1.0 / v; }
    case OP_SQRT: { return 0.5 / sqrt(v); }
    case OP_POW: { return p.a * pow_real(v, p.a - 1.0); }
    case OP_ABS: { return sign(v); }
    case OP_RELU: { return select(0.0, 1.0, v > 0.0); }
    // 1 − sigmoid(v) is computed as sigmoid(−v): exact in the tails where 1 − s would round to 0
    case OP_SILU: { let s = sigmoid(v); return s * (1.0 + v * sigmoid(-v)); }
    case OP_GELU: {
      // |v| > 10: sigmoid(2u) is 0 or 1 to f32 precision and the second term < 1e-35; returning
      // the limit also avoids 0·inf = NaN once v² overflows.
      if (abs(v) > 10.0) { return select(0.0, 1.0, v > 0.0); }
      let w = 2.0 * GELU_C * (v + GELU_K * v * v * v);
      let s = sigmoid(w);
      return s + v * s * sigmoid(-w) * 2.0 * GELU_C * (1.0 + 3.0 * GELU_K * v * v);
    }
    case OP_SIGMOID: { return sigmoid(v) * sigmoid(-v); }
    case OP_TANH: { return sech2(v); }
    case OP_SIN: { return cos_acc(v); }
    case OP_COS: { return -sin_acc(v); }
    case OP_AFFINE: { return p.a; }
    default: { return bitcast<f32>(NAN_BITS); }
  }
}

fn index(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// y = f(x)
@compute @workgroup_size(WG)
fn unary_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n) { y[i] = f(x[i]); }
}

// y (the input gradient) = gy · f'(x); gy is bound as `x2`.
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@compute @workgroup_size(WG)
fn unary_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n) { y[i] = gy[i] * df(x[i]); }
}

// y = a (fill); x unused
@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n) { y[i] = p.a; }
}

// y = a·x + b·y, in place on y (gradient accumulation, axpy, scaling)
@compute @workgroup_size(WG)
fn axpby(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n) { y[i] = p.a * x[i] + p.b * y[i]; }
}

// ------------------------------------------------------------------ vec4 entries (n % 4 == 0)

@group(0) @binding(0) var<storage, read> x4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(3) var<storage, read> gy4: array<vec4f>;

@compute @workgroup_size(WG)
fn unary_forward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n / 4u) {
    let v = x4[i];
    y4[i] = vec4f(f(v.x), f(v.y), f(v.z), f(v.w));
  }
}

@compute @workgroup_size(WG)
fn unary_backward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n / 4u) {
    let v = x4[i];
    y4[i] = gy4[i] * vec4f(df(v.x), df(v.y), df(v.z), df(v.w));
  }
}

@compute @workgroup_size(WG)
fn fill4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n / 4u) { y4[i] = vec4f(p.a); }
}

@compute @workgroup_size(WG)
fn axpby4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i < p.n / 4u) { y4[i] = p.a * x4[i] + p.b * y4[i]; }
}
