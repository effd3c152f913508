// The library example in README.md runs as written: extract the ```ts block and run it with Node
// against the built package (import 'flowgpu' resolves to dist/ through the package's own exports;
// `npm ci` builds dist/ in its prepare step).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('the library example runs as written and prints samples of the 8 gaussians', () => {
    expect(existsSync('dist/node/index.js'), 'dist/ is missing: run `npm run build` (npm ci does it)').toBe(true);
    const md = readFileSync('README.md', 'utf8');
    const m = /```ts\n([\s\S]*?)```/.exec(md);
    expect(m, 'README.md has no ```ts example').toBeTruthy();
    // inside the checkout so that `import 'flowgpu'` resolves to this package
    const dir = mkdtempSync(join(process.cwd(), '.readme-test-'));
    const file = join(dir, 'example.mjs');
    writeFileSync(file, m![1]);
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
    rmSync(dir, { recursive: true, force: true });
    const nums = [...out.matchAll(/-?\d+\.\d+(e-?\d+)?/g)].map((x) => Number(x[0]));
    expect(nums.length).toBe(6);
    // 8 gaussians: centres at radius 5 with std ≈ 0.56; after 300 small steps the points are spread
    // out to that scale (an untrained net would leave them near N(0, I)).
    const radii = [0, 2, 4].map((i) => Math.hypot(nums[i], nums[i + 1]));
    expect(Math.max(...radii)).toBeGreaterThan(2.5);
  });
});
