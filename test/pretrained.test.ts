/**
 * The shipped pretrained models (pretrained/, made by scripts/make-pretrained.mjs): each loads from
 * the package file in Node and from a URL through fetch in browsers (the same weights), holds F16
 * weights, and samples what it claims — the checkerboard's sliced W2 against fresh data is near
 * the data-vs-data floor. Errors name the problem: unknown names, a missing URL, a failed fetch.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { pretrained, pretrainedInfo, PRETRAINED, PRETRAINED_NAMES } from '../src/io/pretrained.js';
import { pretrained as nodePretrained, pretrainedPath } from '../src/io/node-pretrained.js';
import { generate } from '../src/flow/generate.js';
import { sampleToy } from '../src/data/toy.js';
import { sampleQualityAgainst } from '../src/metrics/twod.js';
import { useGpu } from './helpers.js';

useGpu();

describe('pretrained models', () => {
  it('every catalogue entry has its file, in F16, within the 4 MiB budget, and it loads with the right shape', () => {
    let total = 0;
    for (const name of PRETRAINED_NAMES) {
      const bytes = readFileSync(pretrainedPath(name));
      total += bytes.length;
      const file = decodeSafetensors(bytes);
      expect(file.tensors.length).toBeGreaterThan(0);
      expect(file.tensors.every((t) => t.dtype === 'F16')).toBe(true);
      expect(file.metadata.pretrained).toBe(name);
      const m = nodePretrained(name);
      try {
        expect(m.info).toBe(PRETRAINED[name]);
        expect(m.net.sampleShape).toEqual(name === 'checkerboard' ? [2] : [1, 16, 16]);
        expect(m.net.numClasses).toBe(name === 'checkerboard' ? 0 : 10);
      } finally {
        m.net.module.dispose();
      }
    }
    expect(total).toBeLessThan(4 * 1024 * 1024);
  });

  it('the checkerboard samples close to the data (sliced W2 within 0.03 of the data-vs-data floor), the same from a URL as from the file', async () => {
    const fromFile = nodePretrained('checkerboard');
    const bytes = readFileSync(pretrainedPath('checkerboard'));
    let asked = '';
    const fakeFetch = (async (url: string) => {
      asked = String(url);
      return new Response(bytes);
    }) as unknown as typeof fetch;
    const fromUrl = await pretrained('checkerboard', { url: 'https://example.test/pretrained/checkerboard.safetensors', fetch: fakeFetch });
    try {
      expect(asked).toBe('https://example.test/pretrained/checkerboard.safetensors');
      const info = pretrainedInfo('checkerboard');
      const a = await generate(fromFile.net, { n: 2000, solver: info.solver, nfe: info.nfe, seed: 3 });
      const b = await generate(fromUrl.net, { n: 2000, solver: info.solver, nfe: info.nfe, seed: 3 });
      expect(Array.from(b.x)).toEqual(Array.from(a.x));
      const q = sampleQualityAgainst(a.x, (k, seed) => sampleToy('checkerboard', k, seed), 2, { n: 2000 });
      expect(q.sw2).toBeLessThan(q.sw2Floor + 0.03);
    } finally {
      fromFile.net.module.dispose();
      fromUrl.net.module.dispose();
    }
  });

  it('says what is wrong: an unknown name, no URL in a browser, a URL that fails', async () => {
    expect(() => pretrainedInfo('mnist28')).toThrow(/no pretrained model 'mnist28': the shipped ones are checkerboard, mnist16-cond, mnist16-1step/);
    await expect(pretrained('checkerboard', undefined as never)).rejects.toThrow(/pass \{ url \} where the page serves checkerboard.safetensors/);
    const notFound = (async () => new Response('nope', { status: 404, statusText: 'Not Found' })) as unknown as typeof fetch;
    await expect(pretrained('checkerboard', { url: '/x.safetensors', fetch: notFound })).rejects.toThrow(/\/x.safetensors answered 404 Not Found/);
    const offline = (async () => { throw new TypeError('Failed to fetch'); }) as unknown as typeof fetch;
    await expect(pretrained('checkerboard', { url: '/x.safetensors', fetch: offline })).rejects.toThrow(/could not fetch \/x.safetensors: Failed to fetch/);
  });
});
