/** Flag parsing with validation: a bad flag gets a message that names it and what it takes. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A wrong command line: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `--help`: the text goes to stdout and the exit code is 0. */
export class HelpRequest extends UsageError {
  override name = 'HelpRequest';
}

export type Spec = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

/** Parses argv strictly; `help` (-h) is accepted everywhere and answered with `helpText`. */
export function parse(argv: string[], options: Spec, helpText: string, positionals = 0): { v: Record<string, string | undefined>; flag: (k: string) => boolean; pos: string[] } {
  let r;
  try {
    r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals > 0 });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  const values = r.values as Values;
  if (values.help) throw new HelpRequest(helpText);
  return { v: values as Record<string, string | undefined>, flag: (k) => values[k] === true, pos: r.positionals };
}

export function num(v: unknown, flag: string, o: { int?: boolean; min?: number; max?: number; gt?: number } = {}): number {
  const x = Number(v);
  const what = o.int ? 'an integer' : 'a number';
  if (v === undefined || v === '' || !Number.isFinite(x) || (o.int && !Number.isInteger(x))) {
    throw new UsageError(`--${flag} takes ${what}, got '${String(v)}'`);
  }
  if (o.min !== undefined && x < o.min) throw new UsageError(`--${flag} must be ≥ ${o.min}, got ${x}`);
  if (o.max !== undefined && x > o.max) throw new UsageError(`--${flag} must be ≤ ${o.max}, got ${x}`);
  if (o.gt !== undefined && !(x > o.gt)) throw new UsageError(`--${flag} must be > ${o.gt}, got ${x}`);
  return x;
}

/** An optional number flag: undefined when absent. */
export function optNum(v: string | undefined, flag: string, o: Parameters<typeof num>[2] = {}): number | undefined {
  return v === undefined ? undefined : num(v, flag, o);
}

export function oneOf<T extends string>(v: unknown, flag: string, choices: readonly T[]): T {
  if (!choices.includes(v as T)) throw new UsageError(`--${flag} takes one of ${choices.join(', ')}, got '${String(v)}'`);
  return v as T;
}

export const SOLVERS = ['euler', 'midpoint', 'heun', 'rk4', 'dopri5'] as const;

/** The flags every training command takes (spread into a command's own table). */
export const LOOP_OPTIONS = {
  steps: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, hidden: { type: 'string' }, layers: { type: 'string' },
  warmup: { type: 'string' }, 'weight-decay': { type: 'string' }, 'grad-clip': { type: 'string' }, ema: { type: 'string' },
  seed: { type: 'string' }, out: { type: 'string' }, resume: { type: 'boolean' }, force: { type: 'boolean' }, 'log-every': { type: 'string' },
  'ckpt-every': { type: 'string' }, samples: { type: 'string' }, solver: { type: 'string' }, nfe: { type: 'string' },
  profile: { type: 'boolean' },
} as const;

/** The loop settings stored in a run's config (the Trainer's options of the same names). */
export interface LoopSettings {
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  gradClip: number | null;
  ema: number;
  seed: number;
  logEvery: number;
}

/** What a training command does besides training: resume, checkpoints, profile and the final samples. */
export interface RunFlags {
  out: string;
  resume: boolean;
  /** Replace the run in --out (otherwise a directory holding one is refused without --resume). */
  force: boolean;
  ckptEvery: number;
  profile: boolean;
  samples: number;
  solver: (typeof SOLVERS)[number];
  nfe: number;
}

/** Reads LOOP_OPTIONS' values with a command's defaults. --grad-clip 0 turns clipping off. */
/** The lines every training command's --help has about its run directory. */
export const RUN_DIR_HELP = `  --resume               continue the run in --out from its checkpoint
  --force                replace the run in --out (without it, a directory that holds a run is refused)`;

export function loopSettings(
  v: Record<string, string | undefined>,
  flag: (k: string) => boolean,
  d: { steps: number; batch: number; lr: number; gradClip: number | null; samples: number; minBatch?: number; out: string; nfe?: number; warmup?: number; ema?: number },
): { loop: LoopSettings; run: RunFlags } {
  if (flag('resume') && flag('force')) throw new UsageError('give --resume (continue the run) or --force (replace it), not both');
  const logEvery = num(v['log-every'] ?? 50, 'log-every', { int: true, min: 1 });
  const ckptEvery = num(v['ckpt-every'] ?? 500, 'ckpt-every', { int: true, min: 1 });
  if (ckptEvery % logEvery !== 0) throw new UsageError(`--ckpt-every (${ckptEvery}) must be a multiple of --log-every (${logEvery}) so a resumed run logs the same windows`);
  const clip = v['grad-clip'];
  return {
    loop: {
      steps: num(v.steps ?? d.steps, 'steps', { int: true, min: 1 }),
      batch: num(v.batch ?? d.batch, 'batch', { int: true, min: d.minBatch ?? 1 }),
      lr: num(v.lr ?? d.lr, 'lr', { gt: 0 }),
      warmup: num(v.warmup ?? d.warmup ?? 0, 'warmup', { int: true, min: 0 }),
      weightDecay: num(v['weight-decay'] ?? 0, 'weight-decay', { min: 0 }),
      gradClip: clip === undefined ? d.gradClip : clip === '0' ? null : num(clip, 'grad-clip', { gt: 0 }),
      ema: num(v.ema ?? d.ema ?? 0.999, 'ema', { min: 0, max: 1 }),
      seed: num(v.seed ?? 0, 'seed', { int: true, min: 0 }),
      logEvery,
    },
    run: {
      out: v.out ?? d.out,
      resume: flag('resume'),
      force: flag('force'),
      ckptEvery,
      profile: flag('profile'),
      samples: num(v.samples ?? d.samples, 'samples', { int: true, min: 1 }),
      solver: oneOf(v.solver ?? 'midpoint', 'solver', SOLVERS),
      nfe: num(v.nfe ?? d.nfe ?? 40, 'nfe', { int: true, min: 1 }),
    },
  };
}

/**
 * `--pairs X0 X1` takes two values, which node's parseArgs cannot: rewritten to
 * `--pairs-x0 X0 --data X1` before parsing (X1, the data, replaces --data).
 */
export function pairsArgs(argv: string[]): string[] {
  const i = argv.indexOf('--pairs');
  if (i < 0) return argv;
  const [a, b] = [argv[i + 1], argv[i + 2]];
  if (!a || !b || a.startsWith('--') || b.startsWith('--')) throw new UsageError('--pairs takes two files (or folders): --pairs X0 X1 (item i of X0 flows to item i of X1)');
  if (argv.includes('--data')) throw new UsageError('--pairs X0 X1 gives the data (X1): leave out --data');
  return [...argv.slice(0, i), '--pairs-x0', a, '--data', b, ...argv.slice(i + 3)];
}
