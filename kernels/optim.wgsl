// Optimiser family: AdamW over all parameters in one dispatch, gradient-norm partial sums, and
// the same AdamW fused with the EMA update.
//
// Layout: every model parameter lives in one flat f32 buffer (src/nn/module.ts flatten()), with the
// gradients, the two Adam moments and the EMA copy in flat buffers of the same layout, so one thread
// per element updates everything. Alignment padding holds zeros and stays zero (g = m = v = 0 gives
// a zero step and decay keeps p = 0).
//
// Bindings: param, m, v, ema read_write f32 [n]; grad read-only f32 [n]; partial read_write f32
//   [P] (P ≤ WG, from grad_sumsq); gnorm read_write f32 [1] (written by grad_norm_finish);
//   `p` uniform.
//
// grad_sumsq: P workgroups (1-D), a grid-stride loop over n; workgroup w writes Σ g² over its
//   elements to partial[w]. Fixed order, so the norm is the same bit for bit on every run.
// adamw / adamw_ema: torch.optim.AdamW (single-tensor path), element by element:
//   g ← grad · clip                       clip = min(1, max_norm / (‖g‖ + 1e-6))  (clip_grad_norm_)
//   p ← p · decay                         decay = 1 − lr·wd: decoupled weight decay
//   m ← m + (1 − β1)·(g − m)              (torch's lerp)
//   v ← β2·v + (1 − β2)·g²
//   p ← p − step_size · m / (√v / bc2_sqrt + eps)   step_size = lr/(1 − β1^t), bc2_sqrt = √(1 − β2^t)
//   (adamw_ema also) ema ← ema_decay·ema + (1 − ema_decay)·p
// Every scalar that depends on lr, wd, the betas or the step count t (decay, step_size, bc2_sqrt,
// 1 − β) is computed on the host in float64, as torch computes them in Python floats, and rounded
// once into the uniforms: no read-back per step, and no f32 cancellation in 1 − β2.
// grad_norm_finish: one workgroup reduces the P partials (a fixed tree) to gnorm[0] = ‖g‖.
// With CLIP = 1 the update reads gnorm[0]: gradient clipping costs two small dispatches. (It used to
// cost one: every workgroup of the update reduced the partials itself, with 9 barriers each — on
// lavapipe that made the update of 794k parameters take 290 ms instead of 37.) If ‖g‖ is not finite
// and SKIP_NONFINITE = 1, the whole update is skipped (param, m, v, ema unchanged); gnorm still holds
// the norm so the trainer sees why. Finiteness is tested on the bits, since WGSL allows x != x to be
// folded away.

struct Params {
  n: u32,
  partials: u32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  decay: f32,
  step_size: f32,
  bc2_sqrt: f32,
  max_norm: f32,
  ema_decay: f32,
  one_minus_ema_decay: f32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
@group(0) @binding(5) var<storage, read_write> gnorm: array<f32>;
@group(0) @binding(6) var<storage, read_write> ema: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

override CLIP: u32 = 0u;
override SKIP_NONFINITE: u32 = 1u;
const WG: u32 = 256u;

var<workgroup> acc: array<f32, WG>;

fn finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }

@compute @workgroup_size(WG)
fn grad_sumsq(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
              @builtin(num_workgroups) nwg: vec3u) {
  var s = 0.0;
  for (var i = wid.x * WG + lid; i < p.n; i += nwg.x * WG) {
    let g = grad[i];
    s += g * g;
  }
  acc[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) { acc[lid] += acc[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[wid.x] = acc[0]; }
}

@compute @workgroup_size(WG)
fn grad_norm_finish(@builtin(local_invocation_index) lid: u32) {
  acc[lid] = select(0.0, partial[lid], lid < p.partials);
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) { acc[lid] += acc[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { gnorm[0] = sqrt(acc[0]); }
}

// The multiplier for the gradients, or a negative value when the update must be skipped.
fn clip_coef() -> f32 {
  if (CLIP == 0u) { return 1.0; }
  let norm = gnorm[0];
  if (SKIP_NONFINITE == 1u && !finite(norm)) { return -1.0; }
  return min(1.0, p.max_norm / (norm + 1e-6));
}

fn adamw_element(i: u32, coef: f32) -> f32 {
  let g = grad[i] * coef;
  var w = param[i] * p.decay;
  let mi = m[i] + p.one_minus_beta1 * (g - m[i]);
  let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  w = w - p.step_size * mi / (sqrt(vi) / p.bc2_sqrt + p.eps);
  param[i] = w;
  return w;
}

fn index(wid: vec3u, lid: u32, nwg: vec3u) -> u32 { return (wid.x + wid.y * nwg.x) * WG + lid; }

@compute @workgroup_size(WG)
fn adamw(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
         @builtin(num_workgroups) nwg: vec3u) {
  let coef = clip_coef();
  let i = index(wid, lid, nwg);
  if (i >= p.n || coef < 0.0) { return; }
  adamw_element(i, coef);
}

@compute @workgroup_size(WG)
fn adamw_ema(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
             @builtin(num_workgroups) nwg: vec3u) {
  let coef = clip_coef();
  let i = index(wid, lid, nwg);
  if (i >= p.n || coef < 0.0) { return; }
  let w = adamw_element(i, coef);
  ema[i] = p.ema_decay * ema[i] + p.one_minus_ema_decay * w;
}
