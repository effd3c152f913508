// Embedding family: the fixed sinusoidal time embedding (transformer / diffusion style) and its
// derivative with respect to t.
//
// Bindings: t read-only f32 [n] (one time per row); freq read-only f32 [half]; y read_write f32
//   [n, dim] (forward); g read-only f32 [n, dim] and gt read_write f32 [n] (backward); `p` uniform.
// freq_i = scale · maxPeriod^(−i/half) / (2π) is the frequency in turns per unit of t, computed on
// the host in float64 and rounded once to f32.
// Forward, with u = t_r·freq_i reduced to [−½, ½] by subtracting round(u) and a = 2π·u:
//   y[r, i] = cos(a), y[r, half + i] = sin(a), and y[r, dim − 1] = 0 when dim is odd (= 2·half + 1).
// That is guided-diffusion's `timestep_embedding(scale·t, dim, maxPeriod)`: [cos, sin] halves.
// Numerics: the reduction keeps sin/cos arguments in [−π, π], where GPU sin/cos are accurate
// (Vulkan only bounds their error there); the remaining error is the f32 rounding of t·freq,
// ≈ 2⁻²³·|t·freq| turns, as in an f32 PyTorch reference.
// Backward: gt[r] = Σ_i 2π·freq_i·(−g[r, i]·sin(a) + g[r, half + i]·cos(a)), one thread per row.

struct Params { n: u32, half: u32, dim: u32, _p0: u32 }

@group(0) @binding(0) var<storage, read> t: array<f32>;
@group(0) @binding(1) var<storage, read> freq: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = 256u;
const TAU: f32 = 6.283185307179586;

fn angle(r: u32, i: u32) -> f32 {
  let u = t[r] * freq[i];
  return TAU * (u - round(u));
}

// one thread per (row, frequency): writes the cos and the sin column (and the odd pad column)
@compute @workgroup_size(WG)
fn sinusoidal_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = gid.x + gid.y * nwg.x * WG;
  if (k >= p.n * p.half) { return; }
  let r = k / p.half;
  let i = k % p.half;
  let sc = sincos_acc(angle(r, i));
  y[r * p.dim + i] = sc.y;
  y[r * p.dim + p.half + i] = sc.x;
  if (i == 0u && p.dim > 2u * p.half) { y[r * p.dim + p.dim - 1u] = 0.0; }
}

@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> gt: array<f32>;

@compute @workgroup_size(WG)
fn sinusoidal_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.n) { return; }
  var acc = 0.0;
  for (var i = 0u; i < p.half; i++) {
    let sc = sincos_acc(angle(r, i));
    acc += TAU * freq[i] * (g[r * p.dim + p.half + i] * sc.y - g[r * p.dim + i] * sc.x);
  }
  gt[r] = acc;
}
