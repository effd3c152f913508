// Builds the bundles with esbuild; kernels/*.wgsl are inlined as strings (loader 'text').
//   dist/node/index.js    the engine for Node (src/node.ts: the library plus file helpers; imports `webgpu` at run time)
//   dist/node/cli.js      the `flowgpu` command
//   dist/node/bench.js    the bench suite (`npm run bench`)
//   dist/browser/index.js the engine for browsers (navigator.gpu; no Node APIs)
//   dist/types/           declarations (tsc); a tsc error fails the build
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync } from 'node:fs';

const common = {
  bundle: true,
  format: 'esm',
  sourcemap: true,
  target: 'es2022',
  loader: { '.wgsl': 'text' },
  logLevel: 'warning',
};

rmSync('dist', { recursive: true, force: true });
const nodeEntries = { index: 'src/node.ts' }; // the library plus Node's file helpers
if (existsSync('src/cli/main.ts')) nodeEntries.cli = 'src/cli/main.ts';
if (existsSync('bench/main.ts')) nodeEntries.bench = 'bench/main.ts';
await build({
  ...common,
  entryPoints: nodeEntries,
  outdir: 'dist/node',
  platform: 'node',
  // Dawn's native module stays external; everything else is inlined.
  external: ['webgpu', '@tensorflow/*'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
if (nodeEntries.cli) {
  // esbuild keeps a leading #! line of the entry; make it executable for npm's bin link.
  chmodSync('dist/node/cli.js', 0o755);
}
await build({
  ...common,
  entryPoints: { index: 'src/browser.ts' },
  outdir: 'dist/browser',
  platform: 'browser',
  external: ['webgpu'],
});
// A package whose declarations do not compile is broken for every TypeScript consumer, so a tsc
// error (or a missing tsc) fails the build. typescript is a devDependency, and npm installs
// devDependencies before it runs `prepare` for a git install too, so tsc is always there when this
// runs as part of an install.
try {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
} catch (e) {
  console.error(`build: the type declarations failed (${e.status != null ? `tsc exited with ${e.status}` : e.message}); dist/types is incomplete`);
  process.exit(1);
}
console.log('built dist/');
