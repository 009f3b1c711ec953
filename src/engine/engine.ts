/**
 * The engine: load a Hugging Face model folder onto the GPU, then prefill and generate. The same class
 * runs in a browser Worker and in Node; the page talks to it through src/worker/api.ts.
 */
import { acquireGpu, type Gpu } from '../gpu/device';
import { renderChat, type ChatMessage } from '../model/chat-template';
import type { ModelConfig } from '../model/config';
import { DECODE_AHEAD, prefillChunkFor, Transformer } from '../model/forward';
import { parseGenerationConfig, type GenerationConfig } from '../model/generation-config';
import { openCheckpoint, type Checkpoint, type ModelFiles } from '../model/model-files';
import { Tokenizer } from '../model/tokenizer';
import { uploadWeights, type GpuWeights, type UploadProgress } from '../model/upload';
import type { CompressOptions } from '../kv/rdkv-layer';
import type { Budget } from '../rdkv/budget';
import { CacheStateError, tokensHash } from '../kv/cache-state';
import { buildCacheReport, fullCacheReport, type CacheReport } from './cache-report';
import type { Policy } from '../rdkv/policy-names';
import { isGreedy, Sampler, type SamplingOptions } from './sampler';

export interface LoadOptions {
  gpu?: Gpu;
  onProgress?: (p: UploadProgress) => void;
  /** Prefill chunk rows (default prefillChunkFor(config): 256 for large models, up to 4096 for small ones). */
  prefillChunk?: number;
  /** KV cache precision; default f32 for f32 checkpoints, f16 otherwise. */
  kvDtype?: 'f32' | 'f16';
  /** A compressed prefill's hidden states in bf16 (ForwardOptions.hiddenBf16; default: for 16-bit weights). */
  hiddenBf16?: boolean;
}

export interface GenerateOptions {
  maxTokens: number;
  sampling?: SamplingOptions;
  /** Stop when one of these ids is produced (default: generation_config / tokenizer EOS). */
  eosIds?: readonly number[];
  /** Stop when the text ends with one of these (the stop string is cut from the text). */
  stopStrings?: readonly string[];
  onToken?: (id: number, textDelta: string) => void;
  /** Called after each prefill layer with (layersDone, nLayers). */
  onPrefillProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Read back and keep the full logits of every generated position (tests and analysis). */
  keepLogits?: boolean;
  /** Append to the current context instead of starting a new one. */
  continueContext?: boolean;
  /** KV cache policy after prefill (default 'full'); ignored when continuing a context. */
  policy?: Policy;
  /** B tokens per (layer, KV head), or a retention fraction of the full cache; default B = 1024. */
  budget?: Budget;
  /** Allocation details (zero-point mode, ε table, scoring form...). */
  compressOptions?: CompressOptions;
}

export type StopReason = 'eos' | 'stop' | 'length' | 'aborted';

export interface GenerateResult {
  promptTokens: number[];
  tokens: number[];
  text: string;
  prefillMs: number;
  decodeMs: number;
  stopReason: StopReason;
  logits?: Float32Array[];
  /** What the cache kept (after a fresh prefill). */
  report?: CacheReport;
}

export interface EngineInfo {
  adapter: Gpu['adapter'];
  model: string;
  config: ModelConfig;
  weightBytes: number;
  kvDtype: 'f32' | 'f16';
}

export class Engine {
  /** The last generated token when it was not yet fed back (it opens the next continued turn). */
  private pending: number | undefined;
  private report: CacheReport | null = null;
  /** What the report was built from (policy, prompt length), saved with the cache to rebuild it. */
  private reportSource: { policy: Policy; T: number } | null = null;
  /**
   * The context ids: every id fed to the cache, then `pending` when there is one. Null when unknown (a
   * prefill or generation that threw).
   */
  private contextIds: number[] | null = [];

  private constructor(
    readonly gpu: Gpu,
    readonly name: string,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly generation: GenerationConfig,
    readonly chatTemplate: Checkpoint['chatTemplate'],
    private readonly weights: GpuWeights,
    readonly forward: Transformer,
  ) {}

  static async load(files: ModelFiles, options: LoadOptions = {}): Promise<Engine> {
    const gpu = options.gpu ?? (await acquireGpu());
    const ckpt = await openCheckpoint(files);
    const tokenizer = await Tokenizer.load(ckpt.tokenizerJson, ckpt.tokenizerConfig, ckpt.config);
    const generation = parseGenerationConfig(ckpt.generationConfig, ckpt.config);
    const weights = await uploadWeights(gpu, ckpt, { onProgress: options.onProgress });
    const f32Model = weights.embed.dtype === 'f32' && weights.layers[0].q.dtype === 'f32';
    const kvF16 = (options.kvDtype ?? (f32Model ? 'f32' : 'f16')) === 'f16';
    const forward = await Transformer.create(gpu, ckpt.config, weights, { chunk: options.prefillChunk ?? prefillChunkFor(ckpt.config), kvF16, hiddenBf16: options.hiddenBf16 });
    return new Engine(
      gpu,
      files.name,
      ckpt.config,
      tokenizer,
      generation,
      ckpt.chatTemplate,
      weights,
      forward,
    );
  }

