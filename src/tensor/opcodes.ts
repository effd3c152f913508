/**
 * Op codes shared by TypeScript and WGSL, in one place. A kernel that switches on an op (its `OP`
 * or `ACT` override) names the cases `OP_NEG`, `ACT_SILU`, …; those constants are not written in
 * the .wgsl file but generated from the tables below and prepended to its source when the family
 * is registered (`withOpCodes`), at run time, so the Node and browser bundles (WGSL inlined as
 * strings) and vitest (WGSL loaded as text) compile the same source. A code added here without a
 * case in the kernel, a case in the kernel without a code here, or a case written as a bare number
 * fails test/opcodes.test.ts, so the two sides cannot drift apart.
 */

import { afterDirectives } from './wgsl-lib.js';

/** kernels/elementwise.wgsl: y = f(x) and gx = gy·f'(x). */
export const UNARY = {
  neg: 0, exp: 1, log: 2, sqrt: 3, pow: 4, abs: 5, relu: 6, silu: 7, gelu: 8, sigmoid: 9, tanh: 10, sin: 11, cos: 12, affine: 13,
} as const;
export type UnaryOp = keyof typeof UNARY;

/** kernels/binary.wgsl: c = a ∘ b. */
export const BINARY = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, eq: 6, gt: 7, pow: 8 } as const;
export type BinaryOp = keyof typeof BINARY;

/** kernels/reduce.wgsl: the reduction along an axis. */
export const REDUCE = { sum: 0, max: 1 } as const;
export type ReduceOp = keyof typeof REDUCE;

/** kernels/matmul.wgsl and matmul_subgroup.wgsl: the activation fused into the store. */
export const ACT = { none: 0, relu: 1, silu: 2 } as const;
export type Activation = keyof typeof ACT;

/** The kernel families whose WGSL uses generated op codes: the constants' prefix and their table. */
export const KERNEL_OP_CODES = {
  elementwise: { prefix: 'OP', codes: UNARY },
  binary: { prefix: 'OP', codes: BINARY },
  reduce: { prefix: 'OP', codes: REDUCE },
  matmul: { prefix: 'ACT', codes: ACT },
  matmul_subgroup: { prefix: 'ACT', codes: ACT },
} as const;
export type OpCodedFamily = keyof typeof KERNEL_OP_CODES;

/** `const OP_NEG: u32 = 0u;` … for one family, one declaration a line. */
export function opCodeDeclarations(family: OpCodedFamily): string {
  const { prefix, codes } = KERNEL_OP_CODES[family];
  return Object.entries(codes)
    .map(([name, code]) => `const ${prefix}_${name.toUpperCase()}: u32 = ${code}u;\n`)
    .join('');
}

/**
 * The family's WGSL source with its op-code constants declared in front of its first global
 * declaration: after the directives (`enable subgroups;` …), which WGSL requires to come first.
 */
export function withOpCodes(family: OpCodedFamily, src: string): string {
  return afterDirectives(src, `// op codes generated from src/tensor/opcodes.ts\n${opCodeDeclarations(family)}`);
}
