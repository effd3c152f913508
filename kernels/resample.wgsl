// Resample family: 2× nearest up-sampling and 2×2 average pooling (stride 2), forward and
// backward, f32, NCHW. Each (n, c) plane is independent, so tensors are seen as [planes, H, W].
//
// Bindings: x read-only f32, y read_write f32, `p` uniform (planes = N·C; h, w = the input size of
// the forward op; oh, ow = its output size). One thread per element of y, 1-D over a 2-D grid.
//   up_forward      x [P, h, w]   → y [P, 2h, 2w]    y[i, j] = x[⌊i/2⌋, ⌊j/2⌋]   (F.interpolate nearest, ×2)
//   up_backward     gy [P, 2h, 2w] → gx [P, h, w]    gx[i, j] = Σ_{a,b∈{0,1}} gy[2i + a, 2j + b]
//   pool_forward    x [P, h, w]   → y [P, ⌊h/2⌋, ⌊w/2⌋]   y = ¼·Σ of the 2×2 block (F.avg_pool2d(x, 2):
//                   an odd last row/column is dropped, as PyTorch's floor mode)
//   pool_backward   gy [P, oh, ow] → gx [P, h, w]   gx[i, j] = ¼·gy[⌊i/2⌋, ⌊j/2⌋] inside the pooled
//                   area, 0 in a dropped odd row/column
// For the backward entries `x` is bound to the output gradient and `y` to the input gradient;
// every element of `y` is written (including zeros), so the output needs no clearing.

struct Params { planes: u32, h: u32, w: u32, oh: u32, ow: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u;

fn index(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn up_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.planes * p.oh * p.ow) { return; }
  let pl = i / (p.oh * p.ow);
  let r = i % (p.oh * p.ow);
  let oy = r / p.ow;
  let ox = r % p.ow;
  y[i] = x[(pl * p.h + oy / 2u) * p.w + ox / 2u];
}

@compute @workgroup_size(WG)
fn up_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.planes * p.h * p.w) { return; }
  let pl = i / (p.h * p.w);
  let r = i % (p.h * p.w);
  let iy = r / p.w;
  let ix = r % p.w;
  let b = (pl * p.oh + 2u * iy) * p.ow + 2u * ix;
  y[i] = (x[b] + x[b + 1u]) + (x[b + p.ow] + x[b + p.ow + 1u]);
}

@compute @workgroup_size(WG)
fn pool_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.planes * p.oh * p.ow) { return; }
  let pl = i / (p.oh * p.ow);
  let r = i % (p.oh * p.ow);
  let oy = r / p.ow;
  let ox = r % p.ow;
  let b = (pl * p.h + 2u * oy) * p.w + 2u * ox;
  y[i] = 0.25 * ((x[b] + x[b + 1u]) + (x[b + p.w] + x[b + p.w + 1u]));
}

@compute @workgroup_size(WG)
fn pool_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.planes * p.h * p.w) { return; }
  let pl = i / (p.h * p.w);
  let r = i % (p.h * p.w);
  let oy = (r / p.w) / 2u;
  let ox = (r % p.w) / 2u;
  if (oy >= p.oh || ox >= p.ow) { y[i] = 0.0; return; }
  y[i] = 0.25 * x[(pl * p.oh + oy) * p.ow + ox];
}
