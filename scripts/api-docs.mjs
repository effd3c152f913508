// Generates docs/api.md from the package's public entries (src/index.ts, src/node.ts) with the
// TypeScript compiler: every namespace, every export in it, its kind and the first sentence of its
// doc comment. `node scripts/api-docs.mjs` writes the file; test/api-docs.test.ts fails when the
// file is stale, so the page cannot drift from the code.
import ts from 'typescript';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function kindOf(s, checker) {
  const f = s.flags;
  if (f & ts.SymbolFlags.Class) return 'class';
  if (f & ts.SymbolFlags.Function) return 'function';
  if (f & ts.SymbolFlags.Interface) return 'interface';
  if (f & ts.SymbolFlags.TypeAlias) return 'type';
  if (f & ts.SymbolFlags.Enum) return 'enum';
  if (f & ts.SymbolFlags.Variable) {
    const decl = s.valueDeclaration;
    const t = decl ? checker.getTypeOfSymbolAtLocation(s, decl) : null;
    return t && t.getCallSignatures().length ? 'function' : 'const';
  }
  if (f & ts.SymbolFlags.ValueModule || f & ts.SymbolFlags.NamespaceModule) return 'namespace';
  return 'value';
}

/** The first sentence of a doc comment, on one line. */
function purpose(s, checker) {
  const text = ts.displayPartsToString(s.getDocumentationComment(checker)).replace(/\s+/g, ' ').trim();
  if (!text) return '';
  const m = /^(.+?(?<!\b(?:e\.g|i\.e|vs|etc))\.)(\s|$)/.exec(text);
  return (m ? m[1] : text).replace(/\|/g, '\\|');
}

/** The doc comment at the top of a module file (before its first statement). */
function fileDoc(sf) {
  const ranges = ts.getLeadingCommentRanges(sf.text, 0) ?? [];
  const c = ranges.map((r) => sf.text.slice(r.pos, r.end)).find((t) => t.startsWith('/**'));
  return c ? c.replace(/^\/\*\*|\*\/$/g, '').split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join(' ').replace(/\s+/g, ' ').trim() : '';
}

export function apiMarkdown() {
  const entries = ['src/index.ts', 'src/node.ts'].map((f) => root + f);
  const program = ts.createProgram(entries, { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, strict: true, noEmit: true, types: [] });
  const checker = program.getTypeChecker();
  const resolve = (s) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const lines = [
    '# flowgpu API',
    '',
    'Generated from the public entries by `node scripts/api-docs.mjs` (test/api-docs.test.ts fails when it is stale).',
    "`import { … } from 'flowgpu'` gives the top level and the namespaces below; in Node it also gives `node`, the file helpers.",
    'Each line: the export, its kind, and the first sentence of its doc comment.',
  ];
  const seen = new Set();
  for (const entry of entries) {
    const sf = program.getSourceFile(entry);
    const mod = checker.getSymbolAtLocation(sf);
    const top = [];
    for (const ex of checker.getExportsOfModule(mod)) {
      if (seen.has(ex.name)) continue;
      seen.add(ex.name);
      const target = resolve(ex);
      const decl = target.declarations?.[0];
      if (decl && ts.isSourceFile(decl)) {
        lines.push('', `## ${ex.name}`, '', fileDoc(decl), '');
        const inner = checker.getExportsOfModule(target).map((s) => [s.name, resolve(s)]).sort(([a], [b]) => a.localeCompare(b));
        for (const [name, s] of inner) lines.push(`- \`${ex.name}.${name}\` (${kindOf(s, checker)}) ${purpose(s, checker)}`.trimEnd());
      } else {
        top.push(`- \`${ex.name}\` (${kindOf(target, checker)}) ${purpose(target, checker)}`.trimEnd());
      }
    }
    if (top.length) lines.splice(entry.endsWith('index.ts') ? 5 : lines.length, 0, '', entry.endsWith('index.ts') ? '## Top level' : '## Node entry', '', ...top);
  }
  return lines.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(root + 'docs/api.md', apiMarkdown());
  console.log('wrote docs/api.md');
}
