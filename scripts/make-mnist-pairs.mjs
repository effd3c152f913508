// Writes the README's paired-image example from the MNIST copy the package ships: each 16×16 digit
// at half resolution (2×2 block means, shown blocky at 16×16) paired with the digit itself.
//   node scripts/make-mnist-pairs.mjs DIR [N]   →   DIR/lowres.npy, DIR/highres.npy (float32 [N, 1, 16, 16] in [0, 1])
//   plus DIR/lowres-test.npy and DIR/highres-test.npy: 100 test-set pairs to map with `sample --from`
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { data, node } from '../dist/node/index.js';

const dir = process.argv[2] ?? 'examples';
const count = Number(process.argv[3] ?? 10000);
mkdirSync(dir, { recursive: true });
const S = 16;

/** The first n digits at 16×16 in [0, 1], and their 8×8 block means upsampled by repetition. */
function pairs(split, n) {
  const px = data.mnistPixels(node.readMnist(split), S);
  const hi = new Float32Array(n * S * S);
  const lo = new Float32Array(n * S * S);
  for (let k = 0; k < n; k++) {
    const img = px.subarray(k * S * S, (k + 1) * S * S);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const y0 = y & ~1, x0 = x & ~1;
        const mean = (img[y0 * S + x0] + img[y0 * S + x0 + 1] + img[(y0 + 1) * S + x0] + img[(y0 + 1) * S + x0 + 1]) / 4;
        hi[k * S * S + y * S + x] = img[y * S + x];
        lo[k * S * S + y * S + x] = mean;
      }
    }
  }
  return { hi, lo };
}

const train = pairs('train', count);
node.writeNpy(join(dir, 'lowres.npy'), train.lo, [count, 1, S, S]);
node.writeNpy(join(dir, 'highres.npy'), train.hi, [count, 1, S, S]);
const test = pairs('test', 100);
node.writeNpy(join(dir, 'lowres-test.npy'), test.lo, [100, 1, S, S]);
node.writeNpy(join(dir, 'highres-test.npy'), test.hi, [100, 1, S, S]);
console.log(`wrote ${count} training pairs and 100 test pairs (float32 [N, 1, 16, 16] in [0, 1]) to ${dir}/{lowres,highres}[-test].npy`);
