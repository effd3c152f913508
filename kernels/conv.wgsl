// Conv family: the data movement of a 2-D convolution (cross-correlation, as
// torch.nn.functional.conv2d) computed as explicit GEMMs. The GEMMs are plain matmuls (src/tensor/
// matmul.ts picks the kernel: sg8 on CPU drivers, tiled on GPUs); this file only lays the operands
// out for them and folds the results back:
//
//   forward       col = im2col(x);        y' = W · col;         y = conv_out(y') (+ bias)
//   input grad    gcol = Wᵀ · gy';         gx = col2im(gcol)
//   weight grad   gW = gy' · colᵀ
//
// with W the weight viewed as [C_out, K], K = C_in·KS·KS, col = [K, N·OH·OW] (channels first over
// the whole batch, so each GEMM is a single matmul), t' = t as [C, N·OH·OW]. (Session 2's
// implicit GEMM computed the im2col addresses inside the GEMM's tile loads; on lavapipe that ran at
// 0.1–0.2 GFLOP/s against the sg8 matmul's ~10, so the operands are now materialised.)
//
// Layouts (NCHW, f32, PyTorch): x [N, C_in, H, W]; y [N, C_out, OH, OW] with OH = ⌊(H + 2·pad −
// KS)/stride⌋ + 1 (same for OW); square kernels, the same stride and zero padding along H and W.
// A call covers the samples n0 … n0 + count − 1 of the batch (the host splits a large batch so that
// col stays within a storage binding); col / gcol [K, count, OH·OW] hold only those samples, x / gx
// the whole batch.
//
// Entry points (1-D thread index over a 2-D grid of 256-thread groups):
//   im2col        src = x [N, C_in, H, W]            dst = col [K, count, OH·OW]
//                 col[(ci, ky, kx), j, (oy, ox)] = x[n0 + j, ci, oy·s − pad + ky, ox·s − pad + kx],
//                 0 in the padding. One thread per row (k, j, oy) of OW outputs.
//   col2im        src = gcol [K, count, OH·OW]       dst = gx [N, C_in, H, W] (rows n0 … only)
//                 gx[n0 + j, ci, iy, ix] = Σ_{ky, kx} gcol[(ci, ky, kx), j, (oy, ox)] over the taps
//                 with oy·s − pad + ky = iy (and the same for x) inside OH×OW; every element of
//                 the rows is written, so gx needs no clearing. Taps are summed ky, kx ascending.
//                 One thread per row (j, ci, iy) of W outputs.
//   conv_out      src = y' [C_out, count·OH·OW]      dst = y [N, C_out, OH, OW] (rows n0 … only)
//                 y[n0 + j, c, q] = y'[c, j·OH·OW + q] (+ bias[c] when HAS_BIAS): the permute back to
//                 NCHW with the bias fused. One thread per run of up to 32 elements of a row (j, c).
// Bindings: src, bias read-only f32; dst read_write f32; `p` uniform (total = the threads).
// KS and STRIDE are override constants (a pipeline per kernel size and stride), so the divisions by
// them compile to multiplications: on a CPU driver a runtime u32 division costs tens of
// instructions per lane, and one thread per element with eight of them ran im2col at ~20 M
// elements/s on lavapipe.

struct Params {
  n0: u32, count: u32, cin: u32, h: u32,
  w: u32, oh: u32, ow: u32, pad: u32,
  cout: u32, total: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override KS: u32 = 3u;
override STRIDE: u32 = 1u;
override HAS_BIAS: u32 = 0u;
const SEG: u32 = 32u;

const WG: u32 = 256u;

fn index(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn im2col(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = index(gid, nwg); // row (k, j, oy)
  if (r >= p.total) { return; }
  let oy = r % p.oh;
  let kj = r / p.oh;
  let j = kj % p.count;
  let k = kj / p.count;
  let ci = k / (KS * KS);
  let q = k % (KS * KS);
  let kx = q % KS;
  let iy = i32(oy * STRIDE + q / KS) - i32(p.pad);
  let out = r * p.ow;
  if (iy < 0 || iy >= i32(p.h)) {
    for (var ox = 0u; ox < p.ow; ox++) { dst[out + ox] = 0.0; }
    return;
  }
  let row = (((p.n0 + j) * p.cin + ci) * p.h + u32(iy)) * p.w;
  for (var ox = 0u; ox < p.ow; ox++) {
    let ix = i32(ox * STRIDE + kx) - i32(p.pad);
    var v = 0.0;
    if (ix >= 0 && ix < i32(p.w)) { v = src[row + u32(ix)]; }
    dst[out + ox] = v;
  }
}

@compute @workgroup_size(WG)
fn col2im(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = index(gid, nwg); // row (j, ci, iy)
  if (r >= p.total) { return; }
  let iy = r % p.h;
  let jc = r / p.h; // j·C_in + ci
  let ci = jc % p.cin;
  let j = jc / p.cin;
  let ohw = p.oh * p.ow;
  let tap = p.count * ohw; // gcol stride from one k to the next
  let base = ci * (KS * KS) * tap + j * ohw; // gcol[(ci, 0, 0), j, 0]
  let out = (p.n0 * p.cin * p.h + r) * p.w;
  for (var ix = 0u; ix < p.w; ix++) {
    var acc = 0.0;
    for (var ky = 0u; ky < KS; ky++) {
      let ty = i32(iy + p.pad) - i32(ky);
      if (ty < 0 || u32(ty) % STRIDE != 0u || u32(ty) / STRIDE >= p.oh) { continue; }
      let oy = u32(ty) / STRIDE;
      for (var kx = 0u; kx < KS; kx++) {
        let tx = i32(ix + p.pad) - i32(kx);
        if (tx < 0 || u32(tx) % STRIDE != 0u || u32(tx) / STRIDE >= p.ow) { continue; }
        acc += src[base + (ky * KS + kx) * tap + oy * p.ow + u32(tx) / STRIDE];
      }
    }
    dst[out + ix] = acc;
  }
}

@compute @workgroup_size(WG)
fn conv_out(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.total) { return; }
  let ohw = p.oh * p.ow;
  let nseg = (ohw + SEG - 1u) / SEG;
  let row = i / nseg; // (j, c)
  let c = row % p.cout;
  let j = row / p.cout;
  var b = 0.0;
  if (HAS_BIAS == 1u) { b = bias[c]; }
  let src0 = (c * p.count + j) * ohw;
  let dst0 = ((p.n0 + j) * p.cout + c) * ohw;
  let q0 = (i % nseg) * SEG;
  let q1 = min(q0 + SEG, ohw);
  for (var q = q0; q < q1; q++) { dst[dst0 + q] = src[src0 + q] + b; }
}
