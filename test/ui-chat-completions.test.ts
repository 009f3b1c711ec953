import { describe, expect, it } from 'vitest';
import type { EngineApi, GenerateRequest, WorkerGenerateResult } from '../src/worker/api';
import { createChatCompletions, toRequest, type ChatCompletionChunk } from '../src/worker/chat-completions';

/** A fake engine that streams the given pieces, checking stop between them. */
function fakeEngine(pieces: string[], delayMs = 0) {
  let stopped = false;
  const seen: GenerateRequest[] = [];
  const api: Pick<EngineApi, 'generate' | 'stop'> = {
    async generate(req, onToken) {
      seen.push(req);
      stopped = false;
      const tokens: number[] = [];
      for (const [i, p] of pieces.entries()) {
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        if (stopped) break;
        tokens.push(i);
        onToken?.(i, p);
      }
      const r: WorkerGenerateResult = { promptTokens: [1, 2, 3], tokens, text: pieces.slice(0, tokens.length).join(''), prefillMs: 1, decodeMs: 1, stopReason: stopped ? 'aborted' : 'eos' };
      return r;
    },
    async stop() {
      stopped = true;
    },
  };
  return { api, seen };
}

describe('chat.completions facade', () => {
  it('maps OpenAI parameters onto a generate request', () => {
    const r = toRequest({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 7, temperature: 0.5, top_p: 0.9, stop: 'END', rdkv: { policy: 'snapkv', budget: { tokens: 64 } } });
    expect(r).toMatchObject({ maxTokens: 7, sampling: { temperature: 0.5, topP: 0.9 }, stopStrings: ['END'], policy: 'snapkv', budget: { tokens: 64 } });
    expect(toRequest({ messages: [{ role: 'user', content: 'x' }] }).sampling).toEqual({ greedy: true });
    expect(() => toRequest({ messages: [] })).toThrow(/non-empty/);
  });

  it('returns one completion with usage', async () => {
    const { api } = fakeEngine(['Hel', 'lo']);
    const client = createChatCompletions(api, { modelName: () => 'm' });
    const c = await client.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] });
    expect(c.object).toBe('chat.completion');
    expect(c.model).toBe('m');
    expect(c.choices[0].message).toEqual({ role: 'assistant', content: 'Hello' });
    expect(c.choices[0].finish_reason).toBe('stop');
    expect(c.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
  });

  it('streams chunks as an async iterator: role first, deltas, finish with usage', async () => {
    const { api } = fakeEngine(['a', 'b', 'c'], 1);
    const client = createChatCompletions(api);
    const stream = await client.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], stream: true });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.slice(1, -1).map((c) => c.choices[0].delta.content).join('')).toBe('abc');
    const last = chunks[chunks.length - 1];
    expect(last.choices[0].finish_reason).toBe('stop');
    expect(last.usage?.completion_tokens).toBe(3);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('breaking out of the loop or aborting stops the engine', async () => {
    const { api } = fakeEngine(Array.from({ length: 50 }, () => 'x'), 2);
    const client = createChatCompletions(api);
    const stream = await client.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], stream: true });
    let n = 0;
    for await (const _c of stream) if (++n === 3) break;
    const ac = new AbortController();
    const p = client.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], signal: ac.signal });
    setTimeout(() => ac.abort(), 10);
    const r = await p;
    expect(r.choices[0].finish_reason).toBe('abort');
    expect(r.choices[0].message.content.length).toBeLessThan(50);
  });

  it('rethrows engine errors from the iterator', async () => {
    const api: Pick<EngineApi, 'generate' | 'stop'> = { generate: () => Promise.reject(new Error('no model is loaded')), stop: async () => undefined };
    const stream = await createChatCompletions(api).chat.completions.create({ messages: [{ role: 'user', content: 'x' }], stream: true });
    await expect((async () => {
      for await (const _c of stream) void _c;
    })()).rejects.toThrow(/no model/);
  });
});
