// Writes a small folder of RGB PNG images, one sub-folder per class, for trying
// `flowgpu train images` on data none of flowgpu's commands was written for:
//
//   node scripts/make-shapes.mjs [OUT_DIR] [--n N] [--size S] [--seed K]
//
//   OUT_DIR/disc/0000.png …     a red-orange disc on a dark background
//   OUT_DIR/square/0000.png …   a green square
//   OUT_DIR/ring/0000.png …     a blue ring
//
// Each image places its shape at a random centre with a random size and a jittered colour (seeded:
// the same arguments give the same files). Defaults: 300 images per class, 16×16, seed 0, OUT_DIR
// shapes. Needs the built package (npm run build).
import { join } from 'node:path';
import { data, node } from '../dist/node/index.js';

const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return d;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} takes a positive integer`);
  return v;
};
const n = opt('n', 300);
const size = opt('size', 16);
const seed = opt('seed', 0);
const out = args[0] ?? 'shapes';
const rng = new data.HostRng(seed);
const u = (a, b) => a + (b - a) * rng.uniform();

const CLASSES = {
  // inside(dx, dy, r): is the pixel at offset (dx, dy) from the centre part of the shape of size r?
  disc: { rgb: [230, 90, 40], inside: (dx, dy, r) => dx * dx + dy * dy <= r * r },
  square: { rgb: [60, 200, 70], inside: (dx, dy, r) => Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85 },
  ring: { rgb: [60, 110, 240], inside: (dx, dy, r) => Math.abs(Math.hypot(dx, dy) - r * 0.8) <= Math.max(1, r * 0.3) },
};

for (const [name, cls] of Object.entries(CLASSES)) {
  for (let k = 0; k < n; k++) {
    const r = u(size * 0.15, size * 0.32);
    const cx = u(r, size - r);
    const cy = u(r, size - r);
    const rgb = cls.rgb.map((v) => Math.min(255, Math.max(0, v + u(-30, 30))));
    const bg = u(10, 40);
    const pixels = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        // 4×4 supersampling: anti-aliased edges
        let cover = 0;
        for (let sy = 0; sy < 4; sy++) for (let sx = 0; sx < 4; sx++) cover += cls.inside(x + (sx + 0.5) / 4 - cx, y + (sy + 0.5) / 4 - cy, r) ? 1 / 16 : 0;
        for (let c = 0; c < 3; c++) pixels[(y * size + x) * 3 + c] = Math.round(bg + (rgb[c] - bg) * cover);
      }
    }
    node.writePng(join(out, name, `${String(k).padStart(4, '0')}.png`), { width: size, height: size, channels: 3, pixels });
  }
}
process.stdout.write(`wrote ${3 * n} ${size}×${size} RGB images to ${out}/{${Object.keys(CLASSES).join(',')}}/\n`);
