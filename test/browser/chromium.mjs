/**
 * Headless Chromium with WebGPU, as the browser checks (run.mjs, demo.mjs) and the browser bench
 * (bench/browser.mjs) open it: Debian's `chromium` package (or CHROMIUM=/path), driven by
 * playwright-core. --enable-unsafe-webgpu is needed (without it Linux Chromium has navigator.gpu but
 * no adapter); playwright-core adds --enable-unsafe-swiftshader (the software fallback) and a
 * temporary profile, removed on close. --disable-gpu is not passed: SwiftShader does not need it, and
 * where a real GPU exists the pages run on it.
 */
import { existsSync } from 'node:fs';

export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

/** Why Chromium cannot be started here (one line naming the fix), or null. */
export function chromiumProblem() {
  if (existsSync(chromiumPath)) return null;
  return `no Chromium at ${chromiumPath}: install Debian's package with \`bash scripts/install-chromium.sh\` (apt-get install chromium), or point CHROMIUM at a Chromium/Chrome binary`;
}

/** Rejects after ms with a message naming what timed out. */
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** Launches headless Chromium with WebGPU (within 90 s); throws with the fix when it cannot. */
export async function launchChromium() {
  const problem = chromiumProblem();
  if (problem) throw new Error(problem);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`cannot load playwright-core (${e.message}): run \`npm install\``);
  }
  return withTimeout(
    chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      timeout: 60_000,
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
    }),
    90_000,
    'launching Chromium',
  );
}
