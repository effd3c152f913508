import { defineConfig } from 'vitest/config';
import { readFileSync } from 'node:fs';

// Load kernels/*.wgsl as strings, exactly as build.mjs does for the bundles.
const wgslAsText = {
  name: 'wgsl-as-text',
  enforce: 'pre' as const,
  load(id: string) {
    if (id.endsWith('.wgsl')) return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
    return null;
  },
};

export default defineConfig({
  plugins: [wgslAsText],
  test: {
    include: ['test/**/*.test.ts'],
    // One worker, one device: Dawn and lavapipe each start their own threads, and a device per
    // worker multiplies them on a 2-core machine.
    pool: 'forks',
    maxWorkers: 1,
    isolate: false,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
