/**
 * The engine in a module Worker in headless Chromium (WebGPU on the software adapter) against Hugging Face
 * transformers' own logits and greedy tokens for the fixture checkpoints (test/fixtures).
 */
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { worstFixtureError } from '../src/ref/logits';
import { serveFixtures } from './fixture-route';

for (const name of ['llama-f32', 'qwen2-f32', 'llama3-tied-sharded']) {
  test(`${name}: greedy tokens and logits through the Worker match transformers`, async ({ page }) => {
    const exp = JSON.parse(readFileSync(`test/fixtures/${name}/expected.json`, 'utf8')) as {
      promptIds: number[];
      greedyTokens: number[];
      vocabSize: number;
    };
    const bin = readFileSync(`test/fixtures/${name}/logits.bin`);
    const ref = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
    await serveFixtures(page);
    await page.goto('/?autoload=0');
    const got = await page.evaluate(
      async ({ url, ids }) => {
        const api = (window as unknown as { rdkv: { api: { load: (s: unknown) => Promise<unknown>; generate: (r: unknown) => Promise<{ tokens: number[]; logits?: Float32Array[] }> } } }).rdkv.api;
        await api.load({ kind: 'url', baseUrl: url });
        const r = await api.generate({ ids, maxTokens: 32, keepLogits: true, sampling: { greedy: true } });
        return { tokens: r.tokens, logits: (r.logits ?? []).map((l) => Array.from(l)) };
      },
      { url: new URL(`/test-models/${name}/`, page.url()).href, ids: exp.promptIds },
    );
    expect(got.tokens).toEqual(exp.greedyTokens);
    const worst = worstFixtureError(got.logits, ref, exp.promptIds.length, exp.vocabSize);
    expect(got.logits.length).toBe(32);
    expect(worst).toBeLessThan(1e-4);
  });
}
