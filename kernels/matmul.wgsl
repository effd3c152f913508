// Matmul family: C[b] = op(A[b]) · op(B[b]) (+ bias) (then activation), f32.
//
// Bindings: a, b, bias read-only f32 (viewed as vec4 by the aligned variant); c read_write f32;
//   `p` uniform.
// Shapes: op(A) is [M, K], op(B) is [K, N], C is [M, N] row-major, bias is [N].
//   TRANS_A = 0: A stored [M, K];  TRANS_A = 1: A stored [K, M] (so Aᵀ is used without a copy).
//   TRANS_B = 0: B stored [K, N];  TRANS_B = 1: B stored [N, K] (a Linear weight [out, in]).
//   Batched: workgroup z = batch index; element offsets p.sa, p.sb, p.sc per batch (0 broadcasts).
//   p.row0, p.col0: the block of C a dispatch covers starts there (the general kernel fills the
//   edge strips the aligned variants leave).
// Epilogue (overrides): HAS_BIAS adds bias[n]; ACT is ACT_NONE, ACT_RELU or ACT_SILU — fused into the
//   store (the ACT_* constants are prepended by the host from src/tensor/opcodes.ts). Training keeps
//   ACT = ACT_NONE (the backward needs the pre-activation); sampling fuses.
// Numerics: every variant accumulates one fma per product with k ascending: |error| ≤ k·2⁻²⁴·Σ|a||b|.
//
// Entry points (src/tensor/matmul.ts picks one per call; kernels/matmul_subgroup.wgsl has the CPU one):
//   matmul        general: any M, N, K, bounds-checked loads.
//   matmul_small  CPU drivers, skinny products (a side ≤ 16: the toy MLP's input and output layers
//                 and their gradients): one output element per thread, K in a plain loop, no
//                 workgroup memory, no barriers. Any M, N, K.
//   matmul_skinny CPU drivers, skinny products with many outputs and a short K: an 8×4 register
//                 block per thread (the section at the end says why). Any M, N, K.
//   matmul_tiled  GPUs, full 128×128 tiles only (M, N multiples of 128 in the dispatched block,
//                 K % 8 == 0, vec4-aligned rows): 16×16 threads, each an 8×8 register block
//                 (two 4×4 quadrants 64 apart, so the shared-memory reads of a warp are
//                 conflict-free), K by 8 through vec4 tiles in workgroup memory, the next tile's
//                 global loads issued before the current tile's FMAs (register double buffering),
//                 no bounds checks.
//
// Variant log (GFLOP/s, C = A·B, both row-major; lavapipe = Mesa 25.0 llvmpipe on 2 Zen cores at
// ≈2 GHz, shared with other work, so ±20%; OpenBLAS sgemm through NumPy on the same cores reached
// 32 / 40 / 43 / 47 at 256 / 512 / 1024 / 2048):
//   v1  64×64 tile, 16×16 threads, 4×4 per thread, BK = 16 through workgroup memory, bounds-checked.
//       lavapipe: 1.4 (256), 1.8 (512), 1.7 (1024).
//   v2  no workgroup memory, each thread TM×TN outputs straight from storage, scalar B loads
//       (4×2: 1.4 at 512, 0.5 at 1024; 8×1: 0.65). Predicted to win on a CPU (no barriers); lost:
//       llvmpipe turns every storage or workgroup load into a per-lane scalar loop (extract, bounds
//       check, insert: ≈20–30 instructions per float), uniform addresses included, and barriers
//       were not the bottleneck.
//   v3  all loads uniform + lane selects, 8-wide workgroups (to make loads scalar): 0.3 at 512.
//       Uniform loads are not scalarised by this Mesa inside loops (the loop's exec mask) nor, it
//       turned out, outside them; the selects only added work.
//   v4  straight-line K chunks (no loop at all) with uniform loads: 0.04 — same per-lane loads,
//       plus a C read-modify-write per chunk.
//   v5  thread-private register block from storage, vec4 loads of A (along K) and B (along N),
//       k by 4: 4×4 1.1, 8×8 2.1, 8×8 with the FMAs ordered row by row (k innermost) 4.3,
//       16×8 5.0 (512). Speed follows FLOPs per loaded float, as the asm count predicted.
//   v6  (matmul_subgroup.wgsl, matmul_sg8) one 8-lane subgroup per 32 × 32·P4 block; A loaded once
//       per subgroup (one vec4 per lane) and shared with subgroupBroadcast, B per lane as vec4,
//       K by 8, block written out: P4 = 1: 8.1–9.2 (512), 7.9 (1024); P4 = 2: 9.5–11.7 (512),
//       9.6–10.6 (1024); 64 × 32: 10.9–11.0. Written with loops instead (NIR does not unroll them):
//       1.2. Shader compile time grows with the block (≈4 s for P4 = 1, ≈8 s for P4 = 2 on
//       lavapipe, once per pipeline; Mesa caches it on disk).
//   v7  matmul_small for skinny shapes on lavapipe, against v1 (whose 64×64 tiles are mostly
//       padding there): [1024,128]·[128,2] 0.01 → 0.19–0.28, [1024,3]·[3,128] 0.08 → 0.15,
//       [128,1024]·[1024,3] 0.04 → 0.33–0.37. In toy B's training step these three shapes took
//       ≈250 of ≈380 ms with v1.
//   v8  matmul_tiled (this file) for GPUs; not measured on a GPU yet (bench/README.md keeps the
//       numbers as they come).
//   v9  matmul_skinny: an 8×4 block of C per thread for skinny products with many outputs.
//       [10000,3]·[3,128] + bias + silu: 44 → 13.4 ms (v7 → v9); [10000,128]·[128,2]: 10.7 → 6.7 ms.

