/** Flag parsing with validation: bad flags get a message that names the flag and what it takes. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

export type Spec = NonNullable<ParseArgsConfig['options']>;

export function parse(argv: string[], options: Spec, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
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

export function oneOf<T extends string>(v: unknown, flag: string, choices: readonly T[]): T {
  if (!choices.includes(v as T)) throw new UsageError(`--${flag} takes one of ${choices.join(', ')}, got '${String(v)}'`);
  return v as T;
}
