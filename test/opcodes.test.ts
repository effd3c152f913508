/**
 * Op codes have one source, src/tensor/opcodes.ts: the kernels that switch on an op name their
 * cases with generated constants (OP_NEG, ACT_SILU, …) and never declare them or write a bare
 * number. These tests read the .wgsl files as written and hold both sides to each other, so a code
 * added on one side only, or a case written as a number, fails here by name.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KERNEL_OP_CODES, opCodeDeclarations, withOpCodes, type OpCodedFamily } from '../src/tensor/opcodes.js';
import { raw } from '../src/internal.js';
import { useGpu } from './helpers.js';

useGpu();

const families = Object.keys(KERNEL_OP_CODES) as OpCodedFamily[];
const wgsl = (family: string) => readFileSync(new URL(`../kernels/${family}.wgsl`, import.meta.url), 'utf8');
/** The code of a WGSL file with its comments removed. */
const code = (src: string) => src.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');

describe('op codes shared by TypeScript and WGSL', () => {
  for (const family of families) {
    const { prefix, codes } = KERNEL_OP_CODES[family];
    const generated = Object.keys(codes).map((k) => `${prefix}_${k.toUpperCase()}`);

    it(`kernels/${family}.wgsl uses exactly the ${prefix}_* codes of its table`, () => {
      const src = code(wgsl(family));
      const used = new Set(src.match(new RegExp(`\\b${prefix}_[A-Z0-9_]+\\b`, 'g')) ?? []);
      const unknown = [...used].filter((n) => !generated.includes(n));
      const unused = generated.filter((n) => !used.has(n));
      expect(unknown, `${family}: names the table does not define`).toEqual([]);
      expect(unused, `${family}: table entries the kernel never handles`).toEqual([]);
    });

    it(`kernels/${family}.wgsl neither declares its codes nor tests ${prefix} against a bare number`, () => {
      const src = code(wgsl(family));
      expect(src, `${family} declares its own ${prefix}_* constant`).not.toMatch(new RegExp(`\\b(const|override|let|var)\\s+${prefix}_`));
      expect(src, `${family}: a case selector written as a number`).not.toMatch(/\bcase\s+\d/);
      expect(src, `${family}: ${prefix} compared with a number`).not.toMatch(new RegExp(`\\b${prefix}\\s*[!=]=\\s*\\d|\\d\\w*\\s*[!=]=\\s*${prefix}\\b`));
    });

    it(`the ${family} table's codes are distinct`, () => {
      const values = Object.values(codes);
      expect(new Set(values).size, `${family}: two ops share a code`).toBe(values.length);
    });
  }

  it('the declarations are generated from the table and placed after WGSL directives', () => {
    expect(opCodeDeclarations('elementwise')).toContain(`const OP_SILU: u32 = ${raw.UNARY.silu}u;`);
    expect(opCodeDeclarations('matmul')).toContain(`const ACT_RELU: u32 = ${raw.ACT.relu}u;`);
    const src = withOpCodes('matmul_subgroup', 'enable subgroups;\nfn f() {}\n');
    expect(src.indexOf('enable subgroups;')).toBe(0);
    expect(src.indexOf('const ACT_NONE')).toBeGreaterThan(src.indexOf('enable subgroups;'));
  });

  it('the registered families compile with the generated constants in front', () => {
    for (const family of ['elementwise', 'binary', 'reduce'] as const) {
      expect(raw.kernel(family).code.startsWith(withOpCodes(family, '').trim())).toBe(true);
    }
  });
});
