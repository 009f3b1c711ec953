/**
 * Flash-decoding attention for one query token: pass 1 (wgsl/attention_decode.wgsl) splits the keys over
 * (splits × KV heads) workgroups and writes partial softmax states to a scratch buffer owned by the op;
 * pass 2 (wgsl/attention_decode_combine.wgsl) merges them. The split count is chosen from kv_len at encode
 * time: ~64 keys per split up to ~1024 workgroups (a short context still spreads over the GPU; the
 * per-workgroup work is a fixed chain of two memory round trips), more when a split would exceed one chunk
 * of scores in workgroup memory.
 */
import source from '../../../wgsl/attention_decode.wgsl';
import combineSource from '../../../wgsl/attention_decode_combine.wgsl';
import mergeSource from '../../../wgsl/decode_combine.wgsl';
import type { Gpu } from '../device';
import { bindGroup, createStorage, createUniform, dispatch, getPipeline } from '../kernel';
import { useSubgroups, withReduce } from './decode-reduce';
import {
  cacheRowAligned,
  checkAttentionShape,
  checkCacheBuffer,
  scaleLog2Bits,
  workgroupBudget,
  type AttentionShape,
  type TileLimits,
} from './attention-prefill';

export interface DecodeShape extends AttentionShape {
  maxSplits?: number; // sizes the scratch buffer; default max(128, splits for one chunk each at capacity)
  minKeysPerSplit?: number; // default 64
  targetWorkgroups?: number; // splits × nKvHeads aimed for at long context; default 1024
  tiles?: DecodeTiles;
  /** Use the subgroup reduction (wgsl/decode_reduce_subgroup.wgsl); default: when the device has subgroups. */
  subgroups?: boolean;
}

export interface DecodeBindings {
  out: GPUBuffer; // (nHeads × headDim) f32
  q: GPUBuffer; // (nHeads × headDim) f32, roped
  kCache: GPUBuffer; // [nKvHeads, capacity, headDim], slots 0 .. kv_len − 1 written
  vCache: GPUBuffer;
  step: GPUBuffer; // Step uniform: kv_len (must equal the kvLen given to encode)
}

export interface DecodeOp {
  /** Records both passes for kvLen (>= 1) cache entries; the Step uniform must hold the same kv_len. */
  encode(pass: GPUComputePassEncoder, kvLen: number): void;
}

/** NK keys per chunk (scores held in workgroup memory), WG threads per workgroup (a power of two). */
export interface DecodeTiles {
  nk: number;
  wg: number;
}

const MAX_G = 16;
const COMBINE_WG = 256;
/** Workgroup memory for a chunk's scores: more would cost occupancy and gain nothing. */
const SCORE_BYTES = 16384;

/** 16-byte units per cache row and dims per unit (8 for f16 rows of whole vec4<u32> words, else 4). */
export function decodeUnits(headDim: number, cacheF16: boolean): { upr: number; ud: number } {
  if (!cacheRowAligned(headDim, cacheF16)) return { upr: Math.ceil(headDim / 4), ud: 4 };
  return cacheF16 ? { upr: headDim / 8, ud: 8 } : { upr: headDim / 4, ud: 4 };
}

function redWords(group: number, ud: number, wg: number): number {
  return Math.max(group, ud + 1) * wg;
}

export function decodeSharedBytes(headDim: number, group: number, cacheF16: boolean, t: DecodeTiles): number {
  const { ud } = decodeUnits(headDim, cacheF16);
  return 16 * group * Math.ceil(headDim / 4) + 4 * group * t.nk + 4 * redWords(group, ud, t.wg) + 4;
}

function tilesProblem(headDim: number, group: number, cacheF16: boolean, t: DecodeTiles, limits: TileLimits): string | undefined {
  const { upr } = decodeUnits(headDim, cacheF16);
  if (group > MAX_G) return `${group} query heads per KV head, at most ${MAX_G}`;
  if (!(t.wg >= 1 && (t.wg & (t.wg - 1)) === 0)) return `workgroup size ${t.wg} is not a power of two`;
  if (t.wg < upr) return `workgroup size ${t.wg} under the ${upr} 16-byte units of a row`;
  if (t.wg > limits.maxComputeInvocationsPerWorkgroup) return `workgroup size ${t.wg} over the device's ${limits.maxComputeInvocationsPerWorkgroup}`;
  if (!(Number.isInteger(t.nk) && t.nk >= 1)) return `chunk ${t.nk} is not a positive whole number`;
  const bytes = decodeSharedBytes(headDim, group, cacheF16, t);
  if (bytes > limits.maxComputeWorkgroupStorageSize) return `${bytes} bytes of workgroup memory, over ${limits.maxComputeWorkgroupStorageSize}`;
  return undefined;
}

/**
 * 64 threads (fewer on a small workgroup budget), the largest chunk up to 256 keys whose scores fit. On the
 * H200 (rdkv-bench --sweep, bench/NOTES.md) 64 threads x 256 keys took 16.6 us at 1K context where 128 x 1024
 * took 22.2 us in the engine, and cost ~4% at 128K (413 vs 397 us).
 */
