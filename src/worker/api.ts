/**
 * The one interface between the page and the engine Worker (Comlink). Both sides import these types;
 * callbacks cross as Comlink proxies, large arrays (cache reports, cache snapshots) as transferables.
 */
import type { EngineInfo, GenerateResult } from '../engine/engine';
import type { SamplingOptions } from '../engine/sampler';
import type { AdapterSummary } from '../gpu/device';
import type { ChatMessage } from '../model/chat-template';
import type { UploadProgress } from '../model/upload';

export type { ChatMessage, EngineInfo, SamplingOptions, UploadProgress };

/** Where the weights come from: a base URL in the Hugging Face layout, picked files, or IndexedDB. */
export type ModelSource =
  | { kind: 'url'; baseUrl: string }
  | { kind: 'files'; files: File[] }
  | { kind: 'stored'; id: string };

/** KV cache policy after prefill (rdkv.md §6 for the baselines). */
export { POLICIES, type Policy } from '../rdkv/policy-names';
import type { Policy } from '../rdkv/policy-names';

/** B FP16-equivalent tokens per (layer, KV head), or a retention fraction of the full cache (B = f·T). */
export type BudgetSetting = { tokens: number } | { retention: number };

/** Bit widths a cache unit can get; 0 = evicted (V token) or dropped (K channel). */
export const WIDTHS = [0, 2, 4, 8, 16] as const;

export type { CacheReport } from '../engine/cache-report';
import type { CacheReport } from '../engine/cache-report';

/** The prompt of a generation: plain text (BOS added), ready token ids, or chat messages (model template). */
export interface PromptSpec {
  prompt?: string;
  ids?: number[];
  messages?: ChatMessage[];
}

export interface GenerateRequest extends PromptSpec {
  maxTokens: number;
  sampling?: SamplingOptions;
  stopStrings?: string[];
  keepLogits?: boolean;
  /**
   * Continue from the current (possibly compressed) cache. With `messages`, only the part of the rendered
   * conversation after what the cache already holds is prefilled.
   */
  continueContext?: boolean;
  /** Compression after prefill (ignored when continuing). Default: full cache. */
  policy?: Policy;
  budget?: BudgetSetting;
}

/** Prefill progress: `done` of `total` units (prompt tokens × layers), with the prompt length. */
export interface PrefillProgress {
  done: number;
  total: number;
  promptTokens: number;
}

export type WorkerGenerateResult = Omit<GenerateResult, 'logits'> & {
  logits?: Float32Array[];
  /** Present when the run compressed the cache. */
  report?: CacheReport;
};

/** What the page learns about the device before any model is loaded. */
export interface DeviceProbe {
  adapter: AdapterSummary;
  /** The adapter's limits that matter here (bytes and counts). */
  limits: Record<string, number>;
  features: string[];
}

export interface EngineStats {
  adapter: AdapterSummary | null;
  limits: Record<string, number>;
  model: string | null;
  weightBytes: number;
  lastPrefill: { tokens: number; ms: number } | null;
  lastDecode: { tokens: number; ms: number } | null;
  /** Bytes the KV cache holds now (compressed when it was compressed); null when unknown. */
  cacheBytes: number | null;
  /** Peak GPU bytes the engine allocated; null until the engine reports it. */
  peakGpuBytes: number | null;
}

/** A compressed cache, serialised for IndexedDB: reopening a conversation resumes without prefill. */
export interface CacheSnapshot {
  /** Identifies the model it belongs to (name + config); import refuses a mismatch. */
  modelKey: string;
  /** The context the cache holds (prompt + generated ids), in order. */
  tokens: number[];
  /** Rendered text the cache holds (for continuing chat templates). */
  contextText: string;
  /** Engine-defined bytes of the cache. */
  data: ArrayBuffer;
  report?: CacheReport;
}

export interface EngineApi {
  /** Adapter and limits; rejects with NoWebGpuError when there is no WebGPU. Creates no device. */
  probe(): Promise<DeviceProbe>;
  load(source: ModelSource, onProgress?: (p: UploadProgress) => void): Promise<EngineInfo>;
  unload(): Promise<void>;
  encode(text: string, addBos?: boolean): Promise<number[]>;
  /** Token count of a prompt exactly as generate would build it (chat template included). */
  countTokens(spec: PromptSpec): Promise<number>;
  /** The text of each id as it appears in context (pieces concatenate to the decoded text). */
  tokenPieces(ids: number[]): Promise<string[]>;
  generate(
    req: GenerateRequest,
    onToken?: (id: number, delta: string) => void,
    onPrefill?: (p: PrefillProgress) => void,
  ): Promise<WorkerGenerateResult>;
  /** Stops the running prefill or generation; the engine stays usable. */
  stop(): Promise<void>;
  info(): Promise<EngineInfo | null>;
  stats(): Promise<EngineStats>;
  /** The report of the current cache, or null when it was not compressed. */
  cacheReport(): Promise<CacheReport | null>;
  /** Null when nothing is cached or the engine cannot serialise its cache yet. */
  exportCache(): Promise<CacheSnapshot | null>;
  importCache(snapshot: CacheSnapshot): Promise<void>;
  /** Called once when the GPU device is lost; load() again to recover. */
  onDeviceLost(cb: (reason: string) => void): Promise<void>;
}

/**
 * What the engine side provides for compression (src/engine). The service feature-detects each member,
 * so the worker runs before compression lands.
 */
export interface EngineCompressionHooks {
  /** The report of the last compression, or null (full cache). */
  cacheReport(): CacheReport | null;
  /** Bytes the cache holds now. */
  cacheBytes(): number;
  /** Peak and current GPU bytes the engine has allocated. */
  gpuMemory(): { currentBytes: number; peakBytes: number };
  /** Serialises the current cache (and the pending token) into engine-defined bytes. */
  exportCache(): Promise<{ tokens: number[]; data: ArrayBuffer }>;
  /** Restores what exportCache returned; continueContext then continues from it. */
  importCache(s: { tokens: number[]; data: ArrayBuffer }): Promise<void>;
}

/** Errors the engine throws for GPU memory; their own fields cross Comlink (src/worker/error-transfer.ts). */
export interface OutOfMemoryDetails {
  name: 'OutOfMemoryError';
  message: string;
  requestedBytes?: number;
  availableBytes?: number;
}
