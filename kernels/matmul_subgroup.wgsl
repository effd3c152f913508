// Matmul for CPU adapters with 8-wide subgroups (Mesa's lavapipe / llvmpipe, and any adapter whose
// subgroups are exactly 8 lanes): C[b] = op(A[b])·op(B[b]) (+ bias) (then activation), f32.
// Chosen by src/tensor/matmul.ts; the general kernel in matmul.wgsl handles what this one cannot.
//
// Bindings: a, b, bias read-only, c read_write, all viewed as array<vec4f>; `p` uniform (the same
//   Params as matmul.wgsl). Shapes and TRANS_A / TRANS_B / HAS_BIAS / ACT as in matmul.wgsl.
// Requirements (checked by the caller): M % 32 == 0, N % (32·P4) == 0, K % 8 == 0, batch offsets
//   multiples of 4 — the caller runs this kernel on the largest such block of C and the general
//   kernel on the edge strips.
// Layout: one workgroup = one subgroup of 8 lanes computes a 32 × 32·P4 block of C. Lane l owns
//   the P4 column quadruples starting at column 4·(8·P4·wx + P4·l) and all 32 rows, so each lane
//   holds 32·P4 vec4 accumulators. K advances by 8 per iteration:
//   - B (the per-lane operand): each lane loads its own 8·P4 vec4 of B (TRANS_B = 1 loads vec4 along
//     K and transposes in registers, which on a SIMD-across-lanes CPU driver costs nothing).
//   - A (the operand all lanes share): the 32 × 8 A values of the iteration are loaded once by the
//     subgroup, one vec4 per lane per 4 rows (8 loads per lane), and handed to every lane with
//     subgroupBroadcast (an extract and a splat on a CPU driver).
//   The inner block is written out (rows4_n / rows4_t), not looped: lavapipe does not unroll loops
//   of this size, and a dynamically indexed accumulator array lands in scratch memory.
// Why this shape (measured on lavapipe, Mesa 25.0, 2 Zen cores): every storage or workgroup load
//   in a loop goes through a per-lane scalar path (an extract, a bounds check and an insert per
//   lane and component, ≈20–30 instructions per float), even when the address is uniform, while the
//   arithmetic costs ¼ instruction per lane-FMA. Speed therefore tracks FLOPs per loaded float.
//   The 64×64 shared-memory tile of matmul.wgsl v1 loads 8 floats per 16 FMAs per lane (≈1.8
//   GFLOP/s); a thread-private 8×8 register block from storage, 16 floats per 64 FMAs (≈4 GFLOP/s);
//   this kernel 32·P4/8 + 4·P4 floats per 128·P4 FMAs per lane (≈9–11 GFLOP/s). See the variant
//   log in matmul.wgsl.
// Numerics: one fma per product, k ascending, like the general kernel (same bound: k·2⁻²⁴·Σ|a||b|).

enable subgroups;

struct Params { m: u32, n: u32, k: u32, row0: u32, sa: u32, sb: u32, sc: u32, col0: u32 }

@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;
@group(0) @binding(4) var<uniform> p: Params;

override TRANS_A: u32 = 0u;
override TRANS_B: u32 = 0u;
override HAS_BIAS: u32 = 0u;
override ACT: u32 = ACT_NONE;
/** vec4 column groups per lane: 1 (block 32×32) or 2 (block 32×64). */
override P4: u32 = 2u;

fn f(x: f32, bv: vec4f, acc: vec4f) -> vec4f {
  return fma(vec4f(x), bv, acc);
}