export function decodeTiles(headDim: number, group: number, limits: TileLimits, cacheF16 = true): DecodeTiles {
  for (const wg of [64, 32, 16]) {
    for (const nk of [256, 128, 64, 32, 16, 8]) {
      if (4 * group * nk > SCORE_BYTES || (nk < 32 && wg > 16)) continue;
      if (!tilesProblem(headDim, group, cacheF16, { nk, wg }, limits)) return { nk, wg };
    }
  }
  throw new RangeError(`attention_decode: no tiling fits headDim ${headDim}, ${group} heads per KV head (${tilesProblem(headDim, group, cacheF16, { nk: 8, wg: 16 }, limits)})`);
}

/**
 * Splits for kvLen keys: about minKeysPerSplit keys each, at most targetWorkgroups / nKvHeads, but at least
 * enough for one chunk of nk keys each (when nk is given), at most maxSplits.
 */
export function decodeSplits(shape: DecodeShape, kvLen: number, nk?: number, maxSplits = shape.maxSplits ?? 128): number {
  const len = shape.window ? Math.min(kvLen, shape.window) : kvLen;
  const byLength = Math.ceil(len / (shape.minKeysPerSplit ?? 64));
  const byGpu = Math.ceil((shape.targetWorkgroups ?? 1024) / shape.nKvHeads);
  const oneChunk = nk ? Math.ceil(len / nk) : 1;
  return Math.max(1, Math.min(Math.max(Math.min(byLength, byGpu), oneChunk), maxSplits));
}

export async function createAttentionDecode(gpu: Gpu, shape: DecodeShape) {
  checkAttentionShape('attention_decode', shape);
  const { headDim, nHeads, nKvHeads } = shape;
  const group = nHeads / nKvHeads;
  const dp4 = Math.ceil(headDim / 4);
  const t = shape.tiles ?? decodeTiles(headDim, group, workgroupBudget(gpu), shape.cacheF16);
  const why = tilesProblem(headDim, group, shape.cacheF16, t, gpu.limits);
  if (why) throw new RangeError(`attention_decode: tiles ${JSON.stringify(t)}: ${why}`);
  const span = shape.window ? Math.min(shape.window, shape.capacity) : shape.capacity;
  const maxSplits = shape.maxSplits ?? Math.max(128, Math.ceil(span / t.nk));
  const aligned = cacheRowAligned(headDim, shape.cacheF16);
  const { upr, ud } = decodeUnits(headDim, shape.cacheF16);
  const subgroups = useSubgroups(gpu, shape.subgroups);
  const [pipeline, combine] = await Promise.all([
    getPipeline(gpu, subgroups ? 'attention_decode_sg' : 'attention_decode', withReduce(source, subgroups), {
      HEAD_DIM: headDim,
      DP4: dp4,
      CACHE_F16: shape.cacheF16 ? 1 : 0,
      ALIGNED: aligned ? 1 : 0,
      ROW4: aligned ? headDim / (shape.cacheF16 ? 8 : 4) : 1, // unused when not aligned
      UPR: upr,
      UD: ud,
      G: group,
      NK: t.nk,
      WG: t.wg,
      RED_N: redWords(group, ud, t.wg),
    }),
    getPipeline(gpu, 'attention_decode_combine', `${mergeSource}\n${combineSource}`, { HEAD_DIM: headDim, WG: Math.min(COMBINE_WG, gpu.limits.maxComputeInvocationsPerWorkgroup) }),
  ]);
  const params = createUniform(gpu, [nHeads, shape.capacity, shape.window ?? 0, scaleLog2Bits(shape), maxSplits], 'attention_decode.params');
  const scratch = createStorage(gpu, 4 * (4 + nHeads * maxSplits * (2 + headDim)), 'attention_decode.scratch');
  const splits = (kvLen: number) => decodeSplits(shape, kvLen, t.nk, maxSplits);
  return {
    tiles: t,
    subgroups,
    splits,
    bind(b: DecodeBindings): DecodeOp {
      checkCacheBuffer('attention_decode', shape, b.kCache, 'kCache');
      checkCacheBuffer('attention_decode', shape, b.vCache, 'vCache');
      const g1 = bindGroup(gpu, pipeline, [scratch, b.q, b.kCache, b.vCache, params, b.step], 'attention_decode');
      const g2 = bindGroup(gpu, combine, [b.out, scratch, params], 'attention_decode_combine');
      return {
        encode(pass, kvLen) {
          if (!(kvLen >= 1 && kvLen <= shape.capacity)) throw new RangeError(`attention_decode: kvLen ${kvLen} outside 1..${shape.capacity}`);
          dispatch(pass, pipeline, g1, splits(kvLen), nKvHeads);
          dispatch(pass, combine, g2, nHeads);
        },
      };
    },
  };
}
