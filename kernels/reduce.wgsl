// Reduction family: sum or max over the middle axis of a contiguous [outer, R, inner] view.
//
// Bindings: x read-only f32 [outer, R, inner]; y read_write f32 [outer, chunks, inner]; `p` uniform.
// Each thread reduces one chunk of `p.chunk` consecutive entries along R for one (outer, inner)
// pair. With chunks = 1 this is the whole reduction; for long axes the host runs two passes
// (R → chunks → 1) so that enough threads are busy.
// OP (override): OP_SUM (Neumaier-compensated, so the error does not grow with R) or OP_MAX (a NaN
// anywhere in the chunk gives NaN, detected on the bits); the constants are prepended by the host
// from src/tensor/opcodes.ts (REDUCE).
// Why compensated: one thread summing 4096 f32 values has a worst-case error of ~R·2⁻²⁴ relative
// to Σ|x|; compensation brings it to ~2⁻²⁴·|S|, the same as a float64 sum rounded once. The
// two-pass path rounds each partial once more: ≤ 2⁻²⁴·(|S| + Σ|partials|) ≤ 2·2⁻²⁴·Σ|x|
// (test/ops-reduce.test.ts holds it to that).

struct Params { outer: u32, r: u32, inner: u32, chunk: u32, chunks: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override OP: u32 = 0u;
const WG: u32 = 256u;

// NaN / ±inf as private variables: WGSL forbids them in constant expressions.
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;
var<private> NEG_INF_BITS: u32 = 0xff800000u;

@compute @workgroup_size(WG)
fn reduce_axis(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  let total = p.outer * p.chunks * p.inner;
  if (t >= total) { return; }
  let j = t % p.inner;
  let c = (t / p.inner) % p.chunks;
  let o = t / (p.inner * p.chunks);
  let r0 = c * p.chunk;
  let r1 = min(r0 + p.chunk, p.r);
  let base = o * p.r * p.inner + j;
  if (OP == OP_SUM) {
    var s = 0.0;
    var comp = 0.0;
    for (var r = r0; r < r1; r++) {
      let v = x[base + r * p.inner];
      let tt = s + v;
      if (abs(s) >= abs(v)) { comp += (s - tt) + v; } else { comp += (v - tt) + s; }
      s = tt;
    }
    y[t] = s + comp;
  } else if (OP == OP_MAX) {
    var m = bitcast<f32>(NEG_INF_BITS); // -inf
    var nan = false;
    for (var r = r0; r < r1; r++) {
      let v = x[base + r * p.inner];
      // NaN propagates, as in NumPy. Tested on the bits: WGSL lets compilers assume floats are
      // never NaN, and llvmpipe folds `v != v` to false.
      nan = nan || (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
      m = max(m, v);
    }
    y[t] = select(m, bitcast<f32>(NAN_BITS), nan);
  } else {
    y[t] = bitcast<f32>(NAN_BITS);
  }
}
