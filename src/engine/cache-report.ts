/**
 * What compression did, for the page and the CLI: per (layer, KV head) the width of every prompt token's
 * V and of every K channel, bytes before/after (metadata included), retention, predicted distortion.
 */
import type { Policy } from '../rdkv/policy-names';
import type { LayerReport } from '../rdkv/report';

export interface CacheReport {
  policy: Policy;
  nLayers: number;
  nKvHeads: number;
  /** Prompt tokens covered by the report. */
  T: number;
  headDim: number;
  /** (nLayers·nKvHeads·T): V width of every prompt token; index ((layer·nKvHeads + head)·T + t). */
  vWidths: Uint8Array;
  /** (nLayers·nKvHeads·headDim): stored width of every K channel; index ((layer·nKvHeads + head)·headDim + c). */
  kWidths: Uint8Array;
  /** K and V of the T tokens at 16 bits (all layers and heads). */
  fullBytes: number;
  /** Everything the compressed cache holds for the T tokens: codes, scales, zero points, permutations, headers. */
  compressedBytes: number;
  /** The metadata part of compressedBytes. */
  metadataBytes?: number;
  /** compressedBytes / fullBytes. */
  retention: number;
  /** (nLayers·nKvHeads): predicted distortion of each head (Σ w·ε over V tokens and K channels). */
  predictedDistortion: Float32Array;
  /** The budget B the allocation used (tokens per head), when there was one. */
  budgetTokens?: number;
}

export function buildCacheReport(policy: Policy, layers: readonly LayerReport[], T: number, headDim: number): CacheReport {
  const nLayers = layers.length;
  const nKvHeads = layers[0]?.heads.length ?? 0;
  const vWidths = new Uint8Array(nLayers * nKvHeads * T);
  const kWidths = new Uint8Array(nLayers * nKvHeads * headDim);
  const predictedDistortion = new Float32Array(nLayers * nKvHeads);
  let fullBytes = 0;
  let compressedBytes = 0;
  let metadataBytes = 0;
  layers.forEach((layer, l) =>
    layer.heads.forEach((h, k) => {
      const row = l * nKvHeads + k;
      vWidths.set(h.vBits, row * T);
      kWidths.set(h.kStoredBits, row * headDim);
      predictedDistortion[row] = h.distortion.total;
      fullBytes += h.bytesBefore;
      compressedBytes += h.bytesAfter;
      metadataBytes += h.bytesMetadata;
    }),
  );
  return {
    policy,
    nLayers,
    nKvHeads,
    T,
    headDim,
    vWidths,
    kWidths,
    fullBytes,
    compressedBytes,
    metadataBytes,
    retention: fullBytes ? compressedBytes / fullBytes : 1,
    predictedDistortion,
    budgetTokens: layers[0]?.heads[0]?.budgetTokens,
  };
}

/** The same report for an uncompressed cache of T tokens (every unit at 16 bits). */
export function fullCacheReport(nLayers: number, nKvHeads: number, T: number, headDim: number): CacheReport {
  const fullBytes = 2 * nLayers * nKvHeads * T * headDim * 2;
  return {
    policy: 'full',
    nLayers,
    nKvHeads,
    T,
    headDim,
    vWidths: new Uint8Array(nLayers * nKvHeads * T).fill(16),
    kWidths: new Uint8Array(nLayers * nKvHeads * headDim).fill(16),
    fullBytes,
    compressedBytes: fullBytes,
    metadataBytes: 0,
    retention: 1,
    predictedDistortion: new Float32Array(nLayers * nKvHeads),
  };
}