  info(): EngineInfo {
    return {
      adapter: this.gpu.adapter,
      model: this.name,
      config: this.config,
      weightBytes: this.weights.bytes,
      kvDtype: this.forward.options.kvF16 ? 'f16' : 'f32',
    };
  }

  /** Token ids of `text`; an empty text gives the BOS token alone. */
  encode(text: string, addBos = true): number[] {
    return this.tokenizer.encode(text, { addBos });
  }

  renderChat(messages: readonly ChatMessage[]): string {
    return renderChat(this.chatTemplate, messages, {
      addGenerationPrompt: true,
      bosToken: this.tokenizer.bosToken,
      eosToken: this.tokenizer.eosToken,
    });
  }

  /** Prefills `promptIds` (after the current context when continueContext) and generates. */
  async generate(promptIds: readonly number[], o: GenerateOptions): Promise<GenerateResult> {
    const f = this.forward;
    const asked = promptIds;
    const before = o.continueContext ? this.contextIds : [];
    this.contextIds = null;
    if (o.continueContext && this.pending !== undefined) promptIds = [this.pending, ...promptIds];
    if (!o.continueContext) f.reset();
    this.pending = undefined;
    const vocab = this.config.vocabSize;
    const bad = promptIds.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad !== undefined) throw new RangeError(`token id ${bad} is outside the vocabulary (size ${vocab})`);
    const eos = new Set(o.eosIds ?? this.generation.eosTokenIds);
    const sampling = o.sampling ?? {};
    // Greedy without logits: the argmax stays on the GPU and each step feeds the previous step's id from GPU
    // memory (decodeChained), up to DECODE_AHEAD steps beyond the id being read, so host work and readback
    // latency overlap the GPU's. Token k (k = 0: the prefill's) is read from slot k mod (DECODE_AHEAD + 1).
    const greedy = isGreedy(sampling) && !o.keepLogits;
    const slots = DECODE_AHEAD + 1;
    const sampler = new Sampler(sampling);
    let submitted = 0; // chained steps submitted: they produce tokens 1 .. submitted
    const next = async (k: number): Promise<{ id: number; logits?: Float32Array }> => {
      if (greedy) return { id: await f.readArgmax(k % slots) };
      const logits = await f.readLogits();
      return { id: sampler.sample(logits), logits: o.keepLogits ? logits : undefined };
    };

    const t0 = performance.now();
    const policy = o.continueContext ? undefined : (o.policy ?? 'full');
    if (policy === 'full') await f.reserve(promptIds.length + o.maxTokens);
    await f.prefill(promptIds, {
      signal: o.signal,
      onLayer: (l) => o.onPrefillProgress?.(l + 1, this.config.nLayers),
      compress: policy && policy !== 'full' ? { policy, budget: o.budget, options: o.compressOptions } : undefined,
    });
    if (policy) {
      this.report = this.buildReport(policy, promptIds.length);
      this.reportSource = { policy, T: promptIds.length };
    }
    let cur = await next(0);
    const prefillMs = performance.now() - t0;

