/**
 * Flash-decoding attention for one query token: pass 1 (wgsl/attention_decode.wgsl) splits the keys over
 * (splits × KV heads) workgroups and writes partial softmax states to a scratch buffer owned by the op;
 * pass 2 (wgsl/attention_decode_combine.wgsl) merges them. The split count is chosen from kv_len at encode
 * time: a few at short context, enough workgroups to fill a large GPU at long context.
 */
import source from '../../../wgsl/attention_decode.wgsl';
import combineSource from '../../../wgsl/attention_decode_combine.wgsl';
import type { Gpu } from '../device';
import { bindGroup, createStorage, createUniform, dispatch, getPipeline } from '../kernel';
import {
  cacheRowAligned,
  checkAttentionShape,
  checkCacheBuffer,
  scaleLog2Bits,
  workgroupBudget,
  type AttentionShape,
  type TileLimits,
} from './attention_prefill';

export interface DecodeShape extends AttentionShape {
  maxSplits?: number; // default 128; sizes the scratch buffer
  minKeysPerSplit?: number; // default 256
  targetWorkgroups?: number; // splits × nKvHeads aimed for at long context; default 1024
  tiles?: DecodeTiles;
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

/** NK keys per tile, WG threads per workgroup. */
export interface DecodeTiles {
  nk: number;
  wg: number;
}

const MAX_OPT = 16;
const COMBINE_WG = 64;

export function decodeSharedBytes(headDim: number, group: number, nk: number): number {
  const dp4 = Math.ceil(headDim / 4);
  return 16 * (group * dp4 + nk * (2 * dp4 + 1)) + 4 * (group * (nk + 1) + 3 * group);
}

/** The largest key tile (up to 64) that fits, 128 threads (256 when a thread would hold > 16 outputs). */
export function decodeTiles(headDim: number, group: number, limits: TileLimits): DecodeTiles {
  const outputs = group * Math.ceil(headDim / 4);
  const wg = outputs > 128 * MAX_OPT ? 256 : 128;
  if (outputs > wg * MAX_OPT || wg > limits.maxComputeInvocationsPerWorkgroup) {
    throw new RangeError(`attention_decode: ${group} heads × headDim ${headDim} per KV head is too many for one workgroup`);
  }
  for (const nk of [64, 32, 16, 8, 4, 2, 1]) {
    if (decodeSharedBytes(headDim, group, nk) <= limits.maxComputeWorkgroupStorageSize) return { nk, wg };
  }
  throw new RangeError(`attention_decode: headDim ${headDim}, ${group} heads per KV head do not fit ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`);
}

/** Splits for kvLen keys: ceil(len / minKeysPerSplit), at most targetWorkgroups / nKvHeads and maxSplits. */
export function decodeSplits(shape: DecodeShape, kvLen: number): number {
  const len = shape.window ? Math.min(kvLen, shape.window) : kvLen;
  const byLength = Math.ceil(len / (shape.minKeysPerSplit ?? 256));
  const byGpu = Math.ceil((shape.targetWorkgroups ?? 1024) / shape.nKvHeads);
  return Math.max(1, Math.min(byLength, byGpu, shape.maxSplits ?? 128));
}

export async function createAttentionDecode(gpu: Gpu, shape: DecodeShape) {
  checkAttentionShape('attention_decode', shape);
  const { headDim, nHeads, nKvHeads } = shape;
  const group = nHeads / nKvHeads;
  const maxSplits = shape.maxSplits ?? 128;
  const dp4 = Math.ceil(headDim / 4);
  const t = shape.tiles ?? decodeTiles(headDim, group, workgroupBudget(gpu));
  const opt = Math.ceil((group * dp4) / t.wg);
  if (opt > MAX_OPT || decodeSharedBytes(headDim, group, t.nk) > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new RangeError(`attention_decode: tiles ${JSON.stringify(t)} do not fit headDim ${headDim} × ${group} heads`);
  }
  const aligned = cacheRowAligned(headDim, shape.cacheF16);
  const [pipeline, combine] = await Promise.all([
    getPipeline(gpu, 'attention_decode', source, {
      HEAD_DIM: headDim,
      DP4: dp4,
      CACHE_F16: shape.cacheF16 ? 1 : 0,
      ALIGNED: aligned ? 1 : 0,
      ROW4: aligned ? headDim / (shape.cacheF16 ? 8 : 4) : 1, // unused when not aligned
      G: group,
      NK: t.nk,
      WG: t.wg,
      OPT: opt,
    }),
    getPipeline(gpu, 'attention_decode_combine', combineSource, { HEAD_DIM: headDim, WG: COMBINE_WG }),
  ]);
  const params = createUniform(gpu, [nHeads, shape.capacity, shape.window ?? 0, scaleLog2Bits(shape), maxSplits], 'attention_decode.params');
  const scratch = createStorage(gpu, 4 * (4 + nHeads * maxSplits * (2 + headDim)), 'attention_decode.scratch');
  return {
    tiles: t,
    splits: (kvLen: number) => decodeSplits(shape, kvLen),
    bind(b: DecodeBindings): DecodeOp {
      checkCacheBuffer('attention_decode', shape, b.kCache, 'kCache');
      checkCacheBuffer('attention_decode', shape, b.vCache, 'vCache');
      const g1 = bindGroup(gpu, pipeline, [scratch, b.q, b.kCache, b.vCache, params, b.step], 'attention_decode');
      const g2 = bindGroup(gpu, combine, [b.out, scratch, params], 'attention_decode_combine');
      return {
        encode(pass, kvLen) {
          if (!(kvLen >= 1 && kvLen <= shape.capacity)) throw new RangeError(`attention_decode: kvLen ${kvLen} outside 1..${shape.capacity}`);
          dispatch(pass, pipeline, g1, decodeSplits(shape, kvLen), nKvHeads);
          dispatch(pass, combine, g2, nHeads);
        },
      };
    },
  };
}
