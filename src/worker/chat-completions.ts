/**
 * An OpenAI-style facade over EngineApi: `chat.completions.create({ messages, stream })`. Non-streaming
 * calls resolve to one ChatCompletion; streaming calls resolve to an async iterable of chunks. Works over
 * the EngineService itself or over its Comlink remote (pass `wrap: Comlink.proxy` for the callbacks).
 */
import type { BudgetSetting, ChatMessage, EngineApi, GenerateRequest, Policy, WorkerGenerateResult } from './api';

export type FinishReason = 'stop' | 'length' | 'abort';

export interface ChatCompletionParams {
  messages: ChatMessage[];
  stream?: boolean;
  /** Informational: the loaded model answers. */
  model?: string;
  max_tokens?: number;
  /** 0 (default) is greedy. */
  temperature?: number;
  top_p?: number;
  top_k?: number;
  seed?: number;
  stop?: string | string[];
  /** Continue from the engine's current cache instead of prefilling the whole conversation. */
  continue?: boolean;
  /** KV cache compression after prefill. */
  rdkv?: { policy?: Policy; budget?: BudgetSetting };
  /** Aborting stops the engine (mid-prefill or mid-decode). */
  signal?: AbortSignal;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: { role: 'assistant'; content: string }; finish_reason: FinishReason }[];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: FinishReason | null }[];
  /** On the last chunk only. */
  usage?: Usage;
}

type Generator = Pick<EngineApi, 'generate' | 'stop'>;
type Wrap = <F extends (...args: never[]) => unknown>(f: F) => F;

export interface ChatCompletionsOptions {
  /** Wraps callbacks before they cross to the engine (Comlink.proxy for a remote). */
  wrap?: Wrap;
  /** Model name reported in responses. */
  modelName?: () => string;
}

export function finishReason(r: WorkerGenerateResult['stopReason']): FinishReason {
  return r === 'length' ? 'length' : r === 'aborted' ? 'abort' : 'stop';
}

export function toRequest(p: ChatCompletionParams): GenerateRequest {
  if (!Array.isArray(p.messages) || p.messages.length === 0) throw new TypeError('messages must be a non-empty array');
  for (const m of p.messages) {
    if (typeof m?.role !== 'string' || typeof m.content !== 'string') throw new TypeError('each message needs a string role and content');
  }
  const greedy = !p.temperature || p.temperature <= 0;
  return {
    messages: p.messages.map((m) => ({ role: m.role, content: m.content })),
    maxTokens: p.max_tokens ?? 256,
    sampling: greedy ? { greedy: true } : { temperature: p.temperature, topP: p.top_p, topK: p.top_k, seed: p.seed },
    stopStrings: p.stop === undefined ? undefined : Array.isArray(p.stop) ? p.stop : [p.stop],
    continueContext: p.continue,
    policy: p.rdkv?.policy,
    budget: p.rdkv?.budget,
  };
}

function usageOf(r: WorkerGenerateResult): Usage {
  return { prompt_tokens: r.promptTokens.length, completion_tokens: r.tokens.length, total_tokens: r.promptTokens.length + r.tokens.length };
}

let counter = 0;
const newId = () => `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`;

export function createChatCompletions(engine: Generator, options: ChatCompletionsOptions = {}) {
  const wrap: Wrap = options.wrap ?? ((f) => f);
  const modelName = options.modelName ?? (() => 'rdkv-web');

  async function complete(p: ChatCompletionParams): Promise<ChatCompletion> {
    const req = toRequest(p);
    const onAbort = () => void engine.stop();
    p.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await engine.generate(req);
      return {
        id: newId(),
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: modelName(),
        choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: finishReason(r.stopReason) }],
        usage: usageOf(r),
      };
    } finally {
      p.signal?.removeEventListener('abort', onAbort);
    }
  }

  function streamed(p: ChatCompletionParams): AsyncIterableIterator<ChatCompletionChunk> {
    const req = toRequest(p);
    const id = newId();
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null, usage?: Usage): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: modelName(),
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...(usage ? { usage } : {}),
    });
    const queue: ChatCompletionChunk[] = [chunk({ role: 'assistant', content: '' }, null)];
    let done = false;
    let failure: unknown = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    const onAbort = () => void engine.stop();
    p.signal?.addEventListener('abort', onAbort, { once: true });
    engine
      .generate(req, wrap((_id: number, delta: string) => {
        if (delta) queue.push(chunk({ content: delta }, null));
        notify();
      }))
      .then(
        (r) => queue.push(chunk({}, finishReason(r.stopReason), usageOf(r))),
        (e: unknown) => (failure = e ?? new Error('generation failed')),
      )
      .finally(() => {
        done = true;
        p.signal?.removeEventListener('abort', onAbort);
        notify();
      });

    const it: AsyncIterableIterator<ChatCompletionChunk> = {
      async next() {
        for (;;) {
          const c = queue.shift();
          if (c) return { value: c, done: false };
          if (failure !== null) {
            const f = failure;
            failure = null;
            throw f;
          }
          if (done) return { value: undefined, done: true };
          await new Promise<void>((r) => (wake = r));
        }
      },
      async return() {
        if (!done) await engine.stop();
        queue.length = 0;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  function create(p: ChatCompletionParams & { stream: true }): Promise<AsyncIterableIterator<ChatCompletionChunk>>;
  function create(p: ChatCompletionParams & { stream?: false }): Promise<ChatCompletion>;
  function create(p: ChatCompletionParams): Promise<ChatCompletion | AsyncIterableIterator<ChatCompletionChunk>>;
  function create(p: ChatCompletionParams): Promise<ChatCompletion | AsyncIterableIterator<ChatCompletionChunk>> {
    if (p.stream) {
      try {
        return Promise.resolve(streamed(p));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return complete(p);
  }

  return { chat: { completions: { create } } };
}

export type ChatCompletionsClient = ReturnType<typeof createChatCompletions>;
