/** The EngineApi implementation: runs in the Worker (or in-thread in tests), owns the Engine. */
import * as Comlink from 'comlink';
import { Engine, type EngineInfo, type GenerateOptions } from '../engine/engine';
import { acquireGpu, NoWebGpuError, type Gpu } from '../gpu/device';
import { fileListModelFiles, urlModelFiles, type ModelFiles } from '../model/model-files';
import type { UploadProgress } from '../model/upload';
import { storedModelFiles } from '../storage/stored-model-files';
import type {
  CacheReport,
  CacheSnapshot,
  DeviceProbe,
  EngineApi,
  EngineCompressionHooks,
  EngineStats,
  GenerateRequest,
  ModelSource,
  PrefillProgress,
  PromptSpec,
  WorkerGenerateResult,
} from './api';
import { continuationSuffix } from './continuation';

const LIMIT_KEYS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup'] as const;

function pickLimits(l: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of LIMIT_KEYS) out[k] = Number(l[k]);
  return out;
}

/** A copy of a report whose buffers this side owns, marked for transfer. */
export function transferReport(r: CacheReport): CacheReport {
  const copy: CacheReport = { ...r, vWidths: r.vWidths.slice(), kWidths: r.kWidths.slice(), predictedDistortion: r.predictedDistortion.slice() };
  return Comlink.transfer(copy, [copy.vWidths.buffer, copy.kWidths.buffer, copy.predictedDistortion.buffer]);
}

function isAbort(e: unknown): boolean {
  return (e instanceof Error || e instanceof DOMException) && e.name === 'AbortError';
}

type HookedEngine = Engine & Partial<EngineCompressionHooks>;

export class EngineService implements EngineApi {
  private engine: HookedEngine | null = null;
  private gpu: Gpu | null = null;
  private abort: AbortController | null = null;
  /** The rendered text the cache holds (null when unknown: plain prompts, aborted prefill). */
  private contextText: string | null = null;
  private lastPrefill: EngineStats['lastPrefill'] = null;
  private lastDecode: EngineStats['lastDecode'] = null;
  private lostCallbacks: ((reason: string) => void)[] = [];

