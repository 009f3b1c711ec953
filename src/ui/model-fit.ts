/** "Will this model fit?" before loading: weights and a working cache against the device budget. */
import { formatBytes } from './format';
import { fullCacheBytes, type CacheShape, type DeviceBudget } from './cost';

export interface ModelShape extends CacheShape {
  hiddenSize: number;
  vocabSize: number;
  maxPositions: number;
}

const int = (x: unknown): number | undefined => (typeof x === 'number' && Number.isInteger(x) && x > 0 ? x : undefined);

/** The few config.json fields that size a model; null when they are missing. */
export function modelShape(config: Record<string, unknown>): ModelShape | null {
  const text = (config.text_config ?? config) as Record<string, unknown>;
  const hidden = int(text.hidden_size);
  const layers = int(text.num_hidden_layers);
  const heads = int(text.num_attention_heads);
  if (!hidden || !layers || !heads) return null;
  const kv = int(text.num_key_value_heads) ?? heads;
  const dtype = String(text.torch_dtype ?? text.dtype ?? 'float16');
  return {
    hiddenSize: hidden,
    nLayers: layers,
    nKvHeads: kv,
    headDim: int(text.head_dim) ?? hidden / heads,
    vocabSize: int(text.vocab_size) ?? 0,
    maxPositions: int(text.max_position_embeddings) ?? 4096,
    elementBytes: dtype === 'float32' ? 4 : 2,
  };
}

export interface FitVerdict {
  fits: boolean;
  /** Bytes short (0 when it fits). */
  shortBy: number;
  needBytes: number;
  /** Longest context whose full-precision layer buffer fits one binding. */
  maxContext: number;
  message: string;
}

/** Weights plus a full cache of `contextTokens` (default min(maxPositions, 4096)) must fit. */
export function modelFit(weightBytes: number, shape: ModelShape | null, dev: DeviceBudget, contextTokens?: number): FitVerdict {
  const T = Math.min(contextTokens ?? 4096, shape?.maxPositions ?? 4096);
  const cache = shape ? fullCacheBytes(shape, T) : 0;
  const need = weightBytes + cache;
  const perToken = shape ? shape.nKvHeads * shape.headDim * shape.elementBytes : 1;
  const maxContext = Math.floor(dev.maxBindingBytes / perToken);
  const shortBy = Math.max(0, need - dev.memoryBytes);
  const what = `${formatBytes(weightBytes)} of weights + ${formatBytes(cache)} of cache at ${T.toLocaleString('en-US')} tokens`;
  const message =
    shortBy === 0
      ? `Fits: ${what} = ${formatBytes(need)}, within this device's budget of ${formatBytes(dev.memoryBytes)}.`
      : `Probably too large: ${what} = ${formatBytes(need)}, ${formatBytes(shortBy)} more than this device's budget of ${formatBytes(dev.memoryBytes)}.`;
  return { fits: shortBy === 0, shortBy, needBytes: need, maxContext, message };
}
