// Matmul family: C[b] = op(A[b]) · op(B[b]) (+ bias) (then activation), f32.
//
// Bindings: a, b, bias read-only f32; c read_write f32; `p` uniform.
// Shapes: op(A) is [M, K], op(B) is [K, N], C is [M, N] row-major, bias is [N].
//   TRANS_A = 0: A stored [M, K];  TRANS_A = 1: A stored [K, M] (so Aᵀ is used without a copy).
//   TRANS_B = 0: B stored [K, N];  TRANS_B = 1: B stored [N, K] (a Linear weight [out, in]).
//   Batched: workgroup z = batch index; element offsets p.sa, p.sb, p.sc per batch (0 broadcasts).
// Tiling (v1): 64×64 output tile per workgroup of 16×16 threads, each thread a 4×4 register block;
//   K advances by 16 through two 16×64 tiles in workgroup memory, stored k-major so the inner loop
//   reads one vec4 of A and one of B and does 16 FMAs. Loads are bounds-checked (zero padding), the
//   FMA loop is not, so any M, N, K work, including sizes that are not multiples of the tile.
// Epilogue (overrides): HAS_BIAS adds bias[n]; ACT 0 none, 1 relu, 2 silu — fused into the store.
//   Training keeps ACT = 0 (the backward needs the pre-activation); sampling fuses.

struct Params { m: u32, n: u32, k: u32, _pad: u32, sa: u32, sb: u32, sc: u32, _pad2: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override TRANS_A: u32 = 0u;
override TRANS_B: u32 = 0u;
override HAS_BIAS: u32 = 0u;
override ACT: u32 = 0u;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> As: array<vec4f, 256>; // [BK][BM/4]
var<workgroup> Bs: array<vec4f, 256>; // [BK][BN/4]

fn load_a(base: u32, row: u32, kk: u32) -> f32 {
  if (row >= p.m || kk >= p.k) { return 0.0; }
  if (TRANS_A == 1u) { return a[base + kk * p.m + row]; }
  return a[base + row * p.k + kk];
}

fn load_b(base: u32, kk: u32, col: u32) -> f32 {
  if (col >= p.n || kk >= p.k) { return 0.0; }
  if (TRANS_B == 1u) { return b[base + col * p.k + kk]; }
  return b[base + kk * p.n + col];
}

fn act(v: f32) -> f32 {
  if (ACT == 1u) { return max(v, 0.0); }
  if (ACT == 2u) {
    if (v >= 0.0) { return v / (1.0 + exp(-v)); }
    let e = exp(v);
    return v * e / (1.0 + e);
  }
  return v;
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
          @builtin(local_invocation_index) tid: u32) {
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let abase = wid.z * p.sa;
  let bbase = wid.z * p.sb;
  let cbase = wid.z * p.sc;
  var acc: array<vec4f, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4f(0.0); }

  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    // Each of the 256 threads loads 4 elements of each tile.
    for (var j = 0u; j < 4u; j++) {
      let e = tid + 256u * j;
      // A tile element (row r, k kk); consecutive threads walk k (contiguous when TRANS_A = 0)
      var r: u32; var kk: u32;
      if (TRANS_A == 1u) { r = e % BM; kk = e / BM; } else { r = e / BK; kk = e % BK; }
      As[kk * 16u + r / 4u][r % 4u] = load_a(abase, m0 + r, k0 + kk);
      // B tile element (k kk, column cc); consecutive threads walk n (contiguous when TRANS_B = 0)
      var cc: u32; var kb: u32;
      if (TRANS_B == 1u) { cc = e / BK; kb = e % BK; } else { cc = e % BN; kb = e / BN; }
      Bs[kb * 16u + cc / 4u][cc % 4u] = load_b(bbase, k0 + kb, n0 + cc);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let av = As[kk * 16u + lid.y];
      let bv = Bs[kk * 16u + lid.x];
      acc[0] = fma(vec4f(av.x), bv, acc[0]);
      acc[1] = fma(vec4f(av.y), bv, acc[1]);
      acc[2] = fma(vec4f(av.z), bv, acc[2]);
      acc[3] = fma(vec4f(av.w), bv, acc[3]);
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let row = m0 + lid.y * 4u + i;
    if (row >= p.m) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = n0 + lid.x * 4u + j;
      if (col >= p.n) { continue; }
      var v = acc[i][j];
      if (HAS_BIAS == 1u) { v += bias[col]; }
      c[cbase + row * p.n + col] = act(v);
    }
  }
}
