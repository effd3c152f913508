// Conv family: 2-D convolution (cross-correlation, as torch.nn.functional.conv2d) and its two
// backward passes, all as one implicit GEMM: the im2col matrix is never materialised, each tile
// load computes its source address from the GEMM coordinates.
//
// Layouts (NCHW, f32, PyTorch): x [N, C_in, H, W]; weight [C_out, C_in, KS, KS]; bias [C_out];
// y [N, C_out, OH, OW] with OH = ⌊(H + 2·pad − KS)/stride⌋ + 1 (same for OW). Square kernels (KS
// = 1 or 3 in the models, any KS works), stride and zero padding the same along H and W.
//
// One entry point, `conv_gemm`; MODE (override) picks the GEMM. Bindings: `src`, `wt`, `bias`
// read-only f32, `dst` read_write f32, `p` uniform. Per MODE:
//   MODE 0  forward        dst = y   [N, C_out, OH, OW]     src = x,  wt = weight, bias = bias
//           C[m, co] = Σ_k A[m, k]·B[k, co] + bias[co],  m = (n, oy, ox), k = (ci, ky, kx)
//           A = im2col(x): x[n, ci, oy·s − pad + ky, ox·s − pad + kx] (0 outside), B[k, co] = w[co, k]
//   MODE 1  input grad     dst = gx  [N, C_in, H, W]       src = gy, wt = weight, bias unused
//           C[m, ci] = Σ_k A[m, k]·B[k, ci],  m = (n, iy, ix), k = (co, ky, kx)
//           A[m, k] = gy[n, co, (iy + pad − ky)/s, (ix + pad − kx)/s] where both divide exactly and
//           land inside OH×OW, else 0 (the transposed convolution); B[k, ci] = w[co, ci, ky, kx]
//   MODE 2  weight grad    dst = partial gw [Z, C_out, C_in·KS·KS]   src = x, wt = gy, bias unused
//           C[co, k] = Σ_m gy[n, co, oy, ox]·im2col(x)[m, k] over m = (n, oy, ox) in slice z of
//           the reduction (split-K: workgroup z sums m ∈ [z·kchunk, (z+1)·kchunk)); the host sums
//           the Z slices (reduce family) when Z > 1. The bias gradient Σ_{n,oy,ox} gy is a plain
//           reduction on the host side.
// GEMM sizes in `p`: gm × gn output, gk reduction (MODE 2: the slice length kchunk, gk the total).
//
// Tiling (v1): as kernels/matmul.wgsl — a 64×64 output tile per 16×16-thread workgroup, each thread
// a 4×4 register block, K advancing by 16 through two tiles in workgroup memory (k-major, vec4
// reads in the FMA loop). The index arithmetic (divisions by OH·OW, KS², …) runs once per loaded
// element and is amortised over 64 FMAs. Loads are bounds-checked (zero padding), so any sizes
// work. Grid: x over gn/64, y over gm/64, z over split-K slices (MODE 2) — the host checks limits.
// Numerics: f32 accumulation in FMA order; the error grows like √K·2⁻²⁴ relative to Σ|a·b|.

struct Params {
  batch: u32, cin: u32, h: u32, w: u32,
  cout: u32, oh: u32, ow: u32, ks: u32,
  stride: u32, pad: u32, gm: u32, gn: u32,
  gk: u32, kchunk: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override MODE: u32 = 0u;
override HAS_BIAS: u32 = 0u;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> As: array<vec4f, 256>; // [BK][BM/4]
var<workgroup> Bs: array<vec4f, 256>; // [BK][BN/4]

// im2col(x)[m, k] with m = (n, oy, ox), k = (ci, ky, kx); 0 in the padding.
fn im2col(m: u32, k: u32) -> f32 {
  let ohw = p.oh * p.ow;
  let n = m / ohw;
  let r = m % ohw;
  let oy = r / p.ow;
  let ox = r % p.ow;
  let kk = p.ks * p.ks;
  let ci = k / kk;
  let q = k % kk;
  let iy = i32(oy * p.stride + q / p.ks) - i32(p.pad);
  let ix = i32(ox * p.stride + q % p.ks) - i32(p.pad);
  if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) { return 0.0; }
  return src[((n * p.cin + ci) * p.h + u32(iy)) * p.w + u32(ix)];
}