struct Params { m: u32, n: u32, k: u32, row0: u32, sa: u32, sb: u32, sc: u32, col0: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
// The same buffers as vec4 arrays, for matmul_tiled (an entry point uses one view or the other).
@group(0) @binding(0) var<storage, read> a4: array<vec4f>;
@group(0) @binding(1) var<storage, read> b4: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c4: array<vec4f>;

override TRANS_A: u32 = 0u;
override TRANS_B: u32 = 0u;
override HAS_BIAS: u32 = 0u;
override ACT: u32 = ACT_NONE;

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
  if (ACT == ACT_RELU) { return max(v, 0.0); }
  if (ACT == ACT_SILU) {
    if (v >= 0.0) { return v / (1.0 + exp(-v)); }
    let e = exp(v);
    return v * e / (1.0 + e);
  }
  return v;
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
          @builtin(local_invocation_index) tid: u32) {
  let m0 = p.row0 + wid.y * BM;
  let n0 = p.col0 + wid.x * BN;
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

// ------------------------------------------------------------------ matmul_tiled (GPUs)

var<workgroup> tA: array<vec4f, 256>; // [8][128/4], k-major
var<workgroup> tB: array<vec4f, 256>; // [8][128/4], k-major

// Thread tid's vec4 of the 128×8 A tile at (m0, k0), as stored in memory.
fn tiled_load_a(base: u32, m0: u32, k0: u32, tid: u32) -> vec4f {
  if (TRANS_A == 1u) { return a4[(base + (k0 + tid / 32u) * p.m + m0) / 4u + tid % 32u]; } // 4 rows at one k
  return a4[(base + (m0 + tid / 2u) * p.k + k0) / 4u + tid % 2u]; // 4 k at one row
}

fn tiled_put_a(v: vec4f, tid: u32) {
  if (TRANS_A == 1u) { tA[tid] = v; return; }
  let r = tid / 2u;
  let kq = (tid % 2u) * 4u;
  tA[kq * 32u + r / 4u][r % 4u] = v.x;
  tA[(kq + 1u) * 32u + r / 4u][r % 4u] = v.y;
  tA[(kq + 2u) * 32u + r / 4u][r % 4u] = v.z;
  tA[(kq + 3u) * 32u + r / 4u][r % 4u] = v.w;
}

// Thread tid's vec4 of the 8×128 B tile at (k0, n0), as stored in memory.
fn tiled_load_b(base: u32, n0: u32, k0: u32, tid: u32) -> vec4f {
  if (TRANS_B == 1u) { return b4[(base + (n0 + tid / 2u) * p.k + k0) / 4u + tid % 2u]; } // 4 k at one column
  return b4[(base + (k0 + tid / 32u) * p.n + n0) / 4u + tid % 32u]; // 4 columns at one k
}

fn tiled_put_b(v: vec4f, tid: u32) {
  if (TRANS_B == 0u) { tB[tid] = v; return; }
  let cc = tid / 2u;
  let kq = (tid % 2u) * 4u;
  tB[kq * 32u + cc / 4u][cc % 4u] = v.x;
  tB[(kq + 1u) * 32u + cc / 4u][cc % 4u] = v.y;
  tB[(kq + 2u) * 32u + cc / 4u][cc % 4u] = v.z;
  tB[(kq + 3u) * 32u + cc / 4u][cc % 4u] = v.w;
}

fn act4(v: vec4f) -> vec4f {
  return vec4f(act(v.x), act(v.y), act(v.z), act(v.w));
}

fn tiled_store(base: u32, row: u32, col: u32, v: vec4f) {
  var o = v;
  if (HAS_BIAS == 1u) { o += bias4[col / 4u]; }
  c4[(base + row * p.n + col) / 4u] = act4(o);
}

@compute @workgroup_size(16, 16)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
                @builtin(local_invocation_index) tid: u32) {
  let m0 = p.row0 + wid.y * 128u;
  let n0 = p.col0 + wid.x * 128u;
  let abase = wid.z * p.sa;
  let bbase = wid.z * p.sb;
  let cbase = wid.z * p.sc;
  // acc[4q + i]: row (q / 2)·64 + 4·ty + i, columns (q % 2)·64 + 4·tx .. + 3
  var acc: array<vec4f, 16>;
  var ra = tiled_load_a(abase, m0, 0u, tid);
  var rb = tiled_load_b(bbase, n0, 0u, tid);
  for (var k0 = 0u; k0 < p.k; k0 += 8u) {
    tiled_put_a(ra, tid);
    tiled_put_b(rb, tid);
    workgroupBarrier();
    if (k0 + 8u < p.k) {
      ra = tiled_load_a(abase, m0, k0 + 8u, tid);
      rb = tiled_load_b(bbase, n0, k0 + 8u, tid);
    }
    for (var kk = 0u; kk < 8u; kk++) {
      let a0 = tA[kk * 32u + lid.y];
      let a1 = tA[kk * 32u + 16u + lid.y];
      let b0 = tB[kk * 32u + lid.x];
      let b1 = tB[kk * 32u + 16u + lid.x];
      acc[0] = fma(vec4f(a0.x), b0, acc[0]);
      acc[1] = fma(vec4f(a0.y), b0, acc[1]);
      acc[2] = fma(vec4f(a0.z), b0, acc[2]);
      acc[3] = fma(vec4f(a0.w), b0, acc[3]);
      acc[4] = fma(vec4f(a0.x), b1, acc[4]);
      acc[5] = fma(vec4f(a0.y), b1, acc[5]);
      acc[6] = fma(vec4f(a0.z), b1, acc[6]);
      acc[7] = fma(vec4f(a0.w), b1, acc[7]);
      acc[8] = fma(vec4f(a1.x), b0, acc[8]);
      acc[9] = fma(vec4f(a1.y), b0, acc[9]);
      acc[10] = fma(vec4f(a1.z), b0, acc[10]);
      acc[11] = fma(vec4f(a1.w), b0, acc[11]);
      acc[12] = fma(vec4f(a1.x), b1, acc[12]);
      acc[13] = fma(vec4f(a1.y), b1, acc[13]);
      acc[14] = fma(vec4f(a1.z), b1, acc[14]);
      acc[15] = fma(vec4f(a1.w), b1, acc[15]);
    }
    workgroupBarrier();
  }
  let r0 = m0 + 4u * lid.y;
  let c0 = n0 + 4u * lid.x;
  for (var i = 0u; i < 4u; i++) {
    tiled_store(cbase, r0 + i, c0, acc[i]);
    tiled_store(cbase, r0 + i, c0 + 64u, acc[4u + i]);
    tiled_store(cbase, r0 + 64u + i, c0, acc[8u + i]);
    tiled_store(cbase, r0 + 64u + i, c0 + 64u, acc[12u + i]);
  }
}

