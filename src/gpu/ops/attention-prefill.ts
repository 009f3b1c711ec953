/**
 * Causal GQA flash attention for a prefill chunk over the KV cache. Kernel: wgsl/attention_prefill.wgsl.
 * Tile sizes are chosen from the head dim and the workgroup memory budget (workgroupBudget); `tiles`
 * overrides them for tuning.
 */
import source from '../../../wgsl/attention_prefill.wgsl';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createUniform, dispatch, f32Bits, getPipeline, type EncodedOp } from '../kernel';

export interface AttentionShape {
  nHeads: number;
  nKvHeads: number; // divides nHeads; query head h reads KV head floor(h / (nHeads / nKvHeads))
  headDim: number; // even, 8..256
  capacity: number; // cache slots per KV head
  cacheF16: boolean; // K/V cache words hold two f16 values (dim 2j low) instead of one f32
  window?: number; // sliding window W > 0: position p sees keys t with p − W < t ≤ p
  scale?: number; // default 1 / sqrt(headDim)
}

export interface AttentionBindings {
  out: GPUBuffer; // (rows, nHeads × headDim) f32
  q: GPUBuffer; // (rows, nHeads × headDim) f32, roped
  kCache: GPUBuffer; // [nKvHeads, capacity, headDim], slots 0 .. step.pos + rows − 1 written
  vCache: GPUBuffer;
  step: GPUBuffer; // Step uniform: rows, pos
}

/**
 * Workgroup tiling: BQ queries × BK keys, rows of DP4 vec4 columns (>= ceil(headDim / 4), zero padded);
 * per thread SR × SK scores and RQ rows × DV vec4 output columns.
 */
export interface PrefillTiles {
  dp4: number;
  bq: number;
  bk: number;
  wg: number;
  sr: number;
  sk: number;
  rq: number;
  dv: number;
}

export type TileLimits = Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup'>;

const MAX_S = 16;
const MAX_ACC = 16;
const MAX_SIDE = 8;

export function prefillSharedBytes(t: Pick<PrefillTiles, 'dp4' | 'bq' | 'bk'>): number {
  return 16 * (t.dp4 + 1) * (t.bq + t.bk) + 4 * (t.bq * (t.bk + 1) + 3 * t.bq);
}

/** Why `t` cannot run for this head dim on these limits, or undefined when it can. */
export function checkPrefillTiles(headDim: number, t: PrefillTiles, limits: TileLimits): string | undefined {
  const { dp4 } = t;
  const ints = Object.values(t).every((x) => Number.isInteger(x) && x > 0);
  if (!ints) return 'tile sizes must be positive integers';
  if (dp4 < Math.ceil(headDim / 4)) return `dp4 ${dp4} is under headDim / 4`;
  if (t.wg > Math.min(256, limits.maxComputeInvocationsPerWorkgroup)) return `wg ${t.wg} over the invocation limit`;
  if (t.bk % t.sk || t.bq % t.sr || (t.bq / t.sr) * (t.bk / t.sk) !== t.wg) return 'score blocks do not tile BQ × BK with wg threads';
  if (dp4 % t.dv || t.bq % t.rq || (t.bq / t.rq) * (dp4 / t.dv) !== t.wg) return 'output blocks do not tile BQ × d with wg threads';
  if (t.sr * t.sk > MAX_S || t.rq * t.dv > MAX_ACC || Math.max(t.sr, t.sk, t.rq, t.dv) > MAX_SIDE) return 'per-thread blocks too large';
  const bytes = prefillSharedBytes(t);
  if (bytes > limits.maxComputeWorkgroupStorageSize) return `${bytes} bytes of workgroup memory`;
  return undefined;
}

/**
 * The largest query/key tiles that fit, with up to 16 scores and 8 vec4 accumulators per thread (d = 128 on
 * 48 KiB: 32 × 32 tiles, 128 threads, 4 × 2 scores and 4 rows × 2 vec4 per thread). Odd head dims pad DP4.
 */
export function prefillTiles(headDim: number, limits: TileLimits): PrefillTiles {
  const base = Math.ceil(headDim / 4);
  const pads = [...new Set([1, 2, 4, 8, 16].map((m) => Math.ceil(base / m) * m))];
  const sizes: [number, number][] = [[64, 32], [32, 32], [64, 16], [32, 16], [16, 16], [16, 8], [8, 8], [8, 4], [4, 4]];
  for (const dp4 of pads) {
    for (const [bq, bk] of sizes) {
      for (const dv of [2, 1]) {
        for (const rq of [4, 2, 8, 1]) {
          const wg = (bq / rq) * (dp4 / dv);
          for (const sk of [2, 4, 1]) {
            const sr = (bq * bk) / wg / sk;
            const t = { dp4, bq, bk, wg, sr, sk, rq, dv };
            if (checkPrefillTiles(headDim, t, limits) === undefined) return t;
          }
        }
      }
    }
  }
  throw new RangeError(`attention_prefill: no tiling fits headDim ${headDim} in ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`);
}

