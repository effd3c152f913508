// SDE family: one fused Euler–Maruyama step with its Gaussian noise drawn in the kernel, and the
// draws the likelihood estimators need that random.wgsl has no fill for (Rademacher probes,
// uniform dequantisation) (src/flow/sde.ts, src/flow/likelihood.ts). Registered as random.wgsl's
// library (Philox4x32-10, u01, Box–Muller) followed by this file.
//
// Draws follow random.wgsl's convention exactly: element i uses word / normal k = i % 4 of
//   philox_at(seed, step, ⌊i/4⌋, stream), so the noise of em_step for (seed, step, stream) is
//   randNormal(shape, {seed, step, stream}), the uniform of dequantize is randUniform's, and the
//   same seed gives the same numbers in every family. The stream ids are in src/flow/random.ts.
// Rademacher ±1: the top bit of the word, i.e. sign(u01(w) − ½) of the uniform the same counter
//   gives (u01 keeps the top 23 bits, and u01(w) > ½ exactly when bit 31 is set).
//
// Bindings: sde_x, sde_v read-only f32 [n]; sde_y read_write f32 [n]; `sp` uniform. Flat tensors,
//   one thread per 4 consecutive elements (one Philox call), 1-D over a 2-D grid. (Binding names
//   are prefixed so that no identifier of the library shares them: wgsl_reflect does not model
//   shadowing.)
// Entries:
//   em_step          y = x + h·(cv·v + cx·x) + gs·ξ, ξ ~ N(0, 1): Euler–Maruyama for
//                    dx = [v + ½g²·s]dt + g·dW with the score s written as a linear function of v
//                    and x (the host folds α, σ, their derivatives and g into cv, cx; gs = g·√h)
//   fill_rademacher  y = ±1 with probability ½ each
//   dequantize       y = scale·(round(x·(L − 1)) + u)/L + shift, u = u01 in (0, 1): uniform
//                    dequantisation of pixel values x = k/(L − 1) in [0, 1] (L = levels, usually 256)

struct SdeParams {
  n: u32,
  stream: u32,
  seed: vec2u,
  step: vec2u,
  h: f32,
  cv: f32,
  cx: f32,
  gs: f32,
  levels: f32,
  scale: f32,
  shift: f32,
}

@group(0) @binding(0) var<storage, read> sde_x: array<f32>;
@group(0) @binding(1) var<storage, read> sde_v: array<f32>;
@group(0) @binding(2) var<storage, read_write> sde_y: array<f32>;
@group(0) @binding(3) var<uniform> sp: SdeParams;

const SDE_WG: u32 = 256u;

// Index of this thread's group of 4 elements.
fn sde_quad(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * SDE_WG; }

fn sde_words(q: u32) -> vec4u { return philox_at(sp.seed, sp.step, q, sp.stream); }

@compute @workgroup_size(SDE_WG)
fn em_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = sde_quad(gid, nwg);
  if (q * 4u >= sp.n) { return; }
  let z = normal4(sde_words(q));
  for (var e = 0u; e < 4u; e++) {
    let i = q * 4u + e;
    if (i < sp.n) {
      let xi = sde_x[i];
      sde_y[i] = xi + sp.h * (sp.cv * sde_v[i] + sp.cx * xi) + sp.gs * z[e];
    }
  }
}

@compute @workgroup_size(SDE_WG)
fn fill_rademacher(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = sde_quad(gid, nwg);
  if (q * 4u >= sp.n) { return; }
  let w = sde_words(q);
  for (var e = 0u; e < 4u; e++) {
    let i = q * 4u + e;
    if (i < sp.n) { sde_y[i] = select(-1.0, 1.0, (w[e] >> 31u) == 1u); }
  }
}

@compute @workgroup_size(SDE_WG)
fn dequantize(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = sde_quad(gid, nwg);
  if (q * 4u >= sp.n) { return; }
  let w = sde_words(q);
  for (var e = 0u; e < 4u; e++) {
    let i = q * 4u + e;
    if (i < sp.n) {
      let lvl = round(clamp(sde_x[i], 0.0, 1.0) * (sp.levels - 1.0));
      sde_y[i] = sp.scale * (lvl + u01(w[e])) / sp.levels + sp.shift;
    }
  }
}