// A rows r = 0..3 of a 4-row group, k = 0..7, lane-distributed as loaded with TRANS_A = 0:
// lane 2r + h holds A[r][4h .. 4h + 3], so A[r][kk] is component kk % 4 of lane 2r + kk / 4.
fn rows4_n(acc: array<vec4f, 4>, v: vec4f, bv: array<vec4f, 8>) -> array<vec4f, 4> {
  var o = acc;
  o[0] = f(subgroupBroadcast(v.x, 0u), bv[0], o[0]); o[0] = f(subgroupBroadcast(v.y, 0u), bv[1], o[0]);
  o[0] = f(subgroupBroadcast(v.z, 0u), bv[2], o[0]); o[0] = f(subgroupBroadcast(v.w, 0u), bv[3], o[0]);
  o[0] = f(subgroupBroadcast(v.x, 1u), bv[4], o[0]); o[0] = f(subgroupBroadcast(v.y, 1u), bv[5], o[0]);
  o[0] = f(subgroupBroadcast(v.z, 1u), bv[6], o[0]); o[0] = f(subgroupBroadcast(v.w, 1u), bv[7], o[0]);
  o[1] = f(subgroupBroadcast(v.x, 2u), bv[0], o[1]); o[1] = f(subgroupBroadcast(v.y, 2u), bv[1], o[1]);
  o[1] = f(subgroupBroadcast(v.z, 2u), bv[2], o[1]); o[1] = f(subgroupBroadcast(v.w, 2u), bv[3], o[1]);
  o[1] = f(subgroupBroadcast(v.x, 3u), bv[4], o[1]); o[1] = f(subgroupBroadcast(v.y, 3u), bv[5], o[1]);
  o[1] = f(subgroupBroadcast(v.z, 3u), bv[6], o[1]); o[1] = f(subgroupBroadcast(v.w, 3u), bv[7], o[1]);
  o[2] = f(subgroupBroadcast(v.x, 4u), bv[0], o[2]); o[2] = f(subgroupBroadcast(v.y, 4u), bv[1], o[2]);
  o[2] = f(subgroupBroadcast(v.z, 4u), bv[2], o[2]); o[2] = f(subgroupBroadcast(v.w, 4u), bv[3], o[2]);
  o[2] = f(subgroupBroadcast(v.x, 5u), bv[4], o[2]); o[2] = f(subgroupBroadcast(v.y, 5u), bv[5], o[2]);
  o[2] = f(subgroupBroadcast(v.z, 5u), bv[6], o[2]); o[2] = f(subgroupBroadcast(v.w, 5u), bv[7], o[2]);
  o[3] = f(subgroupBroadcast(v.x, 6u), bv[0], o[3]); o[3] = f(subgroupBroadcast(v.y, 6u), bv[1], o[3]);
  o[3] = f(subgroupBroadcast(v.z, 6u), bv[2], o[3]); o[3] = f(subgroupBroadcast(v.w, 6u), bv[3], o[3]);
  o[3] = f(subgroupBroadcast(v.x, 7u), bv[4], o[3]); o[3] = f(subgroupBroadcast(v.y, 7u), bv[5], o[3]);
  o[3] = f(subgroupBroadcast(v.z, 7u), bv[6], o[3]); o[3] = f(subgroupBroadcast(v.w, 7u), bv[7], o[3]);
  return o;
}

// The same with A loaded as with TRANS_A = 1: lane kk holds A[0..3][kk], so A[r][kk] is component r
// of lane kk.
fn rows4_t(acc: array<vec4f, 4>, v: vec4f, bv: array<vec4f, 8>) -> array<vec4f, 4> {
  var o = acc;
  o[0] = f(subgroupBroadcast(v.x, 0u), bv[0], o[0]); o[0] = f(subgroupBroadcast(v.x, 1u), bv[1], o[0]);
  o[0] = f(subgroupBroadcast(v.x, 2u), bv[2], o[0]); o[0] = f(subgroupBroadcast(v.x, 3u), bv[3], o[0]);
  o[0] = f(subgroupBroadcast(v.x, 4u), bv[4], o[0]); o[0] = f(subgroupBroadcast(v.x, 5u), bv[5], o[0]);
  o[0] = f(subgroupBroadcast(v.x, 6u), bv[6], o[0]); o[0] = f(subgroupBroadcast(v.x, 7u), bv[7], o[0]);
  o[1] = f(subgroupBroadcast(v.y, 0u), bv[0], o[1]); o[1] = f(subgroupBroadcast(v.y, 1u), bv[1], o[1]);
  o[1] = f(subgroupBroadcast(v.y, 2u), bv[2], o[1]); o[1] = f(subgroupBroadcast(v.y, 3u), bv[3], o[1]);
  o[1] = f(subgroupBroadcast(v.y, 4u), bv[4], o[1]); o[1] = f(subgroupBroadcast(v.y, 5u), bv[5], o[1]);
  o[1] = f(subgroupBroadcast(v.y, 6u), bv[6], o[1]); o[1] = f(subgroupBroadcast(v.y, 7u), bv[7], o[1]);
  o[2] = f(subgroupBroadcast(v.z, 0u), bv[0], o[2]); o[2] = f(subgroupBroadcast(v.z, 1u), bv[1], o[2]);
  o[2] = f(subgroupBroadcast(v.z, 2u), bv[2], o[2]); o[2] = f(subgroupBroadcast(v.z, 3u), bv[3], o[2]);
  o[2] = f(subgroupBroadcast(v.z, 4u), bv[4], o[2]); o[2] = f(subgroupBroadcast(v.z, 5u), bv[5], o[2]);
  o[2] = f(subgroupBroadcast(v.z, 6u), bv[6], o[2]); o[2] = f(subgroupBroadcast(v.z, 7u), bv[7], o[2]);
  o[3] = f(subgroupBroadcast(v.w, 0u), bv[0], o[3]); o[3] = f(subgroupBroadcast(v.w, 1u), bv[1], o[3]);
  o[3] = f(subgroupBroadcast(v.w, 2u), bv[2], o[3]); o[3] = f(subgroupBroadcast(v.w, 3u), bv[3], o[3]);
  o[3] = f(subgroupBroadcast(v.w, 4u), bv[4], o[3]); o[3] = f(subgroupBroadcast(v.w, 5u), bv[5], o[3]);
  o[3] = f(subgroupBroadcast(v.w, 6u), bv[6], o[3]); o[3] = f(subgroupBroadcast(v.w, 7u), bv[7], o[3]);
  return o;
}

