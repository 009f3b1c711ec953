/**
 * What a document's KV cache will cost before it is read: full precision vs compressed at the current
 * budget (an estimate: the allocation itself decides the exact bytes), against the device's limits.
 */
import type { Policy } from '../worker/api';

export interface CacheShape {
  nLayers: number;
  nKvHeads: number;
  headDim: number;
  /** Bytes per element of the full cache (2 for f16, 4 for f32). */
  elementBytes: number;
}

/** K and V of T tokens, all layers and heads, at the engine's full precision. */
export function fullCacheBytes(s: CacheShape, T: number): number {
  return 2 * s.nLayers * s.nKvHeads * T * s.headDim * s.elementBytes;
}

/**
 * Compressed estimate at B FP16-equivalent tokens per head: the code budget 4·B·d bytes per head (half K,
 * half V), plus metadata — per kept V token a scale and zero point (5 B), per K channel a scale, zero
 * point and permutation entry (7 B), a 64 B header. Kept tokens are estimated at min(T, 4B) (mean 4 bits).
 */
export function compressedCacheBytes(s: CacheShape, T: number, B: number, policy: Policy): number {
  const heads = s.nLayers * s.nKvHeads;
  if (policy === 'full' || T <= B) return fullCacheBytes({ ...s, elementBytes: 2 }, T);
  const codes = 4 * B * s.headDim;
  if (policy === 'snapkv' || policy === 'streaming') return heads * codes;
  const kept = Math.min(T, 4 * B);
  const meta = policy === 'uniform' ? 5 * T + 7 * s.headDim + 64 : 5 * kept + 7 * s.headDim + 64;
  return heads * (codes + meta);
}

export interface DeviceBudget {
  /** maxStorageBufferBindingSize: one layer's K (or V) buffer must fit in one binding. */
  maxBindingBytes: number;
  /** Memory the page may plan with (navigator.deviceMemory-based heuristic), bytes. */
  memoryBytes: number;
}

/** A planning budget from the adapter limits and navigator.deviceMemory (GiB, browsers cap it at 8). */
export function deviceBudget(limits: Record<string, number>, deviceMemoryGiB: number | undefined): DeviceBudget {
  const binding = Math.min(limits.maxStorageBufferBindingSize ?? 128 * 2 ** 20, limits.maxBufferSize ?? Infinity);
  const mem = (deviceMemoryGiB && deviceMemoryGiB > 0 ? deviceMemoryGiB : 4) * 2 ** 30;
  // A tab can rarely use more than about half of the machine's memory for GPU buffers.
  return { maxBindingBytes: binding, memoryBytes: Math.round(mem / 2) };
}

export interface CostVerdict {
  fullBytes: number;
  compressedBytes: number;
  /** One layer's K buffer at full precision (what must fit one binding during prefill). */
  fullLayerBytes: number;
  fitsFull: boolean;
  fitsCompressed: boolean;
  /** Bytes over the memory budget (compressed), 0 when it fits. */
  overBy: number;
}

export function cacheVerdict(s: CacheShape, T: number, B: number, policy: Policy, weightBytes: number, dev: DeviceBudget): CostVerdict {
  const fullBytes = fullCacheBytes(s, T);
  const compressedBytes = compressedCacheBytes(s, T, B, policy);
  const fullLayerBytes = s.nKvHeads * T * s.headDim * s.elementBytes;
  const bindingOk = fullLayerBytes <= dev.maxBindingBytes;
  // Prefill holds the full cache before compressing it.
  const need = weightBytes + fullBytes;
  return {
    fullBytes,
    compressedBytes,
    fullLayerBytes,
    fitsFull: bindingOk && need <= dev.memoryBytes,
    fitsCompressed: bindingOk && weightBytes + compressedBytes + fullBytes / s.nLayers <= dev.memoryBytes,
    overBy: Math.max(0, weightBytes + compressedBytes - dev.memoryBytes),
  };
}
