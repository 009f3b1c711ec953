/** Engine decoding paths agree: chained greedy (GPU-fed ids), plain greedy, stop strings, continuation. */
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine';
import type { Gpu } from '../src/gpu/device';
import { nodeModelFiles } from '../src/model/model-files';
import { requireGpu } from './gpu';

describe('engine decoding', () => {
  let gpu: Gpu;
  let engine: Engine;
  beforeAll(async () => {
    gpu = await requireGpu();
    engine = await Engine.load(await nodeModelFiles('test/fixtures/llama-f32'), { gpu });
  });

  it('chained greedy equals greedy with logits read back every step', async () => {
    const ids = engine.encode('It is a truth universally acknowledged');
    const chained = await engine.generate(ids, { maxTokens: 20, eosIds: [] });
    const plain = await engine.generate(ids, { maxTokens: 20, eosIds: [], keepLogits: true });
    expect(chained.tokens).toEqual(plain.tokens);
    expect(chained.tokens.length).toBe(20);
  });

  it('stops on an EOS id and on a stop string, and continues a context', async () => {
    const ids = engine.encode('Hello world');
    const full = await engine.generate(ids, { maxTokens: 12, eosIds: [] });
    const eosAt = full.tokens[5];
    const cut = await engine.generate(ids, { maxTokens: 12, eosIds: [eosAt] });
    expect(cut.stopReason).toBe('eos');
    expect(cut.tokens).toEqual(full.tokens.slice(0, full.tokens.indexOf(eosAt)));
    // Steps run ahead past the EOS are dropped: the cache holds the prompt and the tokens before the EOS's.
    expect(engine.forward.length).toBe(ids.length + cut.tokens.length);

    // A stop string: generation ends where the text first ends with it, and the string is cut off.
    const stopAt = engine.tokenizer.decode(full.tokens.slice(0, 4));
    const stopString = stopAt.slice(-2);
    const stopped = await engine.generate(ids, { maxTokens: 12, eosIds: [], stopStrings: [stopString] });
    expect(stopped.stopReason).toBe('stop');
    expect(stopped.text + stopString).toBe(engine.tokenizer.decode(stopped.tokens));
    expect(stopped.tokens.length).toBeLessThanOrEqual(4);
    // ... and the last token stays pending (fed first when the context continues), nothing past it.
    expect(engine.forward.length).toBe(ids.length + stopped.tokens.length - 1);
    // Continuing after the stop equals the uninterrupted run from there on.
    const after = await engine.generate([], { maxTokens: 3, eosIds: [], continueContext: true });
    expect([...stopped.tokens, ...after.tokens]).toEqual(full.tokens.slice(0, stopped.tokens.length + 3));

    // Generating 12 tokens in one go equals 6, then 6 more continuing the same context.
    const first = await engine.generate(ids, { maxTokens: 6, eosIds: [] });
    const rest = await engine.generate([], { maxTokens: 6, eosIds: [], continueContext: true });
    expect([...first.tokens, ...rest.tokens]).toEqual(full.tokens);
    // An aborted generation keeps the context it had reached (no step that ran ahead stays in the cache).
    const ac = new AbortController();
    const aborted = await engine.generate(ids, { maxTokens: 12, eosIds: [], signal: ac.signal, onToken: () => ac.abort() });
    expect(aborted.stopReason).toBe('aborted');
    expect(aborted.tokens.length).toBe(1);
    expect(engine.forward.length).toBe(ids.length + 1);
  });

  it('an empty prompt means BOS alone', () => {
    expect(engine.encode('')).toEqual([engine.tokenizer.bosId]);
  });
});
