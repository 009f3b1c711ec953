/**
 * The one interface between the page and the engine Worker (Comlink). Both sides import these types;
 * callbacks cross as Comlink proxies, large arrays as transferables.
 */
import type { EngineInfo, GenerateResult } from '../engine/engine';
import type { SamplingOptions } from '../engine/sampler';
import type { ChatMessage } from '../model/chat-template';
import type { UploadProgress } from '../model/upload';

export type ModelSource =
  | { kind: 'url'; baseUrl: string }
  | { kind: 'files'; files: File[] };

export interface GenerateRequest {
  /** Plain prompt text (BOS added); ignored when `ids` or `messages` are given. */
  prompt?: string;
  /** Prompt token ids, used as they are. */
  ids?: number[];
  /** Chat messages rendered with the model's chat template. */
  messages?: ChatMessage[];
  maxTokens: number;
  sampling?: SamplingOptions;
  stopStrings?: string[];
  keepLogits?: boolean;
  continueContext?: boolean;
}

export type WorkerGenerateResult = Omit<GenerateResult, 'logits'> & { logits?: Float32Array[] };

export interface EngineApi {
  load(source: ModelSource, onProgress?: (p: UploadProgress) => void): Promise<EngineInfo>;
  encode(text: string, addBos?: boolean): Promise<number[]>;
  generate(req: GenerateRequest, onToken?: (id: number, delta: string) => void): Promise<WorkerGenerateResult>;
  /** Stops the running prefill or generation; the engine stays usable. */
  stop(): Promise<void>;
  info(): Promise<EngineInfo | null>;
}
