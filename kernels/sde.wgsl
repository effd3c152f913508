// SDE family: one fused Euler–Maruyama step with its Gaussian noise drawn in the kernel, the noise
// fills the likelihood estimators need (Hutchinson probes, uniform dequantisation), and a
// known-answer entry for the PRNG (src/flow/sde.ts, src/flow/likelihood.ts).
//
// PRNG: Philox4x32-10 (Salmon et al., SC'11; Random123), counter-based: the output for
//   (counter, key) needs no state, so every thread draws its own numbers and a run is reproducible
//   from its seed. Key = (seed_lo, seed_hi); counter = (element i, step, stream, 0). One element per
//   thread uses the first two output words (the other two are dropped: simpler indexing, and
//   these kernels are memory-bound, not PRNG-bound). Checked bit for bit against Random123's
//   kat_vectors in test/sde.test.ts.
//   NOTE: a private copy; kernels/random.wgsl (written in parallel) holds the shared Philox. The two
//   are meant to be deduplicated.
// Uniform floats: (w >> 8)·2⁻²⁴ in [0, 1) (24 bits, exactly representable in f32).
// Normals: Box–Muller, z = sqrt(−2 ln u1)·cos(2π u2) with u1 in (0, 1] (never log 0).
//
// Bindings: x, v read-only f32 [n]; y read_write f32 [n] (yi for the i32 known-answer output);
//   `p` uniform. Flat tensors, one element per thread, 1-D over a 2-D grid.
// Entries:
//   em_step     y = x + h·(cv·v + cx·x) + gs·ξ, ξ ~ N(0, 1): Euler–Maruyama for
//               dx = [v + ½g²·s]dt + g·dW with the score s written as a linear function of v and x
//               (the host folds α, σ, their derivatives and g into cv, cx; gs = g·√h)
//   noise       y = N(0, 1) (MODE 0), Rademacher ±1 (MODE 1) or U[0, 1) (MODE 2)
//   dequantize  y = scale·(round(x·(L − 1)) + u)/L + shift, u ~ U[0, 1): uniform dequantisation of
//               pixel values x = k/(L − 1) in [0, 1] (L = levels, usually 256)
//   philox_kat  yi[4j..4j+3] = philox((ctr.x + j, ctr.y, ctr.z, ctr.w), key) (tests only)

struct Params {
  n: u32,
  step: u32,
  stream: u32,
  seed_lo: u32,
  seed_hi: u32,
  h: f32,
  cv: f32,
  cx: f32,
  gs: f32,
  levels: f32,
  scale: f32,
  shift: f32,
}

struct KatParams { n: u32, _p0: u32, key_lo: u32, key_hi: u32, ctr: vec4u }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override MODE: u32 = 0u;
const WG: u32 = 256u;
const TWO_PI: f32 = 6.283185307179586;
const INV_2_24: f32 = 5.9604644775390625e-8;

// ---------------------------------------------------------------- Philox4x32-10

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// High 32 bits of a 32×32-bit product, from 16-bit halves (WGSL has no 64-bit integers).
// No partial sum overflows: lh ≤ (2¹⁶−1)², plus two terms < 2¹⁶ each.
fn mulhi(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  let hh = ah * bh;
  let mid = (ll >> 16u) + (hl & 0xffffu) + lh;
  return hh + (hl >> 16u) + (mid >> 16u);
}

fn philox(counter: vec4u, key0: vec2u) -> vec4u {
  var c = counter;
  var k = key0;
  for (var r = 0u; r < 10u; r++) {
    let hi0 = mulhi(PHILOX_M0, c.x);
    let lo0 = PHILOX_M0 * c.x;
    let hi1 = mulhi(PHILOX_M1, c.z);
    let lo1 = PHILOX_M1 * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2u(PHILOX_W0, PHILOX_W1);
  }
  return c;
}

fn draw(i: u32) -> vec4u {
  return philox(vec4u(i, p.step, p.stream, 0u), vec2u(p.seed_lo, p.seed_hi));
}

fn uniform01(w: u32) -> f32 { return f32(w >> 8u) * INV_2_24; }

fn normal(r: vec4u) -> f32 {
  let u1 = f32((r.x >> 8u) + 1u) * INV_2_24; // (0, 1]
  let u2 = uniform01(r.y);
  return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}

fn index(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// ---------------------------------------------------------------- entries

@compute @workgroup_size(WG)
fn em_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let xi = x[i];
  y[i] = xi + p.h * (p.cv * v[i] + p.cx * xi) + p.gs * normal(draw(i));
}

@compute @workgroup_size(WG)
fn noise(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let r = draw(i);
  switch MODE {
    case 0u: { y[i] = normal(r); }
    case 1u: { y[i] = select(-1.0, 1.0, (r.x & 1u) == 1u); }
    default: { y[i] = uniform01(r.x); }
  }
}

@compute @workgroup_size(WG)
fn dequantize(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let k = round(clamp(x[i], 0.0, 1.0) * (p.levels - 1.0));
  y[i] = p.scale * (k + uniform01(draw(i).x)) / p.levels + p.shift;
}

@group(0) @binding(4) var<storage, read_write> yi: array<i32>;
@group(0) @binding(5) var<uniform> kp: KatParams;

@compute @workgroup_size(64)
fn philox_kat(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= kp.n) { return; }
  let r = philox(kp.ctr + vec4u(j, 0u, 0u, 0u), vec2u(kp.key_lo, kp.key_hi));
  for (var w = 0u; w < 4u; w++) { yi[4u * j + w] = bitcast<i32>(r[w]); }
}