    const tokens: number[] = [];
    const logits: Float32Array[] = [];
    const stream = this.tokenizer.streamDecoder();
    let text = '';
    let stopReason: StopReason = 'length';
    // Steps already submitted past token i fed ids that will not be kept: drop them from the context.
    let dropped = 0;
    const dropAhead = (i: number) => {
      if (greedy) f.rewind((dropped = submitted - i));
    };
    const t1 = performance.now();
    for (let i = 0; tokens.length < o.maxTokens; i++) {
      if (o.signal?.aborted) {
        stopReason = 'aborted';
        dropAhead(i);
        break;
      }
      if (cur.logits) logits.push(cur.logits);
      if (eos.has(cur.id)) {
        stopReason = 'eos';
        dropAhead(i);
        break;
      }
      // Tokens 0 .. maxTokens - 1 are emitted: steps produce tokens 1 .. maxTokens - 1.
      if (greedy) for (; submitted < Math.min(i + DECODE_AHEAD, o.maxTokens - 1); submitted++) await f.decodeChained((submitted + 1) % slots);
      tokens.push(cur.id);
      const delta = stream.push(cur.id);
      text += delta;
      o.onToken?.(cur.id, delta);
      const stop = o.stopStrings?.find((s) => s && text.endsWith(s));
      if (stop) {
        text = text.slice(0, -stop.length);
        stopReason = 'stop';
        dropAhead(i); // cur.id stays pending instead
        break;
      }
      if (i + 1 >= o.maxTokens) break;
      if (!greedy) await f.decode(cur.id);
      cur = await next(i + 1);
    }
    const decodeMs = performance.now() - t1;
    // The dropped steps may still be running: wait for them, so that no work of this call outlives it (a process
    // that exits, or destroys the engine, with decode steps in flight crashes Dawn for Node).
    if (dropped > 0) await this.gpu.device.queue.onSubmittedWorkDone();
    if ((stopReason === 'length' || stopReason === 'stop') && tokens.length) this.pending = tokens[tokens.length - 1];
    this.contextIds = before ? [...before, ...asked, ...tokens] : null;
    return {
      promptTokens: [...promptIds],
      tokens,
      text,
      prefillMs,
      decodeMs,
      stopReason,
      logits: o.keepLogits ? logits : undefined,
      report: policy ? this.report ?? undefined : undefined,
    };
  }

  private buildReport(policy: Policy, T: number): CacheReport {
    const c = this.config;
    const layers = this.forward.compressedLayers();
    if (!layers) return { ...fullCacheReport(c.nLayers, c.nKvHeads, T, c.headDim), policy };
    return buildCacheReport(policy, layers.map((l) => l.report), T, c.headDim);
  }

  /**
   * The context, saved: its ids (prompt and generated, in order; the last generated one may not be in the
   * cache yet: it is fed first when the context is continued) and the cache bytes (src/engine/cache-state.ts).
   */
  async exportCache(): Promise<{ tokens: number[]; data: ArrayBuffer }> {
    const ids = this.contextIds;
    const pending = this.pending;
    if (!ids || ids.length !== this.forward.length + (pending === undefined ? 0 : 1)) {
      throw new Error('the KV cache does not hold a known context (an interrupted generation); nothing to save');
    }
    const tokens = [...ids];
    const data = await this.forward.exportState({
      engine: { tokens: tokens.length, tokensHash: tokensHash(tokens), pending: pending ?? null, report: this.reportSource },
    });
    return { tokens, data };
  }

  /**
   * Restores a context exportCache saved (for this model): the next generate with continueContext goes on
   * from it. Throws, leaving the current context as it was, when the data is damaged, was saved for a
   * model of another shape, or does not come with its own ids.
   */
  async importCache(s: { tokens: number[]; data: ArrayBuffer }): Promise<void> {
    const vocab = this.config.vocabSize;
    const tokens = Array.from(s.tokens ?? []);
    const bad = tokens.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad !== undefined) throw new RangeError(`cannot restore the KV cache: token id ${bad} is outside the vocabulary (size ${vocab})`);
    let saved: { pending: number | null; report: { policy: Policy; T: number } | null } | undefined;
    const fail = (why: string): never => {
      throw new CacheStateError(`cannot restore the KV cache: ${why}`);
    };
    try {
      await this.forward.importState(s.data, (extra, length) => {
        const e = extra.engine as { tokens?: unknown; tokensHash?: unknown; pending?: unknown; report?: unknown } | undefined;
        if (!e || typeof e !== 'object') return fail('the data was not saved by an Engine');
        if (e.tokens !== tokens.length || e.tokensHash !== tokensHash(tokens)) fail(`the ${tokens.length} token ids given are not the ${String(e.tokens)} saved with the cache`);
        const pending = e.pending === null ? null : Number(e.pending);
        if (pending !== null && tokens[tokens.length - 1] !== pending) fail('the pending token is not the last context id');
        if (tokens.length !== length + (pending === null ? 0 : 1)) fail(`${tokens.length} ids for a cache of ${length} tokens`);
        const report = e.report as { policy: Policy; T: number } | null;
        saved = { pending, report: report && typeof report === 'object' ? { policy: report.policy, T: report.T } : null };
      });
    } catch (e) {
      // A failure after the old context was dropped leaves an empty cache.
      if (this.contextIds && this.contextIds.length !== this.forward.length + (this.pending === undefined ? 0 : 1)) this.forgetContext();
      throw e;
    }
    if (!saved) throw new Error('importState did not check the saved engine fields');
    this.pending = saved.pending ?? undefined;
    this.contextIds = tokens;
    this.reportSource = saved.report;
    this.report = saved.report ? this.buildReport(saved.report.policy, saved.report.T) : null;
  }

  private forgetContext(): void {
    this.forward.reset();
    this.pending = undefined;
    this.contextIds = [];
    this.report = null;
    this.reportSource = null;
  }

  /** The report of the last fresh prefill's cache (null before any). */
  cacheReport(): CacheReport | null {
    return this.report;
  }

  /** Bytes the KV cache holds now. */
  cacheBytes(): number {
    return this.forward.cacheBytes();
  }

  /** GPU buffer bytes held now and at most (weights, cache, working buffers), since the device was made. */
  gpuMemory(): { currentBytes: number; peakBytes: number } {
    return { currentBytes: this.gpu.memory.currentBytes, peakBytes: this.gpu.memory.peakBytes };
  }

  destroy(): void {
    this.forward.destroy();
    this.weights.destroy();
  }
}
