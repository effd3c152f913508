// Random family: Philox4x32-10 counter-based generator (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC'11; the Random123 reference), uniforms in the open interval (0, 1) and
// Box–Muller normals.
//
// Counter-based: a draw is a pure function of (key, counter), so any thread can draw any number
// without state, the same bits come out on every launch geometry, and the CPU can reproduce them
// (src/flow/random.ts holds the bit-exact TypeScript mirror). flowgpu's layout:
//   key     = (seed_lo, seed_hi)                    — the run's seed
//   counter = (step_lo, index, stream, step_hi)     — the step, an element-group index, a stream id
// One call gives 4 words; element i of a fill uses word i % 4 of the call with index ⌊i / 4⌋, so
// a tensor of n values costs ⌈n/4⌉ calls. Streams keep the draws of different quantities (x0, t,
// label dropout, Gumbel noise, user fills) independent: the stream ids are in src/flow/random.ts.
//
// Numerics:
//   - mulhilo without 64-bit integers (WGSL has none): 16-bit halves, exact.
//   - u01(x) = (⌊x / 2⁹⌋ + ½)·2⁻²³: 2²³ equally spaced values, smallest 2⁻²⁴, largest 1 − 2⁻²⁴,
//     every step exact in f32, so a uniform is never exactly 0 or 1 and the CPU mirror is bit-exact.
//     (A 24-bit variant would round its top value to 1.0.)
//   - Box–Muller: r = √(−2 ln u1), θ = 2π·u2 − π (kept inside [−π, π], where WGSL specifies sin/cos
//     to 2⁻¹¹ absolute; real drivers do far better), z = (r cos θ, r sin θ). |z| ≤ √(48 ln 2) ≈ 5.77:
//     the tail beyond is cut (probability 8·10⁻⁹). Normals are not bit-exact across drivers (log,
//     sin, cos differ in the last bits); uniforms and raw words are.
//
// Everything above the line `// ==== entry points ====` is a library with no bindings: other
// families (flow, sinkhorn, sde) are registered as that library followed by their own file.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// (high word, low word) of the 64-bit product a·b.
// (Parameter names are prefixed: wgsl_reflect does not model shadowing, and a parameter named like a
// binding of a family that includes this library would make it look used.)
fn mulhilo(mh_a: u32, mh_b: u32) -> vec2u {
  let a0 = mh_a & 0xffffu;
  let a1 = mh_a >> 16u;
  let b0 = mh_b & 0xffffu;
  let b1 = mh_b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2u(hi, mh_a * mh_b);
}

fn philox4x32_10(ph_ctr: vec4u, ph_key: vec2u) -> vec4u {
  var c = ph_ctr;
  var k = ph_key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k = k + vec2u(PHILOX_W0, PHILOX_W1); }
    let m0 = mulhilo(PHILOX_M0, c.x);
    let m1 = mulhilo(PHILOX_M1, c.z);
    c = vec4u(m1.x ^ c.y ^ k.x, m1.y, m0.x ^ c.w ^ k.y, m0.y);
  }
  return c;
}

// Uniform in (0, 1), never 0 or 1.
fn u01(u_word: u32) -> f32 {
  return (f32(u_word >> 9u) + 0.5) * 1.1920928955078125e-7;
}

// Two independent N(0, 1) from two independent uniforms in (0, 1).
fn box_muller(bm_u1: f32, bm_u2: f32) -> vec2f {
  let r = sqrt(-2.0 * log(bm_u1));
  let th = 6.283185307179586 * bm_u2 - 3.141592653589793;
  let sc = sincos_acc(th);
  return r * vec2f(sc.y, sc.x);
}

// Four normals from one Philox call.
fn normal4(n4_bits: vec4u) -> vec4f {
  let z01 = box_muller(u01(n4_bits.x), u01(n4_bits.y));
  let z23 = box_muller(u01(n4_bits.z), u01(n4_bits.w));
  return vec4f(z01, z23);
}

fn philox_at(pa_seed: vec2u, pa_step: vec2u, pa_index: u32, pa_stream: u32) -> vec4u {
  return philox4x32_10(vec4u(pa_step.x, pa_index, pa_stream, pa_step.y), pa_seed);
}

// ==== entry points ====
//
// fill_uniform — out f32 [n]: out[i] = a + (b − a)·u01(word i%4 of philox_at(seed, step, ⌊i/4⌋, stream)).
// fill_normal  — out f32 [n]: out[i] = a + b·z, z the (i%4)-th normal of normal4 of the same call.
// philox_words — ctr i32 [6n] (counter words c0..c3 then key k0, k1, per item) → words i32 [4n]:
//   the raw generator on arbitrary inputs (known-answer tests against Random123's vectors).
// One thread per group of 4 elements (one Philox call).

struct RandParams {
  n: u32,
  stream: u32,
  seed: vec2u,
  step: vec2u,
  a: f32,
  b: f32,
}

@group(0) @binding(0) var<storage, read_write> rnd_out: array<f32>;
@group(0) @binding(1) var<storage, read> rnd_ctr: array<i32>;
@group(0) @binding(2) var<storage, read_write> rnd_words: array<i32>;
@group(0) @binding(3) var<uniform> rp: RandParams;

const RAND_WG: u32 = 256u;

@compute @workgroup_size(RAND_WG)
fn fill_uniform(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = gid.x + gid.y * nwg.x * RAND_WG;
  if (q * 4u >= rp.n) { return; }
  let w = philox_at(rp.seed, rp.step, q, rp.stream);
  for (var k = 0u; k < 4u; k++) {
    let i = q * 4u + k;
    if (i < rp.n) { rnd_out[i] = rp.a + (rp.b - rp.a) * u01(w[k]); }
  }
}

@compute @workgroup_size(RAND_WG)
fn fill_normal(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = gid.x + gid.y * nwg.x * RAND_WG;
  if (q * 4u >= rp.n) { return; }
  let z = normal4(philox_at(rp.seed, rp.step, q, rp.stream));
  for (var k = 0u; k < 4u; k++) {
    let i = q * 4u + k;
    if (i < rp.n) { rnd_out[i] = rp.a + rp.b * z[k]; }
  }
}

@compute @workgroup_size(RAND_WG)
fn philox_words(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * RAND_WG;
  if (j >= rp.n) { return; }
  let b = 6u * j;
  let c = bitcast<vec4u>(vec4i(rnd_ctr[b], rnd_ctr[b + 1u], rnd_ctr[b + 2u], rnd_ctr[b + 3u]));
  let k = bitcast<vec2u>(vec2i(rnd_ctr[b + 4u], rnd_ctr[b + 5u]));
  let w = philox4x32_10(c, k);
  for (var t = 0u; t < 4u; t++) { rnd_words[4u * j + t] = bitcast<i32>(w[t]); }
}
