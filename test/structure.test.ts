// The structure docs/architecture.md promises, checked on the source: no import circles between
// files, the CLI on the public Node entry only, and no Node-only module outside the Node files.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const src = files('src');
/** file → the specifiers it imports (static imports and re-exports; `import type` included). */
const imports = new Map(src.map((f) => [f, [...readFileSync(f, 'utf8').matchAll(/^(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1])]));
const local = (from: string, spec: string) => (spec.startsWith('.') ? normalize(join(dirname(from), spec)).replace(/\.js$/, '.ts') : null);

describe('source structure', () => {
  it('has no import circle between files', () => {
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        circles.push([...path.slice(path.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const s of imports.get(f) ?? []) {
        const t = local(f, s);
        if (t && imports.has(t)) visit(t, [...path, f]);
      }
      state.set(f, 'done');
    };
    for (const f of src) visit(f, []);
    expect(circles).toEqual([]);
  });

  it('keeps the CLI on the public Node entry (src/node.ts) and its own files', () => {
    const bad = src
      .filter((f) => f.startsWith(join('src', 'cli')))
      .flatMap((f) => (imports.get(f) ?? []).filter((s) => !s.startsWith('node:') && s !== '../node.js' && !/^\.\/[a-z-]+\.js$/.test(s)).map((s) => `${f}: ${s}`));
    expect(bad).toEqual([]);
  });

  it('keeps Node-only modules in the Node files (the browser bundle has none)', () => {
    const nodeFiles = (f: string) => /^src\/(cli\/|node\.ts|io\/node)/.test(relative('.', f));
    const bad = src.filter((f) => !nodeFiles(f)).flatMap((f) => (imports.get(f) ?? []).filter((s) => s.startsWith('node:')).map((s) => `${f}: ${s}`));
    expect(bad).toEqual([]);
  });
});