// ------------------------------------------------------------------ matmul_small (skinny, CPU drivers)

@compute @workgroup_size(64)
fn matmul_small(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(workgroup_id) wid: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= p.m * p.n) { return; }
  let row = idx / p.n;
  let col = idx % p.n;
  let abase = wid.z * p.sa;
  let bbase = wid.z * p.sb;
  // element strides along K of this output's row of op(A) and column of op(B)
  var ai = abase + row * p.k;
  var astep = 1u;
  if (TRANS_A == 1u) { ai = abase + row; astep = p.m; }
  var bi = bbase + col;
  var bstep = p.n;
  if (TRANS_B == 1u) { bi = bbase + col * p.k; bstep = 1u; }
  var acc = 0.0;
  for (var kk = 0u; kk < p.k; kk++) {
    acc = fma(a[ai], b[bi], acc);
    ai += astep;
    bi += bstep;
  }
  if (HAS_BIAS == 1u) { acc += bias[col]; }
  c[wid.z * p.sc + idx] = act(acc);
}

// ------------------------------------------------------------------ matmul_skinny (skinny, CPU drivers)
// One thread per 8-row × 4-column block of C (straight-line: llvmpipe does not unroll loops, and a
// private array indexed in a loop would live in memory). Per k it loads 8 values of op(A) and 4 of
// op(B) for 32 FMAs, where matmul_small loads 2 per FMA — what counts on a CPU driver, where every
// load is a per-lane scalar loop. Out-of-range rows and columns load clamped (valid) addresses and
// are not stored. Meant for many outputs and a short K (a toy MLP's 3-wide input layer, its 2-wide
// output layer and that layer's dX); matmul_small keeps the few-outputs, long-K gradients.

