// Dataset family: gathering a shuffled mini-batch from a dataset that lives on the GPU.
//
// gather_u8_rows — bindings: bytes read-only i32 (the dataset's uint8 values packed four per word,
//   little-endian: byte k of the table is bits 8·(k mod 4) … of word ⌊k/4⌋; i32 only because tensors
//   are f32 or i32, the words are reinterpreted as u32), idx read-only i32 [n],
//   y read_write f32 [n, d], `p` uniform.
//   y[r, j] = a·table[idx[r], j] + b for a table of v rows of d bytes. Keeping MNIST's 28×28 images
//   as bytes takes 47 MB instead of 188 MB of f32 (over the 128 MiB storage-binding limit of many
//   adapters) and is exact: the pixel values are the IDX file's bytes. An index outside 0..v−1
//   writes a NaN row, so a bad index shows up instead of silently reading another image.
//   One thread per output element, 1-D over a 2-D grid.

struct Params { n: u32, d: u32, v: u32, _p0: u32, a: f32, b: f32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> bytes: array<i32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = 256u;
var<private> NAN_BITS: u32 = 0x7fc00000u;

@compute @workgroup_size(WG)
fn gather_u8_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n * p.d) { return; }
  let row = i / p.d;
  let col = i % p.d;
  let k = idx[row];
  if (k < 0 || u32(k) >= p.v) { y[i] = bitcast<f32>(NAN_BITS); return; }
  let at = u32(k) * p.d + col;
  let byte = (bitcast<u32>(bytes[at / 4u]) >> (8u * (at % 4u))) & 0xffu;
  y[i] = p.a * f32(byte) + p.b;
}