  async probe(): Promise<DeviceProbe> {
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!gpu) throw new NoWebGpuError('This browser does not expose WebGPU (navigator.gpu is missing).');
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new NoWebGpuError('WebGPU is present but no adapter was found.');
    const info = adapter.info;
    return {
      adapter: {
        vendor: info?.vendor ?? '',
        architecture: info?.architecture ?? '',
        device: info?.device ?? '',
        description: info?.description ?? '',
        isFallbackAdapter: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? false,
      },
      limits: pickLimits(adapter.limits),
      features: [...adapter.features],
    };
  }

  async load(source: ModelSource, onProgress?: (p: UploadProgress) => void): Promise<EngineInfo> {
    const files: ModelFiles =
      source.kind === 'url'
        ? urlModelFiles(source.baseUrl)
        : source.kind === 'files'
          ? fileListModelFiles(source.files)
          : await storedModelFiles(source.id);
    if (!this.gpu) {
      const gpu = await acquireGpu();
      this.gpu = gpu;
      void gpu.device.lost.then((info) => {
        if (this.gpu !== gpu) return;
        this.gpu = null;
        this.engine = null;
        this.contextText = null;
        if (info.reason !== 'destroyed') for (const cb of this.lostCallbacks) cb(info.message || 'the GPU device was lost');
      });
    }
    this.engine?.destroy();
    this.engine = null;
    this.contextText = null;
    this.engine = (await Engine.load(files, { onProgress, gpu: this.gpu })) as HookedEngine;
    return this.engine.info();
  }

  async unload(): Promise<void> {
    this.engine?.destroy();
    this.engine = null;
    this.contextText = null;
  }

  async encode(text: string, addBos = true): Promise<number[]> {
    return this.need().encode(text, addBos);
  }

  async countTokens(spec: PromptSpec): Promise<number> {
    return this.promptIds(spec, false).ids.length;
  }

  async tokenPieces(ids: number[]): Promise<string[]> {
    const stream = this.need().tokenizer.streamDecoder();
    return ids.map((id) => stream.push(id));
  }

  async generate(
    req: GenerateRequest,
    onToken?: (id: number, delta: string) => void,
    onPrefill?: (p: PrefillProgress) => void,
  ): Promise<WorkerGenerateResult> {
    const engine = this.need();
    if (this.abort) throw new Error('a generation is already running');
    const continuing = !!req.continueContext;
    const { ids, text } = this.promptIds(req, continuing);
    this.abort = new AbortController();
    const options: GenerateOptions & Pick<GenerateRequest, 'policy' | 'budget'> = {
      maxTokens: req.maxTokens,
      sampling: req.sampling,
      stopStrings: req.stopStrings,
      keepLogits: req.keepLogits,
      continueContext: continuing,
      onToken,
      onPrefillProgress: (done, total) => onPrefill?.({ done, total, promptTokens: ids.length }),
      signal: this.abort.signal,
      policy: continuing ? undefined : req.policy,
      budget: continuing ? undefined : req.budget,
    };
    const t0 = performance.now();
    try {
      const result = (await engine.generate(ids, options)) as WorkerGenerateResult;
      this.contextText = text === null ? null : (continuing ? (this.contextText ?? '') : '') + text + result.text;
      this.lastPrefill = { tokens: ids.length, ms: result.prefillMs };
      if (result.tokens.length) this.lastDecode = { tokens: result.tokens.length, ms: result.decodeMs };
      const report = result.report ?? (continuing ? undefined : (engine.cacheReport?.() ?? undefined));
      const { logits, ...rest } = result;
      const out: WorkerGenerateResult = { ...rest, report: report ? transferReport(report) : undefined };
      if (logits) out.logits = Comlink.transfer(logits, logits.map((l) => l.buffer as ArrayBuffer));
      return out;
    } catch (e) {
      if (!isAbort(e)) throw e;
      // Stopped mid-prefill: the cache no longer matches any text; the next question starts afresh.
      this.contextText = null;
      return { promptTokens: ids, tokens: [], text: '', prefillMs: performance.now() - t0, decodeMs: 0, stopReason: 'aborted' };
    } finally {
      this.abort = null;
    }
  }

  async stop(): Promise<void> {
    this.abort?.abort();
  }

  async info(): Promise<EngineInfo | null> {
    return this.engine?.info() ?? null;
  }

  async stats(): Promise<EngineStats> {
    const e = this.engine;
    return {
      adapter: this.gpu?.adapter ?? null,
      limits: this.gpu ? pickLimits(this.gpu.limits) : {},
      model: e?.name ?? null,
      weightBytes: e?.info().weightBytes ?? 0,
      lastPrefill: this.lastPrefill,
      lastDecode: this.lastDecode,
      cacheBytes: e?.cacheBytes?.() ?? null,
      peakGpuBytes: e?.gpuMemory?.().peakBytes ?? null,
    };
  }

  async cacheReport(): Promise<CacheReport | null> {
    const r = this.engine?.cacheReport?.() ?? null;
    return r ? transferReport(r) : null;
  }

  async exportCache(): Promise<CacheSnapshot | null> {
    const e = this.engine;
    if (!e?.exportCache || this.contextText === null) return null;
    const { tokens, data } = await e.exportCache();
    const r = e.cacheReport?.() ?? null;
    const snap: CacheSnapshot = { modelKey: this.modelKey(), tokens, contextText: this.contextText, data, report: r ?? undefined };
    return Comlink.transfer(snap, [data]);
  }

  async importCache(s: CacheSnapshot): Promise<void> {
    const e = this.need();
    if (s.modelKey !== this.modelKey()) throw new Error('the saved cache belongs to another model; the document will be read again');
    if (!e.importCache) throw new Error('this engine cannot restore a saved cache yet');
    await e.importCache({ tokens: s.tokens, data: s.data });
    this.contextText = s.contextText;
  }

  async onDeviceLost(cb: (reason: string) => void): Promise<void> {
    this.lostCallbacks.push(cb);
  }

  private modelKey(): string {
    const e = this.need();
    const c = e.config;
    return `${e.name}|${c.architecture}|${c.nLayers}x${c.hiddenSize}|${c.nKvHeads}x${c.headDim}|${c.vocabSize}`;
  }

  /** Ids to prefill, and the rendered text they stand for (null when it is not chat text). */
  private promptIds(spec: PromptSpec, continuing: boolean): { ids: number[]; text: string | null } {
    const engine = this.need();
    if (spec.ids) return { ids: spec.ids, text: null };
    if (spec.messages) {
      const full = engine.renderChat(spec.messages);
      if (continuing && this.contextText !== null) {
        const suffix = continuationSuffix(this.contextText, full);
        return { ids: engine.encode(suffix, false), text: suffix };
      }
      if (continuing) throw new Error('there is no conversation in the cache to continue');
      return { ids: engine.encode(full, false), text: full };
    }
    return { ids: engine.encode(spec.prompt ?? '', true), text: null };
  }

  private need(): HookedEngine {
    if (!this.engine) throw new Error('no model is loaded');
    return this.engine;
  }
}
