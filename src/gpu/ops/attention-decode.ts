/**
 * Attention for one query token over the KV cache, two paths chosen per call from the attended span:
 * * short (span <= singleMaxKeys): one dispatch of wgsl/attention_decode_single.wgsl, one workgroup per query
 *   head over all its keys, writing the output directly (no scratch, no second pass);
 * * otherwise flash decoding: pass 1 (wgsl/attention_decode.wgsl) splits the keys over (splits × KV heads)
 *   workgroups and writes partial softmax states to a scratch buffer owned by the op; pass 2
 *   (wgsl/attention_decode_combine.wgsl) merges them. The split count is chosen from kv_len at encode time:
 *   ~64 keys per split up to ~1024 workgroups (a short context still spreads over the GPU; the per-workgroup
 *   work is a fixed chain of two memory round trips), more when a split would exceed one chunk of scores in
 *   workgroup memory.
 * Both kernels read cache rows through wgsl/decode_cache.wgsl (prepended).
 */
import source from '../../../wgsl/attention_decode.wgsl';
import combineSource from '../../../wgsl/attention_decode_combine.wgsl';
import singleSource from '../../../wgsl/attention_decode_single.wgsl';
import cacheSource from '../../../wgsl/decode_cache.wgsl';
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
  /**
   * Longest attended span (keys) served by the single-dispatch kernel; longer spans take the two-pass path.
   * 0 disables it. Default SINGLE_MAX_KEYS; lowered to the cache's span and to what fits workgroup memory
   * (a large value forces the single path wherever it fits).
   */
  singleMaxKeys?: number;
  /** Threads per workgroup of the single-dispatch kernel (a power of two); default 256, fewer where that does not fit. */
  singleWg?: number;
}

export interface DecodeBindings {
  out: GPUBuffer; // (nHeads × headDim) f32
  q: GPUBuffer; // (nHeads × headDim) f32, roped
  kCache: GPUBuffer; // [nKvHeads, capacity, headDim], slots 0 .. kv_len − 1 written
  vCache: GPUBuffer;
  step: GPUBuffer; // Step uniform: kv_len (must equal the kvLen given to encode)
}

export interface DecodeOp {
  /** Records the dispatches for kvLen (>= 1) cache entries (path(kvLen)); the Step uniform must hold the same kv_len. */
  encode(pass: GPUComputePassEncoder, kvLen: number): void;
}

export type DecodePath = 'single' | 'two-pass';

