/**
 * WGSL that several kernel families share, inserted into their source when they are registered:
 * after the directives (`enable subgroups;` …), which WGSL requires to come first. Functions and
 * constants may be declared in any order, so a library in front of a family is like an include.
 *
 *   kernels/trig.wgsl   sin_acc, cos_acc, sincos_acc: sin and cos to a few ulp on every driver
 */
import trigSrc from '../../kernels/trig.wgsl';

/** `src` with `text` inserted after its directives (at the start when it has none). */
export function afterDirectives(src: string, text: string): string {
  const directives = [...src.matchAll(/^[ \t]*(?:enable|requires|diagnostic)\b[^;\n]*;[^\n]*\n/gm)];
  const at = directives.length ? directives[directives.length - 1].index! + directives[directives.length - 1][0].length : 0;
  return `${src.slice(0, at)}${text}\n${src.slice(at)}`;
}

/** A family's source with the trigonometry library in front (kernels/trig.wgsl). */
export function withTrig(src: string): string {
  return afterDirectives(src, trigSrc);
}