// gy gathered for the input gradient: m = (n, iy, ix), k = (co, ky, kx).
fn col2im_src(m: u32, k: u32) -> f32 {
  let hw = p.h * p.w;
  let n = m / hw;
  let r = m % hw;
  let iy = r / p.w;
  let ix = r % p.w;
  let kk = p.ks * p.ks;
  let co = k / kk;
  let q = k % kk;
  let ty = i32(iy + p.pad) - i32(q / p.ks);
  let tx = i32(ix + p.pad) - i32(q % p.ks);
  if (ty < 0 || tx < 0) { return 0.0; }
  let uy = u32(ty);
  let ux = u32(tx);
  if (uy % p.stride != 0u || ux % p.stride != 0u) { return 0.0; }
  let oy = uy / p.stride;
  let ox = ux / p.stride;
  if (oy >= p.oh || ox >= p.ow) { return 0.0; }
  return src[((n * p.cout + co) * p.oh + oy) * p.ow + ox];
}

// A[row, kk] of the GEMM (row < gm, kk < gk checked by the caller).
fn load_a(row: u32, kk: u32) -> f32 {
  if (MODE == 0u) { return im2col(row, kk); }
  if (MODE == 1u) { return col2im_src(row, kk); }
  // MODE 2: gy[n, co = row, oy, ox] with kk = (n, oy, ox); gy is bound as `wt`
  let ohw = p.oh * p.ow;
  return wt[((kk / ohw) * p.cout + row) * ohw + kk % ohw];
}

// B[kk, col] of the GEMM.
fn load_b(kk: u32, col: u32) -> f32 {
  let kk2 = p.ks * p.ks;
  if (MODE == 0u) { return wt[col * (p.cin * kk2) + kk]; }
  if (MODE == 1u) {
    // w[co, ci = col, ky, kx] with kk = (co, ky, kx)
    return wt[((kk / kk2) * p.cin + col) * kk2 + kk % kk2];
  }
  return im2col(kk, col);
}

fn store(row: u32, col: u32, z: u32, v: f32) {
  if (MODE == 0u) {
    let ohw = p.oh * p.ow;
    var o = v;
    if (HAS_BIAS == 1u) { o += bias[col]; }
    dst[((row / ohw) * p.cout + col) * ohw + row % ohw] = o;
  } else if (MODE == 1u) {
    let hw = p.h * p.w;
    dst[((row / hw) * p.cin + col) * hw + row % hw] = v;
  } else {
    dst[(z * p.gm + row) * p.gn + col] = v;
  }
}

@compute @workgroup_size(16, 16)
fn conv_gemm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
             @builtin(local_invocation_index) tid: u32) {
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  var kbeg = 0u;
  var kend = p.gk;
  if (MODE == 2u) {
    kbeg = wid.z * p.kchunk;
    kend = min(kbeg + p.kchunk, p.gk);
  }
  var acc: array<vec4f, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4f(0.0); }

  for (var k0 = kbeg; k0 < kend; k0 += BK) {
    for (var j = 0u; j < 4u; j++) {
      let e = tid + 256u * j;
      // A tile: consecutive threads walk whichever index is contiguous in memory: the rows in
      // MODES 0 and 1 (m = neighbouring pixels), k in MODE 2 (k = neighbouring pixels of gy)
      var r: u32; var ka: u32;
      if (MODE == 2u) { r = e / BK; ka = e % BK; } else { r = e % BM; ka = e / BM; }
      var av = 0.0;
      if (m0 + r < p.gm && k0 + ka < kend) { av = load_a(m0 + r, k0 + ka); }
      As[ka * 16u + r / 4u][r % 4u] = av;
      // B tile: consecutive threads walk k in MODE 0 (contiguous weight rows), columns otherwise
      var cc: u32; var kb: u32;
      if (MODE == 0u) { cc = e / BK; kb = e % BK; } else { cc = e % BN; kb = e / BN; }
      var bv = 0.0;
      if (n0 + cc < p.gn && k0 + kb < kend) { bv = load_b(k0 + kb, n0 + cc); }
      Bs[kb * 16u + cc / 4u][cc % 4u] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a = As[kk * 16u + lid.y];
      let b = Bs[kk * 16u + lid.x];
      acc[0] = fma(vec4f(a.x), b, acc[0]);
      acc[1] = fma(vec4f(a.y), b, acc[1]);
      acc[2] = fma(vec4f(a.z), b, acc[2]);
      acc[3] = fma(vec4f(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let row = m0 + lid.y * 4u + i;
    if (row >= p.gm) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = n0 + lid.x * 4u + j;
      if (col >= p.gn) { continue; }
      store(row, col, wid.z, acc[i][j]);
    }
  }
}