fn rows4(acc: array<vec4f, 4>, v: vec4f, bv: array<vec4f, 8>) -> array<vec4f, 4> {
  if (TRANS_A == 1u) { return rows4_t(acc, v, bv); }
  return rows4_n(acc, v, bv);
}

// This lane's share of the 32 × 8 A values at (row0, k0) for the 4-row group t (see rows4_n/_t).
fn load_a(base: u32, row0: u32, k0: u32, t: u32, l: u32) -> vec4f {
  if (TRANS_A == 1u) { return a[base + (k0 + l) * (p.m / 4u) + row0 / 4u + t]; }
  return a[base + (row0 + 4u * t + l / 2u) * (p.k / 4u) + k0 / 4u + l % 2u];
}

// B[k0 + kk][4·q .. 4·q + 3] for kk = 0..7: this lane's column quadruple q.
fn load_b(base: u32, q: u32, k0: u32) -> array<vec4f, 8> {
  var o: array<vec4f, 8>;
  if (TRANS_B == 1u) {
    // B stored [N, K]: two vec4 along K per column, then a register transpose.
    let k4 = p.k / 4u;
    let r0 = base + 4u * q * k4 + k0 / 4u;
    let c0l = b[r0]; let c0h = b[r0 + 1u];
    let c1l = b[r0 + k4]; let c1h = b[r0 + k4 + 1u];
    let c2l = b[r0 + 2u * k4]; let c2h = b[r0 + 2u * k4 + 1u];
    let c3l = b[r0 + 3u * k4]; let c3h = b[r0 + 3u * k4 + 1u];
    o[0] = vec4f(c0l.x, c1l.x, c2l.x, c3l.x); o[1] = vec4f(c0l.y, c1l.y, c2l.y, c3l.y);
    o[2] = vec4f(c0l.z, c1l.z, c2l.z, c3l.z); o[3] = vec4f(c0l.w, c1l.w, c2l.w, c3l.w);
    o[4] = vec4f(c0h.x, c1h.x, c2h.x, c3h.x); o[5] = vec4f(c0h.y, c1h.y, c2h.y, c3h.y);
    o[6] = vec4f(c0h.z, c1h.z, c2h.z, c3h.z); o[7] = vec4f(c0h.w, c1h.w, c2h.w, c3h.w);
    return o;
  }
  let n4 = p.n / 4u;
  let r0 = base + k0 * n4 + q;
  o[0] = b[r0]; o[1] = b[r0 + n4]; o[2] = b[r0 + 2u * n4]; o[3] = b[r0 + 3u * n4];
  o[4] = b[r0 + 4u * n4]; o[5] = b[r0 + 5u * n4]; o[6] = b[r0 + 6u * n4]; o[7] = b[r0 + 7u * n4];
  return o;
}