/** The single-dispatch kernel's size: WG threads, spans up to maxKeys (0: disabled). */
export interface SinglePlan {
  wg: number;
  maxKeys: number;
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
/** Default singleMaxKeys: the single kernel's longest span. */
export const SINGLE_MAX_KEYS = 2048;
/** Keys per thread in the single kernel's score phase (MAX_KPT in wgsl/attention_decode_single.wgsl). */
const SINGLE_MAX_KPT = 16;
/** The single kernel's workgroup sizes, most preferred first. */
const SINGLE_WGS = [256, 128, 64, 32, 16, 8, 4, 2, 1];

/** 16-byte units per cache row and dims per unit (8 for f16 rows of whole vec4<u32> words, else 4). */
export function decodeUnits(headDim: number, cacheF16: boolean): { upr: number; ud: number } {
  if (!cacheRowAligned(headDim, cacheF16)) return { upr: Math.ceil(headDim / 4), ud: 4 };
  return cacheF16 ? { upr: headDim / 8, ud: 8 } : { upr: headDim / 4, ud: 4 };
}

/** The cache layout constants of wgsl/decode_cache.wgsl. */
function cacheConstants(headDim: number, cacheF16: boolean) {
  const aligned = cacheRowAligned(headDim, cacheF16);
  const { upr, ud } = decodeUnits(headDim, cacheF16);
  return {
    HEAD_DIM: headDim,
    DP4: Math.ceil(headDim / 4),
    CACHE_F16: cacheF16 ? 1 : 0,
    ALIGNED: aligned ? 1 : 0,
    ROW4: aligned ? headDim / (cacheF16 ? 8 : 4) : 1, // unused when not aligned
    UPR: upr,
    UD: ud,
  };
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

/** Words of the single kernel's `red`: the probabilities of maxKeys keys, or the KP partial rows and l's, or wg_max's slots. */
function singleRedWords(headDim: number, cacheF16: boolean, wg: number, maxKeys: number): number {
  const { upr, ud } = decodeUnits(headDim, cacheF16);
  const kp = Math.floor(wg / upr);
  return Math.max(maxKeys, upr * ud * kp + kp, wg);
}

/** The single kernel's workgroup bytes besides `red`: q (DP4 vec4) and the subgroup helper's counter. */
function singleFixedBytes(headDim: number): number {
  return 16 * Math.ceil(headDim / 4) + 4;
}

export function singleSharedBytes(headDim: number, cacheF16: boolean, wg: number, maxKeys: number): number {
  return singleFixedBytes(headDim) + 4 * singleRedWords(headDim, cacheF16, wg, maxKeys);
}

function singleWgProblem(headDim: number, cacheF16: boolean, wg: number, limits: TileLimits): string | undefined {
  const { upr } = decodeUnits(headDim, cacheF16);
  if (!(wg >= 1 && (wg & (wg - 1)) === 0)) return `workgroup size ${wg} is not a power of two`;
  if (wg < upr) return `workgroup size ${wg} under the ${upr} 16-byte units of a row`;
  if (wg > limits.maxComputeInvocationsPerWorkgroup) return `workgroup size ${wg} over the device's ${limits.maxComputeInvocationsPerWorkgroup}`;
  const bytes = singleSharedBytes(headDim, cacheF16, wg, 1);
  if (bytes > limits.maxComputeWorkgroupStorageSize) return `${bytes} bytes of workgroup memory, over ${limits.maxComputeWorkgroupStorageSize}`;
  return undefined;
}

/**
 * The single kernel for spans up to wantKeys: `wg` threads when given, else the most (up to 256) whose partial
 * sums fit `limits`; maxKeys lowered to what fits in workgroup memory and to SINGLE_MAX_KPT keys per thread.
 * { wg: 0, maxKeys: 0 } when wantKeys is 0 or nothing fits (the two-pass path then serves every call).
 */
export function singlePlan(headDim: number, cacheF16: boolean, wantKeys: number, limits: TileLimits, wg?: number): SinglePlan {
  if (wg !== undefined) {
    const why = singleWgProblem(headDim, cacheF16, wg, limits);
    if (why) throw new RangeError(`attention_decode_single: ${why}`);
  }
  const w = wantKeys >= 1 ? (wg ?? SINGLE_WGS.find((x) => !singleWgProblem(headDim, cacheF16, x, limits))) : undefined;
  if (w === undefined) return { wg: 0, maxKeys: 0 };
  const fit = Math.floor((limits.maxComputeWorkgroupStorageSize - singleFixedBytes(headDim)) / 4);
  return { wg: w, maxKeys: Math.min(Math.floor(wantKeys), fit, SINGLE_MAX_KPT * w) };
}

/** Keys attended at kvLen: all of them, or the last `window`. */
export function attendedKeys(shape: Pick<AttentionShape, 'window'>, kvLen: number): number {
  return shape.window ? Math.min(kvLen, shape.window) : kvLen;
}

/**
 * Splits for kvLen keys: about minKeysPerSplit keys each, at most targetWorkgroups / nKvHeads, but at least
 * enough for one chunk of nk keys each (when nk is given), at most maxSplits.
 */
export function decodeSplits(shape: DecodeShape, kvLen: number, nk?: number, maxSplits = shape.maxSplits ?? 128): number {
  const len = attendedKeys(shape, kvLen);
  const byLength = Math.ceil(len / (shape.minKeysPerSplit ?? 64));
  const byGpu = Math.ceil((shape.targetWorkgroups ?? 1024) / shape.nKvHeads);
  const oneChunk = nk ? Math.ceil(len / nk) : 1;
  return Math.max(1, Math.min(Math.max(Math.min(byLength, byGpu), oneChunk), maxSplits));
}

export async function createAttentionDecode(gpu: Gpu, shape: DecodeShape) {
  checkAttentionShape('attention_decode', shape);
  const { headDim, nHeads, nKvHeads } = shape;
  const group = nHeads / nKvHeads;
  const t = shape.tiles ?? decodeTiles(headDim, group, workgroupBudget(gpu), shape.cacheF16);
  const why = tilesProblem(headDim, group, shape.cacheF16, t, gpu.limits);
  if (why) throw new RangeError(`attention_decode: tiles ${JSON.stringify(t)}: ${why}`);
  const span = attendedKeys(shape, shape.capacity);
  const maxSplits = shape.maxSplits ?? Math.max(128, Math.ceil(span / t.nk));
  const wantSingle = Math.min(shape.singleMaxKeys ?? SINGLE_MAX_KEYS, span);
  const plan = singlePlan(headDim, shape.cacheF16, wantSingle, shape.singleWg === undefined ? workgroupBudget(gpu) : gpu.limits, shape.singleWg);
  const { ud } = decodeUnits(headDim, shape.cacheF16);
  const cache = cacheConstants(headDim, shape.cacheF16);
  const subgroups = useSubgroups(gpu, shape.subgroups);
  const sg = subgroups ? '_sg' : '';
  const [pipeline, combine, single] = await Promise.all([
    getPipeline(gpu, `attention_decode${sg}`, withReduce(`${cacheSource}\n${source}`, subgroups), {
      ...cache,
      G: group,
      NK: t.nk,
      WG: t.wg,
      RED_N: redWords(group, ud, t.wg),
    }),
    getPipeline(gpu, 'attention_decode_combine', `${mergeSource}\n${combineSource}`, { HEAD_DIM: headDim, WG: Math.min(COMBINE_WG, gpu.limits.maxComputeInvocationsPerWorkgroup) }),
    plan.maxKeys ? getPipeline(gpu, `attention_decode_single${sg}`, withReduce(`${cacheSource}\n${singleSource}`, subgroups), singleConstants(shape, plan)) : undefined,
  ]);
  const params = createUniform(gpu, [nHeads, shape.capacity, shape.window ?? 0, scaleLog2Bits(shape), maxSplits], 'attention_decode.params');
  const scratch = createStorage(gpu, 4 * (4 + nHeads * maxSplits * (2 + headDim)), 'attention_decode.scratch');
  const splits = (kvLen: number) => decodeSplits(shape, kvLen, t.nk, maxSplits);
  const path = (kvLen: number): DecodePath => (attendedKeys(shape, kvLen) <= plan.maxKeys ? 'single' : 'two-pass');
  return {
    tiles: t,
    subgroups,
    splits,
    /** Longest attended span served by the single-dispatch kernel (0: never used). */
    singleMaxKeys: plan.maxKeys,
    singleWg: plan.wg,
    /** Which kernels encode(pass, kvLen) records. */
    path,
    bind(b: DecodeBindings): DecodeOp {
      checkCacheBuffer('attention_decode', shape, b.kCache, 'kCache');
      checkCacheBuffer('attention_decode', shape, b.vCache, 'vCache');
      const g1 = bindGroup(gpu, pipeline, [scratch, b.q, b.kCache, b.vCache, params, b.step], 'attention_decode');
      const g2 = bindGroup(gpu, combine, [b.out, scratch, params], 'attention_decode_combine');
      const g0 = single ? bindGroup(gpu, single, [b.out, b.q, b.kCache, b.vCache, params, b.step], 'attention_decode_single') : undefined;
      return {
        encode(pass, kvLen) {
          if (!(kvLen >= 1 && kvLen <= shape.capacity)) throw new RangeError(`attention_decode: kvLen ${kvLen} outside 1..${shape.capacity}`);
          if (single && g0 && path(kvLen) === 'single') {
            dispatch(pass, single, g0, nHeads);
            return;
          }
          dispatch(pass, pipeline, g1, splits(kvLen), nKvHeads);
          dispatch(pass, combine, g2, nHeads);
        },
      };
    },
  };
}

export type AttentionDecode = Awaited<ReturnType<typeof createAttentionDecode>>;

/** Override constants of wgsl/attention_decode_single.wgsl for a plan. */
function singleConstants(shape: DecodeShape, plan: SinglePlan) {
  const { upr } = decodeUnits(shape.headDim, shape.cacheF16);
  const kp = Math.floor(plan.wg / upr);
  return {
    ...cacheConstants(shape.headDim, shape.cacheF16),
    GROUP: shape.nHeads / shape.nKvHeads,
    WG: plan.wg,
    KPT: Math.ceil(plan.maxKeys / plan.wg),
    VPT: Math.ceil(plan.maxKeys / kp),
    RED_N: singleRedWords(shape.headDim, shape.cacheF16, plan.wg, plan.maxKeys),
  };
}
