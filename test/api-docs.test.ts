// docs/api.md is generated from the public entries (scripts/api-docs.mjs): it must be current, and
// every export must carry a doc comment whose first sentence says what it is for.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without declarations
import { apiMarkdown } from '../scripts/api-docs.mjs';

describe('docs/api.md', () => {
  const md: string = apiMarkdown();

  it('is what the public entries say (regenerate: node scripts/api-docs.mjs)', () => {
    expect(readFileSync('docs/api.md', 'utf8')).toBe(md);
  });

  it('gives every export a one-line purpose, and lists the namespaces', () => {
    const bare = md.split('\n').filter((l) => /^- `[^`]+` \([a-z]+\)$/.test(l));
    expect(bare, `exports without a doc comment:\n${bare.join('\n')}`).toEqual([]);
    for (const ns of ['ops', 'nn', 'optim', 'flow', 'data', 'io', 'metrics', 'train', 'node']) expect(md).toContain(`\n## ${ns}\n`);
  });
});