fn act4(v: vec4f) -> vec4f {
  if (ACT == ACT_RELU) { return max(v, vec4f(0.0)); }
  if (ACT == ACT_SILU) {
    // silu, without overflow for large |v|: v·σ(v) with σ computed from exp(−|v|)
    let e = exp(-abs(v));
    return v * select(e / (1.0 + e), 1.0 / (1.0 + e), v >= vec4f(0.0));
  }
  return v;
}

fn store4(base: u32, row: u32, q: u32, acc: array<vec4f, 4>) {
  let n4 = p.n / 4u;
  var bq = vec4f(0.0);
  if (HAS_BIAS == 1u) { bq = bias[q]; }
  c[base + row * n4 + q] = act4(acc[0] + bq);
  c[base + (row + 1u) * n4 + q] = act4(acc[1] + bq);
  c[base + (row + 2u) * n4 + q] = act4(acc[2] + bq);
  c[base + (row + 3u) * n4 + q] = act4(acc[3] + bq);
}

@compute @workgroup_size(8)
fn matmul_sg8(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) l: u32) {
  let row0 = wid.y * 32u;
  let q0 = (wid.x * 8u + l) * P4; // this lane's first column quadruple
  let abase = wid.z * (p.sa / 4u);
  let bbase = wid.z * (p.sb / 4u);
  let cbase = wid.z * (p.sc / 4u);
  // acc[t] (and acc[8 + t] for the second quadruple): rows 4t .. 4t + 3
  var acc: array<array<vec4f, 4>, 16>;
  for (var k0 = 0u; k0 < p.k; k0 += 8u) {
    let a0 = load_a(abase, row0, k0, 0u, l); let a1 = load_a(abase, row0, k0, 1u, l);
    let a2 = load_a(abase, row0, k0, 2u, l); let a3 = load_a(abase, row0, k0, 3u, l);
    let a4 = load_a(abase, row0, k0, 4u, l); let a5 = load_a(abase, row0, k0, 5u, l);
    let a6 = load_a(abase, row0, k0, 6u, l); let a7 = load_a(abase, row0, k0, 7u, l);
    let b0 = load_b(bbase, q0, k0);
    acc[0] = rows4(acc[0], a0, b0); acc[1] = rows4(acc[1], a1, b0);
    acc[2] = rows4(acc[2], a2, b0); acc[3] = rows4(acc[3], a3, b0);
    acc[4] = rows4(acc[4], a4, b0); acc[5] = rows4(acc[5], a5, b0);
    acc[6] = rows4(acc[6], a6, b0); acc[7] = rows4(acc[7], a7, b0);
    if (P4 == 2u) {
      let b1 = load_b(bbase, q0 + 1u, k0);
      acc[8] = rows4(acc[8], a0, b1); acc[9] = rows4(acc[9], a1, b1);
      acc[10] = rows4(acc[10], a2, b1); acc[11] = rows4(acc[11], a3, b1);
      acc[12] = rows4(acc[12], a4, b1); acc[13] = rows4(acc[13], a5, b1);
      acc[14] = rows4(acc[14], a6, b1); acc[15] = rows4(acc[15], a7, b1);
    }
  }
  store4(cbase, row0, q0, acc[0]); store4(cbase, row0 + 4u, q0, acc[1]);
  store4(cbase, row0 + 8u, q0, acc[2]); store4(cbase, row0 + 12u, q0, acc[3]);
  store4(cbase, row0 + 16u, q0, acc[4]); store4(cbase, row0 + 20u, q0, acc[5]);
  store4(cbase, row0 + 24u, q0, acc[6]); store4(cbase, row0 + 28u, q0, acc[7]);
  if (P4 == 2u) {
    let q1 = q0 + 1u;
    store4(cbase, row0, q1, acc[8]); store4(cbase, row0 + 4u, q1, acc[9]);
    store4(cbase, row0 + 8u, q1, acc[10]); store4(cbase, row0 + 12u, q1, acc[11]);
    store4(cbase, row0 + 16u, q1, acc[12]); store4(cbase, row0 + 20u, q1, acc[13]);
    store4(cbase, row0 + 24u, q1, acc[14]); store4(cbase, row0 + 28u, q1, acc[15]);
  }
}
