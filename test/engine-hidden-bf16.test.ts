/** A compressed prefill of a 16-bit model keeps the prompt's hidden states in bf16 between layers. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine';
import type { Gpu } from '../src/gpu/device';
import { bf16HiddenBytes } from '../src/gpu/ops/hidden-bf16';
import { nodeModelFiles } from '../src/model/model-files';
import { relError, requireGpu } from './gpu';

describe('compressed prefill, hidden states in bf16', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  it('halves the hidden states in the peak, and the compressed result stays close to the f32 one', async () => {
    const files = await nodeModelFiles('test/fixtures/llama-bf16');
    // prefillChunk 32: several chunks, the last one partial.
    const wide = await Engine.load(files, { gpu, hiddenBf16: false, prefillChunk: 32 });
    const narrow = await Engine.load(files, { gpu, hiddenBf16: true, prefillChunk: 32 });
    const text = readFileSync('tools/fixtures/train.txt', 'utf8').slice(0, 4000);
    const ids = [wide.tokenizer.bosId!, ...wide.encode(text, false).slice(0, 149)];
    const run = async (e: Engine) => {
      // The prefill's own peak (the hidden states live through it), then a generation for the logits.
      e.forward.release();
      gpu.memory.resetPeak();
      await e.forward.prefill(ids, { compress: { policy: 'rdkv', budget: { tokens: 24 } } });
      const peak = gpu.memory.peakBytes;
      const r = await e.generate(ids, { maxTokens: 6, eosIds: [], keepLogits: true, policy: 'rdkv', budget: { tokens: 24 } });
      return { r, peak };
    };
    // A first run of each builds what persists across prefills (pipelines, reused scratch); the second is measured.
    await run(wide);
    await run(narrow);
    const a = await run(wide);
    const b = await run(narrow);
    const D = wide.config.hiddenSize;
    const chunks = [32, 32, 32, 32, 22];
    const saved = chunks.reduce((s, rows) => s + rows * D * 4 - bf16HiddenBytes(rows, D), 0);
    expect(saved).toBe((150 * D * 4) / 2);
    // The peak drops by the saving, up to the few hundred bytes of small buffers alive at one peak moment but
    // not at the other.
    expect(a.peak - b.peak).toBeLessThanOrEqual(saved);
    expect(a.peak - b.peak).toBeGreaterThan(saved - 1024);
    // After the prefill: bf16 rounding of the residual stream is a small change of the logits (0.3% on this
    // fixture). Later steps drift further (the allocation is discrete: a small change of the scores can move a
    // token's width), so only the first two greedy tokens are compared.
    const err = relError(b.r.logits![0], a.r.logits![0]);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(2e-2);
    expect(b.r.tokens.slice(0, 2)).toEqual(a.r.tokens.slice(0, 2));
    wide.destroy();
    narrow.destroy();
  });

  it('is the default for 16-bit weights only, and the full-cache prefill keeps f32', async () => {
    const f32 = await Engine.load(await nodeModelFiles('test/fixtures/llama-f32'), { gpu });
    const bf16 = await Engine.load(await nodeModelFiles('test/fixtures/llama-bf16'), { gpu });
    expect(f32.forward.options.hiddenBf16).toBeUndefined();
    const ids = [bf16.tokenizer.bosId!, ...bf16.encode('It is a truth universally acknowledged, that a single man in possession of a good fortune', false)];
    // Full cache: the bf16 engine's result equals one built with hiddenBf16 forced on (the option applies to
    // compressed prefills only).
    const forced = await Engine.load(await nodeModelFiles('test/fixtures/llama-bf16'), { gpu, hiddenBf16: true });
    const x = await bf16.generate(ids, { maxTokens: 4, eosIds: [], keepLogits: true });
    const y = await forced.generate(ids, { maxTokens: 4, eosIds: [], keepLogits: true });
    x.logits!.forEach((row, i) => expect(Array.from(y.logits![i])).toEqual(Array.from(row)));
    for (const e of [f32, bf16, forced]) e.destroy();
  });
});
