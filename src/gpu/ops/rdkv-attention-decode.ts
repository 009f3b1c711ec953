/**
 * RDKV fused decode attention over a compressed layer: one query token, zones A + B (the packed arena of
 * every KV head, src/rdkv/layout.ts) and zone C (full-precision decode tokens). Split-K flash decoding:
 * wgsl/rdkv_attention_decode.wgsl (grid (nSplit, Hkv): a workgroup scores and accumulates a contiguous
 * token range for the G query heads of a KV head) then wgsl/rdkv_attention_combine.wgsl (grid Hq).
 * The zone C length comes from the Step uniform: nC = step.kv_len − T (kv_len = pos + 1 for the token at
 * absolute position pos, whose k/v are already in zone C slot pos − T).
 */
import source from '../../../wgsl/rdkv_attention_decode.wgsl';
import combineSource from '../../../wgsl/rdkv_attention_combine.wgsl';
import { HEADER_FIELDS, encodeHeader, type HeadLayout } from '../../rdkv/layout';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createStorage, createUniform, dispatch, f32Bits, getPipeline, uploadStorage } from '../kernel';
import type { ArenaPlan } from './rdkv-pack';

export interface RdkvDecodeShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Zone C words hold two f16 values (dim 2j low) instead of one f32. */
  zoneCF16: boolean;
  scale?: number;
  /** Tokens per tile = workgroup size; default 64 (32 on CPU adapters). */
  tile?: number;
}

export interface RdkvDecodeBindings {
  out: GPUBuffer; // (Hq·d) f32
  q: GPUBuffer; // (Hq·d) f32, roped
  arena: GPUBuffer;
  layouts: readonly HeadLayout[];
  plan: ArenaPlan;
  zoneC: { k: GPUBuffer; v: GPUBuffer; capacity: number };
  step: GPUBuffer; // Step uniform: kv_len = T + nC
  T: number;
  /** Splits per KV head; default from the kept token count (about 256 tokens each, Hkv·nSplit <= 512). */
  splits?: number;
}

export interface BoundRdkvDecode {
  /** Records the decode and combine dispatches; nC (zone C tokens, incl. this one) must match the step. */
  encode(pass: GPUComputePassEncoder, nC: number): void;
  nSplit: number;
  destroy(): void;
}

/** Words per head in the heads table: the 32 header fields, the arena base, padding. */
export const HEADS_STRIDE = 36;
const MAX_G = 8;
const MAX_DPT = 4;

/** The heads table: every head's header fields (plain layouts too) and arena base. */
export function headsTable(layouts: readonly HeadLayout[], plan: ArenaPlan): Uint32Array<ArrayBuffer> {
  const t = new Uint32Array(layouts.length * HEADS_STRIDE);
  layouts.forEach((l, h) => {
    t.set(encodeHeader({ ...l, plain: false }), h * HEADS_STRIDE);
    t[h * HEADS_STRIDE + HEADER_FIELDS.length] = plan.offsets[h];
  });
  return t;
}

export function defaultSplits(layouts: readonly HeadLayout[], tile: number): number {
  const maxKept = Math.max(1, ...layouts.map((l) => l.kept));
  return Math.max(1, Math.min(ceilDiv(maxKept, Math.max(256, tile)), Math.floor(512 / layouts.length)));
}

export async function createRdkvAttentionDecode(gpu: Gpu, shape: RdkvDecodeShape) {
  const { nHeads, nKvHeads, headDim } = shape;
  if (nHeads % nKvHeads) throw new RangeError(`rdkv_attention_decode: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  const G = nHeads / nKvHeads;
  if (G > MAX_G) throw new RangeError(`rdkv_attention_decode: ${G} query heads per KV head, at most ${MAX_G}`);
  if (shape.zoneCF16 && headDim % 2) throw new RangeError('rdkv_attention_decode: f16 zone C needs an even headDim');
  const bt = shape.tile ?? (gpu.adapter.isFallbackAdapter ? 32 : 64);
  if (headDim > bt * MAX_DPT) throw new RangeError(`rdkv_attention_decode: headDim ${headDim} over ${MAX_DPT} × tile ${bt}`);
  const shared = 4 * (2 * G * headDim + G * bt + 4 * G + 1);
  if (shared > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new RangeError(`rdkv_attention_decode: ${shared} bytes of workgroup memory (G ${G}, headDim ${headDim}, tile ${bt}), over the device's ${gpu.limits.maxComputeWorkgroupStorageSize}`);
  }
  const [pipe, comb] = await Promise.all([
    getPipeline(gpu, 'rdkv_attention_decode', source, { HEAD_DIM: headDim, G, BT: bt, ZC_F16: shape.zoneCF16 ? 1 : 0 }),
    getPipeline(gpu, 'rdkv_attention_combine', combineSource, { HEAD_DIM: headDim, G, WG: Math.min(64, headDim) }),
  ]);
  const scale = shape.scale ?? 1 / Math.sqrt(headDim);
  return {
    tile: bt,
    bind(b: RdkvDecodeBindings): BoundRdkvDecode {
      if (b.layouts.length !== nKvHeads) throw new RangeError(`rdkv_attention_decode: ${b.layouts.length} layouts for ${nKvHeads} heads`);
      for (const l of b.layouts) {
        if (l.d !== headDim) throw new RangeError(`rdkv_attention_decode: layout head dim ${l.d}, expected ${headDim}`);
        if (l.T !== b.T) throw new RangeError(`rdkv_attention_decode: layout T ${l.T}, expected ${b.T}`);
      }
      const nSplit = b.splits ?? defaultSplits(b.layouts, bt);
      const maxKept = Math.max(...b.layouts.map((l) => l.kept));
      const params = createUniform(gpu, [nHeads, b.T, b.zoneC.capacity, nSplit, maxKept, f32Bits(scale * Math.LOG2E)], 'rdkv_decode.params');
      const heads = uploadStorage(gpu, headsTable(b.layouts, b.plan), 'rdkv_decode.heads');
      const partAcc = createStorage(gpu, nKvHeads * nSplit * G * headDim * 4, 'rdkv_decode.part_acc');
      const partMl = createStorage(gpu, nKvHeads * nSplit * G * 8, 'rdkv_decode.part_ml');
      const g1 = bindGroup(gpu, pipe, [partAcc, partMl, b.q, b.arena, heads, b.zoneC.k, b.zoneC.v, params, b.step], 'rdkv_decode');
      const g2 = bindGroup(gpu, comb, [b.out, partAcc, partMl, params], 'rdkv_decode.combine');
      return {
        nSplit,
        encode(pass, nC) {
          if (nC < 0 || nC > b.zoneC.capacity) throw new RangeError(`rdkv_attention_decode: ${nC} zone C tokens, capacity ${b.zoneC.capacity}`);
          dispatch(pass, pipe, g1, nSplit, nKvHeads);
          dispatch(pass, comb, g2, nHeads);
        },
        destroy() {
          for (const x of [params, heads, partAcc, partMl]) x.destroy();
        },
      };
    },
  };
}
