/** `flowgpu sample`, `flowgpu nll`, `flowgpu eval toy`. */
import { sampleSDE } from '../flow/sde.js';
import { logLikelihood } from '../flow/likelihood.js';
import { schedulerByName } from '../flow/schedulers.js';
import { sample, timeAsTensor } from '../flow/solvers.js';
import { sampleToy, TOY_NAMES, validateFinite } from '../data/toy.js';
import { readNpy, writeNpy, writePng } from '../io/node-files.js';
import { scatterPlot } from '../io/plot.js';
import { formatQuality, sampleQualityAgainst } from '../metrics/twod.js';
import { tensor } from '../tensor/tensor.js';
import { num, oneOf, parse } from './args.js';
import { UsageError } from './errors.js';
import { loadModel } from './model-file.js';
import { normalSource } from './toy.js';

export const SAMPLE_HELP = `flowgpu sample CKPT [options]     (CKPT: a run directory or a .safetensors file)
  --n N                  number of samples (default 10000)
  --solver NAME          euler | midpoint | heun | rk4 | dopri5 (default midpoint)
  --nfe N                velocity evaluations for fixed-step solvers (default 40)
  --rtol X --atol X      dopri5 tolerances (default 1e-5)
  --sde                  Euler–Maruyama with the score from the velocity (steps = --nfe, g = σ_t)
  --seed N               seed of the source noise (default 0)
  --out FILE.npy         where to write the samples (default samples.npy)
  --png FILE.png         also draw them
`;

/** Samples a toy checkpoint (the MNIST side extends this via its own command when the config is mnist). */
export async function sampleToyCkpt(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, {
    n: { type: 'string' }, solver: { type: 'string' }, nfe: { type: 'string' }, rtol: { type: 'string' }, atol: { type: 'string' },
    sde: { type: 'boolean' }, seed: { type: 'string' }, out: { type: 'string' }, png: { type: 'string' },
  }, true) as { values: Record<string, string | undefined> & { sde?: boolean }; positionals: string[] };
  if (positionals.length !== 1) throw new UsageError(`flowgpu sample takes one checkpoint path\n\n${SAMPLE_HELP}`);
  const n = num(v.n ?? 10000, 'n', { int: true, min: 1 });
  const solver = oneOf(v.solver ?? 'midpoint', 'solver', ['euler', 'midpoint', 'heun', 'rk4', 'dopri5'] as const);
  const nfe = num(v.nfe ?? 40, 'nfe', { int: true, min: 1 });
  const seed = num(v.seed ?? 0, 'seed', { int: true, min: 0 });
  const out = v.out ?? 'samples.npy';
  const m = loadModel(positionals[0]);
  const cfg = m.config as unknown as Record<string, unknown> & { model: { dim: number }; path?: string; sigmaMin?: number; dataset?: string };
  const dim = cfg.model.dim;
  const vf = timeAsTensor((x, t) => m.forward(x, t));
  const x0 = normalSource(n, seed, dim);
  const res = v.sde
    ? await sampleSDE(vf, x0, { steps: nfe, seed, scheduler: schedulerByName(cfg.path ?? 'condot', { sigmaMin: cfg.sigmaMin }) })
    : await sample(vf, x0, { solver, nfe, rtol: v.rtol ? num(v.rtol, 'rtol', { gt: 0 }) : undefined, atol: v.atol ? num(v.atol, 'atol', { gt: 0 }) : undefined });
  const x = await res.x.f32();
  writeNpy(out, x, [n, dim]);
  process.stdout.write(`wrote ${n} samples to ${out} (${v.sde ? 'euler-maruyama' : solver}, ${res.nfe} velocity evaluations)\n`);
  if (v.png && dim === 2 && cfg.dataset) {
    writePng(v.png, scatterPlot(sampleToy(cfg.dataset, n, 12345), x, { titles: [`${cfg.dataset} data`, 'samples'] }));
  }
  x0.dispose();
  res.x.dispose();
  m.module.dispose();
}

export async function nll(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, {
    data: { type: 'string' }, hutchinson: { type: 'boolean' }, probes: { type: 'string' }, steps: { type: 'string' },
    solver: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
  }, true) as { values: Record<string, string | undefined> & { hutchinson?: boolean }; positionals: string[] };
  if (positionals.length !== 1 || !v.data) throw new UsageError('usage: flowgpu nll CKPT --data FILE.npy [--hutchinson [--probes K]] [--steps N] [--solver rk4] [--out logp.npy]');
  const m = loadModel(positionals[0]);
  const dim = (m.config as unknown as { model: { dim: number } }).model.dim;
  const arr = readNpy(v.data);
  if (arr.shape.length !== 2 || arr.shape[1] !== dim) {
    throw new UsageError(`${v.data}: points must be an [N, ${dim}] array for this model, got [${arr.shape.join(', ')}]`);
  }
  validateFinite(arr.data, dim, v.data);
  const x1 = tensor(Float32Array.from(arr.data), arr.shape);
  const res = await logLikelihood(timeAsTensor((x, t) => m.forward(x, t)), x1, {
    divergence: v.hutchinson ? 'hutchinson' : 'exact',
    probes: v.probes ? num(v.probes, 'probes', { int: true, min: 1 }) : undefined,
    steps: num(v.steps ?? 32, 'steps', { int: true, min: 1 }),
    solver: oneOf(v.solver ?? 'rk4', 'solver', ['euler', 'midpoint', 'heun', 'rk4', 'dopri5'] as const),
    seed: num(v.seed ?? 0, 'seed', { int: true, min: 0 }),
  });
  const lp = await res.logp.f32();
  let mean = 0;
  for (const x of lp) mean += x / lp.length;
  if (v.out) writeNpy(v.out, lp, [lp.length]);
  process.stdout.write(`mean log-likelihood ${mean.toFixed(4)} nats over ${lp.length} points (${(-mean / dim / Math.LN2).toFixed(4)} bits/dim; ${res.nfe} velocity evaluations)\n`);
  return 0;
}

export async function evalToy(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, { dataset: { type: 'string' }, n: { type: 'string' } }, true) as {
    values: Record<string, string | undefined>; positionals: string[];
  };
  if (positionals.length !== 1 || !v.dataset) throw new UsageError(`usage: flowgpu eval toy SAMPLES.npy --dataset ${TOY_NAMES.join('|')} [--n 2000]`);
  const dataset = oneOf(v.dataset, 'dataset', TOY_NAMES);
  const arr = readNpy(positionals[0]);
  if (arr.shape.length !== 2 || arr.shape[1] !== 2) throw new UsageError(`${positionals[0]}: expected [N, 2] samples, got [${arr.shape.join(', ')}]`);
  const q = sampleQualityAgainst(arr.data, (n, seed) => sampleToy(dataset, n, seed), 2, { n: num(v.n ?? 2000, 'n', { int: true, min: 2 }) });
  process.stdout.write(formatQuality(q) + '\n' + JSON.stringify(q) + '\n');
}
