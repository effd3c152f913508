// Trigonometry library (no bindings, no entry points): sin and cos accurate to a few ulp on every
// driver, prepended to the families that use them (src/tensor/wgsl-lib.ts `withTrig`).
//
// Why: WGSL only promises sin/cos within 2^-11 absolute error on [−π, π] and nothing outside it.
// Drivers differ accordingly: on lavapipe (LLVM) the built-ins are accurate to an ulp, while
// SwiftShader's are off by up to 2e-4 even inside [−π, π], and GPU fast paths lose accuracy as the
// argument grows — the sinusoidal time embedding evaluates angles up to 2π·1000. Measured on
// SwiftShader before this file: sin/cos ops 1.9e-4, the embedding 1.9e-4, the cosine path 7.9e-6
// from float64.
//
// Method (Cody–Waite): k = round(x·2/π); r = x − k·π/2 with π/2 split into four parts, the first
// three of 8–9 significant bits so that k·C1, k·C2 and k·C3 are exact for |k| < 2^15
// (|x| < 51 471) and each subtraction is exact (Sterbenz), so r keeps full relative accuracy (the
// three-part split of Cephes' sinf rounds k·C2 past |x| ≈ 8192: 1.7e-7 off at 5e4); then Cephes' minimax polynomials on
// [−π/4, π/4] (sin: r + r³·P(r²), cos: 1 − r²/2 + r⁴·Q(r²)) and the quadrant k mod 4 picks and signs
// them. Non-finite x gives NaN. Beyond |x| ≈ 51 000 the reduction degrades gradually (an f32 there
// is ≥ 0.004 apart from its neighbours: the angle itself is that uncertain).
//
// Variants: sincos_acc(x) returns both (one reduction); sin_acc / cos_acc pick one.
// Names are prefixed (tg_…): kernel reflection would take a parameter or local named like a
// binding of the including family (x, y, …) for a use of that binding.

const TRIG_2_OVER_PI: f32 = 0.636619772367581343;
const TRIG_C1: f32 = 1.5703125;                  // π/2 = C1 + C2 + C3 + C4 (+ 1.2e-18)
const TRIG_C2: f32 = 0.00048351287841796875;
const TRIG_C3: f32 = 3.1385570764541626e-07;
const TRIG_C4: f32 = 6.07710062827671e-11;
// NaN as a private variable: WGSL forbids it in constant expressions.
var<private> TRIG_NAN_BITS: u32 = 0x7fc00000u;

// (sin x, cos x)
fn sincos_acc(tg_x: f32) -> vec2f {
  let tg_k = round(tg_x * TRIG_2_OVER_PI);
  let tg_r = (((tg_x - tg_k * TRIG_C1) - tg_k * TRIG_C2) - tg_k * TRIG_C3) - tg_k * TRIG_C4;
  let tg_z = tg_r * tg_r;
  let tg_s = tg_r + tg_r * tg_z * (-1.6666654611e-1 + tg_z * (8.3321608736e-3 + tg_z * -1.9515295891e-4));
  let tg_c = 1.0 - 0.5 * tg_z + tg_z * tg_z * (4.166664568298827e-2 + tg_z * (-1.388731625493765e-3 + tg_z * 2.443315711809948e-5));
  let tg_q = tg_k - 4.0 * floor(tg_k * 0.25); // k mod 4, exact for |k| < 2^24
  var tg_out: vec2f;
  if (tg_q == 0.0) { tg_out = vec2f(tg_s, tg_c); }
  else if (tg_q == 1.0) { tg_out = vec2f(tg_c, -tg_s); }
  else if (tg_q == 2.0) { tg_out = vec2f(-tg_s, -tg_c); }
  else { tg_out = vec2f(-tg_c, tg_s); }
  // NaN or ±∞ in: NaN out (the comparisons above fall through to the last branch)
  if (!(abs(tg_x) <= 3.4028234663852886e38)) { tg_out = vec2f(bitcast<f32>(TRIG_NAN_BITS)); }
  return tg_out;
}

fn sin_acc(tg_x: f32) -> f32 {
  return sincos_acc(tg_x).x;
}

fn cos_acc(tg_x: f32) -> f32 {
  return sincos_acc(tg_x).y;
}
