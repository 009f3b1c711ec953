/**
 * RDKV observation-window scores of one layer on the GPU (rdkv.md §1): the un-normalised sums of
 * src/rdkv/scoring.ts windowSums — attn (Hkv, T) and the channel sums qSq, kSq (Hkv, d) — from the window
 * queries and the layer's K cache. Three dispatches: wgsl/rdkv_scores.wgsl PHASE 0 (per-tile softmax
 * partials, k² partials), wgsl/rdkv_scores_combine.wgsl, wgsl/rdkv_scores.wgsl PHASE 2 (attention summed
 * per token). Token-parallel: the grid has ceil(T / BK) tiles per KV head. Visibility normalisation,
 * pooling and allocation stay on the CPU (scoring.ts finishWindowScores).
 */
import source from '../../../wgsl/rdkv_scores.wgsl';
import combineSource from '../../../wgsl/rdkv_scores_combine.wgsl';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createStorage, createUniform, dispatch, f32Bits, getPipeline } from '../kernel';
import { checkGridDim } from './grid';
import { workgroupBudget, type TileLimits } from './attention-prefill';

export interface RdkvScoresShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  capacity: number; // K cache slots per KV head
  cacheF16: boolean;
  scale?: number; // default 1 / sqrt(headDim)
}

export interface RdkvScoresBindings {
  /** (Hkv, T) f32: Σ over window queries of their attention to token t. */
  wvRaw: GPUBuffer;
  /** (Hkv, d) vec2 f32: (Σ q_c², Σ k_c²). */
  chan: GPUBuffer;
  /** (W, Hq·d) f32, post-RoPE window queries (rows are prompt positions T − W .. T − 1). */
  q: GPUBuffer;
  /** [Hkv, capacity, d] K cache, tokens 0 .. T − 1 written. */
  k: GPUBuffer;
  T: number;
  W: number;
}

export interface ScoresTiles {
  bk: number;
  qg: number;
  rq: number;
  wg: number;
}

export function scoresSharedBytes(headDim: number, t: ScoresTiles): number {
  return 4 * (t.bk * (headDim + 1) + t.qg * t.rq * (t.bk + 1));
}

/** The largest token tile (64 .. 4) whose K tile and score tile fit the workgroup memory budget. */
export function scoresTiles(headDim: number, limits: TileLimits, maxWg = 256): ScoresTiles {
  const wgCap = Math.min(maxWg, limits.maxComputeInvocationsPerWorkgroup);
  for (const bk of [64, 32, 16, 8, 4]) {
    for (const wg of [256, 128, 64, 32]) {
      if (wg > wgCap || wg < bk) continue;
      for (const rq of [4, 2, 1]) {
        const t = { bk, qg: wg / bk, rq, wg };
        if (scoresSharedBytes(headDim, t) <= limits.maxComputeWorkgroupStorageSize) return t;
      }
    }
  }
  throw new RangeError(`rdkv_scores: no tiling fits headDim ${headDim}`);
}

export interface BoundScores {
  /** Records the three dispatches. */
  encode(pass: GPUComputePassEncoder): void;
  /** Frees the scratch buffers. */
  destroy(): void;
}

const COMBINE_WG = 64;

export async function createRdkvScores(gpu: Gpu, shape: RdkvScoresShape, tiles?: ScoresTiles) {
  const { headDim, nHeads, nKvHeads } = shape;
  if (nHeads % nKvHeads) throw new RangeError(`rdkv_scores: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  if (shape.cacheF16 && headDim % 2) throw new RangeError(`rdkv_scores: f16 cache needs an even headDim`);
  const t = tiles ?? scoresTiles(headDim, workgroupBudget(gpu), gpu.adapter.isFallbackAdapter ? 64 : 256);
  const consts = { HEAD_DIM: headDim, CACHE_F16: shape.cacheF16 ? 1 : 0, BK: t.bk, QG: t.qg, RQ: t.rq, WG: t.wg };
  const [p0, p2, pc] = await Promise.all([
    getPipeline(gpu, 'rdkv_scores', source, { ...consts, PHASE: 0 }),
    getPipeline(gpu, 'rdkv_scores', source, { ...consts, PHASE: 2 }),
    getPipeline(gpu, 'rdkv_scores_combine', combineSource, { HEAD_DIM: headDim, WG: COMBINE_WG }),
  ]);
  const g = nHeads / nKvHeads;
  const scale = shape.scale ?? 1 / Math.sqrt(headDim);
  return {
    tiles: t,
    bind(b: RdkvScoresBindings): BoundScores {
      const { T, W } = b;
      if (!(W >= 1 && W <= T && T <= shape.capacity)) throw new RangeError(`rdkv_scores: need 1 <= W (${W}) <= T (${T}) <= capacity (${shape.capacity})`);
      const nTiles = ceilDiv(T, t.bk);
      const nq = W * g;
      checkGridDim(gpu, 'rdkv_scores', nTiles);
      checkGridDim(gpu, 'rdkv_scores_combine', nq + headDim);
      const params = createUniform(gpu, [T, W, nHeads, g, shape.capacity, nTiles, nq, f32Bits(scale * Math.LOG2E)], 'rdkv_scores.params');
      const part = createStorage(gpu, nKvHeads * nTiles * nq * 8, 'rdkv_scores.part');
      const partK = createStorage(gpu, nKvHeads * nTiles * headDim * 4, 'rdkv_scores.part_k');
      const stats = createStorage(gpu, nKvHeads * nq * 8, 'rdkv_scores.stats');
      const g0 = bindGroup(gpu, p0, [b.wvRaw, part, partK, stats, b.q, b.k, params], 'rdkv_scores.0');
      const g2 = bindGroup(gpu, p2, [b.wvRaw, part, partK, stats, b.q, b.k, params], 'rdkv_scores.2');
      const gc = bindGroup(gpu, pc, [stats, b.chan, part, partK, b.q, params], 'rdkv_scores_combine');
      return {
        encode(pass) {
          dispatch(pass, p0, g0, nTiles, nKvHeads);
          dispatch(pass, pc, gc, nq + headDim, nKvHeads);
          dispatch(pass, p2, g2, nTiles, nKvHeads);
        },
        destroy() {
          for (const x of [params, part, partK, stats]) x.destroy();
        },
      };
    },
  };
}