fn skinny_a(base: u32, row: u32, kk: u32) -> f32 {
  let r = min(row, p.m - 1u);
  if (TRANS_A == 1u) { return a[base + kk * p.m + r]; }
  return a[base + r * p.k + kk];
}

fn skinny_b(base: u32, kk: u32, col: u32) -> vec4f {
  let c0 = min(col, p.n - 1u);
  let c1 = min(col + 1u, p.n - 1u);
  let c2 = min(col + 2u, p.n - 1u);
  let c3 = min(col + 3u, p.n - 1u);
  if (TRANS_B == 1u) { return vec4f(b[base + c0 * p.k + kk], b[base + c1 * p.k + kk], b[base + c2 * p.k + kk], b[base + c3 * p.k + kk]); }
  let r = base + kk * p.n;
  return vec4f(b[r + c0], b[r + c1], b[r + c2], b[r + c3]);
}

fn skinny_store(base: u32, row: u32, col: u32, v: vec4f) {
  if (row >= p.m) { return; }
  var o = v;
  if (HAS_BIAS == 1u) {
    o += vec4f(bias[min(col, p.n - 1u)], bias[min(col + 1u, p.n - 1u)], bias[min(col + 2u, p.n - 1u)], bias[min(col + 3u, p.n - 1u)]);
  }
  let i = base + row * p.n + col;
  if (col < p.n) { c[i] = act(o.x); }
  if (col + 1u < p.n) { c[i + 1u] = act(o.y); }
  if (col + 2u < p.n) { c[i + 2u] = act(o.z); }
  if (col + 3u < p.n) { c[i + 3u] = act(o.w); }
}

@compute @workgroup_size(64)
fn matmul_skinny(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(workgroup_id) wid: vec3u) {
  let tiles_n = (p.n + 3u) / 4u;
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= ((p.m + 7u) / 8u) * tiles_n) { return; }
  let r0 = (idx / tiles_n) * 8u;
  let c0 = (idx % tiles_n) * 4u;
  let abase = wid.z * p.sa;
  let bbase = wid.z * p.sb;
  var acc0 = vec4f(0.0); var acc1 = vec4f(0.0); var acc2 = vec4f(0.0); var acc3 = vec4f(0.0);
  var acc4 = vec4f(0.0); var acc5 = vec4f(0.0); var acc6 = vec4f(0.0); var acc7 = vec4f(0.0);
  for (var kk = 0u; kk < p.k; kk++) {
    let bv = skinny_b(bbase, kk, c0);
    acc0 = fma(vec4f(skinny_a(abase, r0, kk)), bv, acc0);
    acc1 = fma(vec4f(skinny_a(abase, r0 + 1u, kk)), bv, acc1);
    acc2 = fma(vec4f(skinny_a(abase, r0 + 2u, kk)), bv, acc2);
    acc3 = fma(vec4f(skinny_a(abase, r0 + 3u, kk)), bv, acc3);
    acc4 = fma(vec4f(skinny_a(abase, r0 + 4u, kk)), bv, acc4);
    acc5 = fma(vec4f(skinny_a(abase, r0 + 5u, kk)), bv, acc5);
    acc6 = fma(vec4f(skinny_a(abase, r0 + 6u, kk)), bv, acc6);
    acc7 = fma(vec4f(skinny_a(abase, r0 + 7u, kk)), bv, acc7);
  }
  let cb = wid.z * p.sc;
  skinny_store(cb, r0, c0, acc0);
  skinny_store(cb, r0 + 1u, c0, acc1);
  skinny_store(cb, r0 + 2u, c0, acc2);
  skinny_store(cb, r0 + 3u, c0, acc3);
  skinny_store(cb, r0 + 4u, c0, acc4);
  skinny_store(cb, r0 + 5u, c0, acc5);
  skinny_store(cb, r0 + 6u, c0, acc6);
  skinny_store(cb, r0 + 7u, c0, acc7);
}
