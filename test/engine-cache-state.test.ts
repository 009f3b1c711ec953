/**
 * Saving and restoring the KV cache (Engine.exportCache / importCache): a context generated in two parts
 * with an export and an import into another Engine in between equals one generation, for the full cache
 * and for a compressed one; imports refuse another model's shape and damaged data, leaving the context.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine';
import type { Gpu } from '../src/gpu/device';
import { nodeModelFiles } from '../src/model/model-files';
import type { Policy } from '../src/rdkv/policy-names';
import type { Budget } from '../src/rdkv/budget';
import { requireGpu } from './gpu';

const text = readFileSync('tools/fixtures/train.txt', 'utf8');

describe('KV cache export and import', () => {
  let gpu: Gpu;
  let ea: Engine;
  let eb: Engine;
  /** The same model with an f16 KV cache. */
  let a16: Engine;
  let b16: Engine;
  let prompt: number[];
  beforeAll(async () => {
    gpu = await requireGpu();
    const files = await nodeModelFiles('test/fixtures/llama-f32');
    ea = await Engine.load(files, { gpu });
    eb = await Engine.load(await nodeModelFiles('test/fixtures/llama-f32'), { gpu });
    a16 = await Engine.load(await nodeModelFiles('test/fixtures/llama-f32'), { gpu, kvDtype: 'f16' });
    b16 = await Engine.load(await nodeModelFiles('test/fixtures/llama-f32'), { gpu, kvDtype: 'f16' });
    prompt = [ea.tokenizer.bosId!, ...ea.encode(text.slice(0, 4000), false).slice(0, 160)];
  });

  const cases: { name: string; policy?: Policy; budget?: Budget; f16?: boolean }[] = [
    { name: 'full cache' },
    { name: "policy 'rdkv', B = 24", policy: 'rdkv', budget: { tokens: 24 } },
    { name: 'full cache, f16', f16: true },
    { name: "policy 'rdkv', B = 24, f16", policy: 'rdkv', budget: { tokens: 24 }, f16: true },
  ];
  for (const c of cases) {
    it(`${c.name}: k tokens, export, import into another engine, N − k more = N in one go`, async () => {
      const [a, b] = c.f16 ? [a16, b16] : [ea, eb];
      const N = 14;
      const k = 5;
      const opts = { eosIds: [], policy: c.policy, budget: c.budget };
      const one = await a.generate(prompt, { ...opts, maxTokens: N });
      expect(one.tokens.length).toBe(N);

      const first = await a.generate(prompt, { ...opts, maxTokens: k });
      const snap = await a.exportCache();
      expect(snap.tokens).toEqual([...prompt, ...first.tokens]);
      if (c.policy) expect(a.cacheReport()!.retention).toBeLessThan(0.5);

      // B holds some other context first; the import replaces it.
      await b.generate(prompt.slice(0, 40), { maxTokens: 3, eosIds: [] });
      await b.importCache({ tokens: snap.tokens, data: snap.data.slice(0) });
      expect(b.cacheReport()).toEqual(a.cacheReport());
      expect(b.cacheBytes()).toBe(a.cacheBytes());
      // Saving the restored context again gives the same bytes.
      const again = await b.exportCache();
      expect(again.tokens).toEqual(snap.tokens);
      expect(new Uint8Array(again.data)).toEqual(new Uint8Array(snap.data));

      const rest = await b.generate([], { maxTokens: N - k, eosIds: [], continueContext: true });
      expect([...first.tokens, ...rest.tokens]).toEqual(one.tokens);
      expect((await b.exportCache()).tokens).toEqual([...prompt, ...one.tokens]);

      // A new prompt on top of the restored context: the same logits as on the original engine.
      const more = a.encode(' and then', false);
      const la = await a.generate(more, { maxTokens: 3, eosIds: [], continueContext: true, keepLogits: true });
      await b.importCache(snap);
      const lb = await b.generate(more, { maxTokens: 3, eosIds: [], continueContext: true, keepLogits: true });
      expect(lb.tokens).toEqual(la.tokens);
      lb.logits!.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(la.logits![i])));
    });
  }

  it('refuses another model shape, a truncated or corrupted blob and wrong ids, keeping the context', async () => {
    const a = ea;
    const first = await a.generate(prompt, { maxTokens: 4, eosIds: [], policy: 'rdkv', budget: { tokens: 24 } });
    const snap = await a.exportCache();
    const before = await a.exportCache();

    const qwen = await Engine.load(await nodeModelFiles('test/fixtures/qwen2-f32'), { gpu });
    await expect(qwen.importCache(snap)).rejects.toThrow(/another shape.*architecture: cache llama, model qwen2.*nLayers: cache 3, model 2/);
    qwen.destroy();
    await expect(a16.importCache(snap)).rejects.toThrow(/kvDtype: cache f32, model f16/);

    await expect(a.importCache({ tokens: snap.tokens, data: snap.data.slice(0, snap.data.byteLength - 100) })).rejects.toThrow(/truncated/);
    const bad = new Uint8Array(snap.data.slice(0));
    bad[bad.length - 50] ^= 0x10;
    await expect(a.importCache({ tokens: snap.tokens, data: bad.buffer })).rejects.toThrow(/checksum mismatch \(the data is corrupted\)/);
    await expect(a.importCache({ tokens: snap.tokens, data: new ArrayBuffer(64) })).rejects.toThrow(/bad magic/);
    await expect(a.importCache({ tokens: snap.tokens.slice(1), data: snap.data })).rejects.toThrow(/token ids given are not/);

    // Nothing changed: the context is still there and continues as before.
    const after = await a.exportCache();
    expect(new Uint8Array(after.data)).toEqual(new Uint8Array(before.data));
    const rest = await a.generate([], { maxTokens: 3, eosIds: [], continueContext: true });
    const one = await a.generate(prompt, { maxTokens: 7, eosIds: [], policy: 'rdkv', budget: { tokens: 24 } });
    expect([...first.tokens, ...rest.tokens]).toEqual(one.tokens);
  });
});
