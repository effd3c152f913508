#!/usr/bin/env node
// `npm run demo`: builds the static site of demo/ into demo/dist/ (one folder any static host can
// serve) and, with --serve, serves it on 127.0.0.1 and prints the URL.
//
//   demo/dist/index.html      the 2-D playground (playground.js + its training worker, worker.js)
//   demo/dist/mnist.html      MNIST from the shipped weights (mnist.js)
//   demo/dist/bench.html      the bench suite with jax-js and tfjs-webgpu as peers (bench.js; see bench/README.md)
//   demo/dist/pretrained/     the package's pretrained/*.safetensors, fetched by the MNIST page
//   demo/dist/img/            pictures made beforehand, shown when the browser has no WebGPU
//
// The pages import `flowgpu` — the package's public browser entry, dist/browser/index.js (run
// `node build.mjs` first; `npm run demo` does) — exactly as an embedder would; esbuild splits the
// library into one shared chunk. Plain TypeScript and canvas, no UI framework. The bench page is
// flowgpu's own bench: it bundles bench/ and src/internal.ts (the same entries as `npm run bench`)
// and the peers (jax-js, tfjs), not the public entry.
//
//   node demo/build.mjs [--serve] [--port N]     (default port 8080; 0 picks a free one)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
export const OUT = join(here, 'dist');

/** Pictures for browsers without WebGPU: the first existing source of each. */
const PICTURES = {
  'checkerboard-samples.png': ['docs/images/checkerboard-samples.png'],
  'checkerboard-trajectories.png': ['docs/images/checkerboard-trajectories.png'],
  'mnist16-cond.png': ['docs/images/pretrained-mnist16-cond.png', 'docs/images/mnist16-cond-guidance2.png'],
  'mnist16-1step.png': ['docs/images/pretrained-mnist16-1step.png', 'docs/images/mnist16-1step-reflow-distill.png'],
};

export async function buildDemo({ typecheck = true } = {}) {
  const lib = join(root, 'dist/browser/index.js');
  if (!existsSync(lib)) throw new Error(`demo: no ${lib}: run \`node build.mjs\` first (npm run demo does)`);
  if (typecheck) {
    try {
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(here, 'tsconfig.json')], { stdio: 'inherit' });
    } catch {
      throw new Error('demo: the pages do not type-check (see above)');
    }
  }
  rmSync(OUT, { recursive: true, force: true });
  await build({
    entryPoints: {
      playground: join(here, 'src/playground.ts'),
      worker: join(here, 'src/worker.ts'),
      mnist: join(here, 'src/mnist.ts'),
      bench: join(here, 'src/bench.ts'),
    },
    outdir: OUT,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    alias: { flowgpu: lib },
    external: ['webgpu'],
    loader: { '.wgsl': 'text' },
    define: { __FLOWGPU_COMMIT__: JSON.stringify(gitCommit()) },
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'mnist.html', 'bench.html', 'style.css']) copyFileSync(join(here, f), join(OUT, f));
  mkdirSync(join(OUT, 'pretrained'));
  const pre = join(root, 'pretrained');
  for (const f of existsSync(pre) ? readdirSync(pre) : []) if (f.endsWith('.safetensors')) copyFileSync(join(pre, f), join(OUT, 'pretrained', f));
  mkdirSync(join(OUT, 'img'));
  for (const [name, sources] of Object.entries(PICTURES)) {
    const src = sources.map((s) => join(root, s)).find((s) => existsSync(s));
    if (src) copyFileSync(src, join(OUT, 'img', name));
  }
  return OUT;
}

/** The commit the pages are built from (`+dirty` with uncommitted changes), shown in the bench's report. */
function gitCommit() {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const h = git('rev-parse', '--short=12', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${h}+dirty` : h;
  } catch {
    return 'unknown';
  }
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.png': 'image/png', '.safetensors': 'application/octet-stream' };

/** Serves `dir` on 127.0.0.1:port (0: a free port); resolves with the server once it listens. */
export function serve(dir, port = 8080) {
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(dir, path));
    if (!file.startsWith(dir + sep) || !existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(readFileSync(file));
  });
  server.keepAliveTimeout = 1000;
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  try {
    const out = await buildDemo();
    console.log(`built ${out}`);
    if (args.includes('--serve')) {
      const i = args.indexOf('--port');
      const port = i >= 0 ? Number(args[i + 1]) : Number(process.env.PORT ?? 8080);
      const server = await serve(out, port);
      const url = `http://127.0.0.1:${server.address().port}/`;
      console.log(`serving the demo at ${url}  (playground: ${url}index.html, MNIST: ${url}mnist.html, bench: ${url}bench.html; Ctrl-C stops)`);
      console.log('WebGPU is needed: Chrome/Edge 113+, Safari 26, Firefox 141+ on Windows; on Linux start Chrome with --enable-unsafe-webgpu.');
    }
  } catch (e) {
    console.error(e.message ?? e);
    process.exit(1);
  }
}