/** Cache rows are vec4<u32>-aligned (the fast load path) for f32 with d % 4 == 0 and f16 with d % 8 == 0. */
export function cacheRowAligned(headDim: number, cacheF16: boolean): boolean {
  return headDim % (cacheF16 ? 8 : 4) === 0;
}

export function checkAttentionShape(name: string, s: AttentionShape): void {
  if (s.headDim % 2 || s.headDim < 2 || s.headDim > 256) throw new RangeError(`${name}: headDim ${s.headDim} must be even, at most 256`);
  if (s.nHeads % s.nKvHeads) throw new RangeError(`${name}: nHeads ${s.nHeads} is not a multiple of nKvHeads ${s.nKvHeads}`);
  if ((s.window ?? 0) < 0 || !Number.isInteger(s.window ?? 0)) throw new RangeError(`${name}: window ${s.window} must be a whole number >= 0`);
}

/** Throws unless a cache buffer holds the whole [nKvHeads, capacity, headDim] cache in whole 16-byte words. */
export function checkCacheBuffer(name: string, s: AttentionShape, buf: GPUBuffer, which: string): void {
  const bytes = s.nKvHeads * s.capacity * s.headDim * (s.cacheF16 ? 2 : 4);
  if (buf.size < bytes || buf.size % 16) {
    throw new RangeError(`${name}: ${which} is ${buf.size} bytes; needs >= ${bytes} and a multiple of 16 (it is read as vec4<u32>)`);
  }
}

/**
 * Workgroup memory the attention kernels plan for: the device limit (48 KiB on the H200), but 4 KiB on CPU
 * adapters, where large tiles gain nothing and SwiftShader's compile time grows with workgroup memory
 * (Dawn's zero-initialisation of it: ~0.17 s per KiB).
 */
export function workgroupBudget(gpu: Gpu): TileLimits {
  const limit = gpu.limits.maxComputeWorkgroupStorageSize;
  return {
    maxComputeWorkgroupStorageSize: gpu.adapter.isFallbackAdapter ? Math.min(4096, limit) : limit,
    maxComputeInvocationsPerWorkgroup: gpu.limits.maxComputeInvocationsPerWorkgroup,
  };
}

/** The score scale in base 2 (the kernels use exp2), as f32 bits for a params uniform. */
export function scaleLog2Bits(s: AttentionShape): number {
  return f32Bits((s.scale ?? 1 / Math.sqrt(s.headDim)) * Math.LOG2E);
}

export async function createAttentionPrefill(gpu: Gpu, shape: AttentionShape & { tiles?: PrefillTiles }) {
  checkAttentionShape('attention_prefill', shape);
  const { headDim, nHeads, nKvHeads } = shape;
  const t = shape.tiles ?? prefillTiles(headDim, workgroupBudget(gpu));
  const why = checkPrefillTiles(headDim, t, gpu.limits);
  if (why) throw new RangeError(`attention_prefill: tiles ${JSON.stringify(t)} rejected: ${why}`);
  const pipeline = await getPipeline(gpu, 'attention_prefill', source, {
    HEAD_DIM: headDim,
    DP4: t.dp4,
    CACHE_F16: shape.cacheF16 ? 1 : 0,
    ALIGNED: cacheRowAligned(headDim, shape.cacheF16) ? 1 : 0,
    ROW4: cacheRowAligned(headDim, shape.cacheF16) ? headDim / (shape.cacheF16 ? 8 : 4) : 1, // unused when not aligned
    BQ: t.bq,
    BK: t.bk,
    WG: t.wg,
    SR: t.sr,
    SK: t.sk,
    RQ: t.rq,
    DV: t.dv,
  });
  const params = createUniform(gpu, [nHeads, nHeads / nKvHeads, shape.capacity, shape.window ?? 0, scaleLog2Bits(shape)], 'attention_prefill.params');
  const group = nHeads / nKvHeads;
  return {
    tiles: t,
    bind(b: AttentionBindings): EncodedOp {
      checkCacheBuffer('attention_prefill', shape, b.kCache, 'kCache');
      checkCacheBuffer('attention_prefill', shape, b.vCache, 'vCache');
      const bg = bindGroup(gpu, pipeline, [b.out, b.q, b.kCache, b.vCache, params, b.step], 'attention_prefill');
      return { encode: (pass, rows) => dispatch(pass, pipeline, bg, ceilDiv(rows * group, t.bq), nKvHeads) };
    },
  };
}
