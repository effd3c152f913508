// Writes the README's conditioned example: points on noisy rings whose radius is the condition.
//   node scripts/make-ring.mjs DIR   →   DIR/ring.npy (float32 [20000, 2]), DIR/radius.npy ([20000])
// Radius r ~ U(0.5, 2.5); angle uniform; radial noise N(0, 0.08²). A seeded generator: same files
// every time.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { data, node } from '../dist/node/index.js';

const dir = process.argv[2] ?? 'examples';
mkdirSync(dir, { recursive: true });
const n = 20000;
const rng = new data.HostRng(7);
const r = new Float32Array(n);
const xy = new Float32Array(2 * n);
for (let i = 0; i < n; i++) {
  r[i] = 0.5 + 2 * rng.uniform();
  const a = 2 * Math.PI * rng.uniform();
  const rho = r[i] + 0.08 * rng.normal();
  xy[2 * i] = rho * Math.cos(a);
  xy[2 * i + 1] = rho * Math.sin(a);
}
node.writeNpy(join(dir, 'ring.npy'), xy, [n, 2]);
node.writeNpy(join(dir, 'radius.npy'), r, [n]);
console.log(`wrote ${join(dir, 'ring.npy')} [${n}, 2] and ${join(dir, 'radius.npy')} [${n}]`);
