#!/usr/bin/env node
// Writes the shipped models of pretrained/ from trained runs: each run's model.safetensors (its
// sampling weights and config) with every F32 tensor narrowed to F16 (round to nearest even),
// which halves the bytes; loadModel widens them back. The README's "Pretrained models" section
// has the commands that made the runs and the figures measured on these files.
//
//   node build.mjs && node scripts/make-pretrained.mjs checkerboard=runs/pretrained/checkerboard \
//     mnist16-cond=runs/pretrained/mnist16-cond mnist16-1step=runs/pretrained/mnist16-1step
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io } from '../dist/node/index.js';

const BUDGET = 4 * 1024 * 1024; // the folder's size budget (the whole npm tarball stays under 10 MB)
const args = process.argv.slice(2);
if (!args.length || args.some((a) => !a.includes('='))) {
  console.error(`usage: node scripts/make-pretrained.mjs NAME=RUN_DIR … (names: ${io.PRETRAINED_NAMES.join(', ')})`);
  process.exit(2);
}
mkdirSync('pretrained', { recursive: true });
for (const a of args) {
  const [name, dir] = a.split('=');
  const info = io.pretrainedInfo(name);
  const src = join(dir, 'model.safetensors');
  const file = io.decodeSafetensors(readFileSync(src), src);
  const metadata = { ...file.metadata, pretrained: name };
  const bytes = io.encodeSafetensors(io.toHalf(file.tensors), metadata);
  writeFileSync(join('pretrained', info.file), bytes);
  console.log(`pretrained/${info.file}: ${(bytes.length / 1024).toFixed(0)} KiB (from ${src}, ${(statSync(src).size / 1024).toFixed(0)} KiB as F32)`);
}
let total = 0;
for (const name of io.PRETRAINED_NAMES) {
  try { total += statSync(join('pretrained', io.PRETRAINED[name].file)).size; } catch { /* not made yet */ }
}
console.log(`pretrained/: ${(total / 1024 / 1024).toFixed(2)} MiB of the ${BUDGET / 1024 / 1024} MiB budget`);
if (total > BUDGET) { console.error('over the size budget'); process.exit(1); }
