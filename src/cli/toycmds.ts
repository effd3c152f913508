/** `flowgpu sample`, `flowgpu nll`, `flowgpu eval toy`. */
import { sampleSDE } from '../flow/sde.js';
import { logLikelihood } from '../flow/likelihood.js';
import { schedulerByName } from '../flow/schedulers.js';
import { sample, timeAsTensor, type SolverName } from '../flow/solvers.js';
import { sampleToy, TOY_NAMES, validateFinite } from '../data/toy.js';
import { readNpy, writeNpy, writePng } from '../io/node-files.js';
import { scatterPlot } from '../io/plot.js';
import { formatQuality, sampleQualityAgainst } from '../metrics/twod.js';
import { tensor } from '../tensor/tensor.js';
import { num, oneOf, parse } from './args.js';
import { UsageError } from './errors.js';
import { loadModel, type LoadedModel } from './model-file.js';
import { sampleMnistModel } from './mnist.js';
import { normalSource } from './toy.js';

export const SAMPLE_HELP = `flowgpu sample CKPT [options]     (CKPT: a run directory or a .safetensors file)
  --n N                  number of samples (default 10000 for 2-D toys, 1000 for MNIST)
  --solver NAME          euler | midpoint | heun | rk4 | dopri5 (default midpoint)
  --nfe N                velocity evaluations for fixed-step solvers (default 40)
  --rtol X --atol X      dopri5 tolerances (default 1e-5)
  --sde                  2-D toys: Euler–Maruyama with the score from the velocity (steps = --nfe, g = σ_t)
  --seed N               seed of the source noise (default 0)
  --out FILE.npy         where to write the samples (default samples.npy); MNIST: images
                         [N, 1, H, W] in [0, 1], and class labels (int32 [N]) in FILE.labels.npy
  --png FILE.png         also draw them (MNIST: a 10×10 grid, one row per class when conditional)
 conditional MNIST models:
  --class K              every sample of digit K (default: random digits)
  --per-class            N/10 samples of each digit, in order
  --guidance W           classifier-free guidance: v = v(x,t,∅) + W·(v(x,t,c) − v(x,t,∅)) (default 1)
`;

/** `flowgpu sample CKPT`: dispatches on the checkpoint's config kind (toy or mnist). */
export async function sampleCkpt(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, {
    n: { type: 'string' }, solver: { type: 'string' }, nfe: { type: 'string' }, rtol: { type: 'string' }, atol: { type: 'string' },
    sde: { type: 'boolean' }, seed: { type: 'string' }, out: { type: 'string' }, png: { type: 'string' },
    class: { type: 'string' }, 'per-class': { type: 'boolean' }, guidance: { type: 'string' },
  }, true) as { values: Record<string, string | undefined> & { sde?: boolean; 'per-class'?: boolean }; positionals: string[] };
  if (positionals.length !== 1) throw new UsageError(`flowgpu sample takes one checkpoint path\n\n${SAMPLE_HELP}`);
  const solver = oneOf(v.solver ?? 'midpoint', 'solver', ['euler', 'midpoint', 'heun', 'rk4', 'dopri5'] as const);
  const nfe = num(v.nfe ?? 40, 'nfe', { int: true, min: 1 });
  const seed = num(v.seed ?? 0, 'seed', { int: true, min: 0 });
  const out = v.out ?? 'samples.npy';
  const m = loadModel(positionals[0]);
  try {
    if (m.config.kind === 'mnist') {
      if (v.sde || v.rtol || v.atol) throw new UsageError('--sde, --rtol and --atol are for 2-D toy checkpoints');
      await sampleMnistModel(m, {
        n: num(v.n ?? 1000, 'n', { int: true, min: 1 }),
        solver,
        nfe,
        seed,
        out,
        png: v.png,
        classK: v.class === undefined ? undefined : num(v.class, 'class', { int: true, min: 0, max: 9 }),
        perClass: !!v['per-class'],
        guidance: num(v.guidance ?? 1, 'guidance'),
      });
      return;
    }
    if (v.class !== undefined || v['per-class'] || v.guidance !== undefined) throw new UsageError('--class, --per-class and --guidance are for conditional MNIST checkpoints');
    await sampleToyModel(m, { n: num(v.n ?? 10000, 'n', { int: true, min: 1 }), solver, nfe, seed, out, png: v.png, sde: !!v.sde, rtol: v.rtol, atol: v.atol });
  } finally {
    m.module.dispose();
  }
}

async function sampleToyModel(
  m: LoadedModel,
  f: { n: number; solver: SolverName; nfe: number; seed: number; out: string; png?: string; sde: boolean; rtol?: string; atol?: string },
): Promise<void> {
  const { n, solver, nfe, seed, out } = f;
  const cfg = m.config as unknown as Record<string, unknown> & { model: { dim: number }; path?: string; sigmaMin?: number; dataset?: string };
  const dim = cfg.model.dim;
  const vf = timeAsTensor((x, t) => m.forward(x, t));
  const x0 = normalSource(n, seed, dim);
  const res = f.sde
    ? await sampleSDE(vf, x0, { steps: nfe, seed, scheduler: schedulerByName(cfg.path ?? 'condot', { sigmaMin: cfg.sigmaMin }) })
    : await sample(vf, x0, { solver, nfe, rtol: f.rtol ? num(f.rtol, 'rtol', { gt: 0 }) : undefined, atol: f.atol ? num(f.atol, 'atol', { gt: 0 }) : undefined });
  const x = await res.x.f32();
  writeNpy(out, x, [n, dim]);
  process.stdout.write(`wrote ${n} samples to ${out} (${f.sde ? 'euler-maruyama' : solver}, ${res.nfe} velocity evaluations)\n`);
  if (f.png && dim === 2 && cfg.dataset) {
    writePng(f.png, scatterPlot(sampleToy(cfg.dataset, n, 12345), x, { titles: [`${cfg.dataset} data`, 'samples'] }));
  }
  x0.dispose();
  res.x.dispose();
}

export async function nll(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, {
    data: { type: 'string' }, hutchinson: { type: 'boolean' }, probes: { type: 'string' }, steps: { type: 'string' },
    solver: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
  }, true) as { values: Record<string, string | undefined> & { hutchinson?: boolean }; positionals: string[] };
  if (positionals.length !== 1 || !v.data) throw new UsageError('usage: flowgpu nll CKPT --data FILE.npy [--hutchinson [--probes K]] [--steps N] [--solver rk4] [--out logp.npy]');
  const m = loadModel(positionals[0]);
  if (m.config.kind !== 'toy') throw new UsageError(`flowgpu nll works on 2-D toy checkpoints; ${m.path} is a '${m.config.kind}' model`);
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
