/**
 * RDKV fused decode attention over a compressed layer: one query token, zones A + B (the packed arena of
 * every KV head, src/rdkv/layout.ts) and zone C (full-precision decode tokens). Split-K flash decoding:
 * wgsl/rdkv_attention_decode.wgsl (grid (nSplit, Hkv): a workgroup scores a contiguous token range for the
 * G query heads of a KV head, one softmax max per chunk, then accumulates V with a whole warp on each packed
 * row) then wgsl/rdkv_attention_combine.wgsl (grid Hq, parallel over splits). The workgroup max is the
 * subgroup helper where the device has subgroups (override with `subgroups`).
 * Where a KV head serves at most 4 query heads and K has one token group (the engine's layouts), the first pass
 * is wgsl/rdkv_attention_decode_vec4.wgsl instead: the heads as vec4 lanes, per-segment value loops (at 128K on
 * an H100: 22 us per layer against 49; bench/NOTES.md, session 5). rdkvDecodeKernel makes the choice.
 * The zone C length comes from the Step uniform: nC = step.kv_len − T (kv_len = pos + 1 for the token at
 * absolute position pos, whose k/v are already in zone C slot pos − T).
 */
import source from '../../../wgsl/rdkv_attention_decode.wgsl';
import vec4Source from '../../../wgsl/rdkv_attention_decode_vec4.wgsl';
import sharedSource from '../../../wgsl/rdkv_decode_shared.wgsl';
import combineSource from '../../../wgsl/rdkv_attention_combine.wgsl';
import mergeSource from '../../../wgsl/decode_combine.wgsl';
import { HEADER_FIELDS, encodeHeader, type HeadLayout } from '../../rdkv/layout';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createStorage, createUniform, dispatch, f32Bits, getPipeline, uploadStorage } from '../kernel';
import { workgroupBudget } from './attention-prefill';
import { useSubgroups, withReduce } from './decode-reduce';
import type { ArenaPlan } from './rdkv-pack';

export interface RdkvDecodeShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Zone C words hold two f16 values (dim 2j low) instead of one f32. */
  zoneCF16: boolean;
  scale?: number;
  /** Tokens per chunk (their scores held in workgroup memory); default the largest up to 256 that fits. */
  tile?: number;
  /** Threads per workgroup, a power of two >= ceil(headDim / 8); default 64. */
  wg?: number;
  /** Use the subgroup reduction (wgsl/decode_reduce_subgroup.wgsl); default: when the device has subgroups. */
  subgroups?: boolean;
  /** Value rows each thread has in flight (1..16); default 4. */
  vb?: number;
  /** Benchmarks only: skip phases to time the others (wgsl PROBE: 1 no scores, 2 no values, 3 neither); 0 (default) is exact. */
  probe?: 0 | 1 | 2 | 3;
  /**
   * 'vec4' (wgsl/rdkv_attention_decode_vec4.wgsl: G <= 4 heads as vec4 lanes, one K token group) or 'general'
   * (any G up to 8, K token groups); default: rdkvDecodeKernel(G).
   */
  kernel?: RdkvDecodeKernel;
  /** vec4 kernel: dims per thread in the value phase (4, 8 or 16); default 4. */
  dpt?: number;
}

export type RdkvDecodeKernel = 'vec4' | 'general';

/**
 * The decode kernel for G query heads per KV head over these layouts: 'vec4' when G <= 4 and every head's
 * K has one token group (the engine's default layouts), else 'general'.
 */
export function rdkvDecodeKernel(G: number, layouts: readonly HeadLayout[] = []): RdkvDecodeKernel {
  return G <= 4 && layouts.every((l) => l.nQ <= l.tokenGroup) ? 'vec4' : 'general';
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
  /** Splits per KV head; default defaultSplits (about 32 tokens each, Hkv·nSplit <= ~512). */
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
const COMBINE_WG = 256;
/** Workgroup memory for a chunk's scores: more would cost occupancy and gain nothing. */
const SCORE_BYTES = 16384;

/** The heads table: every head's header fields (plain layouts too) and arena base. */
export function headsTable(layouts: readonly HeadLayout[], plan: ArenaPlan): Uint32Array<ArrayBuffer> {
  const t = new Uint32Array(layouts.length * HEADS_STRIDE);
  layouts.forEach((l, h) => {
    t.set(encodeHeader({ ...l, plain: false }), h * HEADS_STRIDE);
    t[h * HEADS_STRIDE + HEADER_FIELDS.length] = plan.offsets[h];
  });
  return t;
}

/**
 * Splits per KV head: about 32 kept tokens each (a split's work is a short chain of memory round trips, so
 * short caches still spread over the GPU), at most ~512 workgroups in all, but at least enough that the kept
 * tokens fit one chunk of `chunk` tokens per split. On the H200 (rdkv-bench --sweep, bench/NOTES.md): 1024
 * kept f16 tokens per head 19.6 us/layer with 32 splits vs 21.7 with 16; RDKV at 128K (~6.5K kept tokens per
 * head) 48-49 us with 51 splits vs 62-96 us with 102.
 */
export function defaultSplits(layouts: readonly HeadLayout[], chunk: number): number {
  const maxKept = Math.max(1, ...layouts.map((l) => l.kept));
  const byLength = Math.min(ceilDiv(maxKept, 32), Math.max(1, Math.floor(512 / layouts.length)));
  return Math.max(1, Math.min(Math.max(byLength, ceilDiv(maxKept, chunk)), 65535));
}

/** The kernel text with `const NAME: u32 = …u;` lines set (they size private arrays, which WGSL overrides cannot). */
function withConsts(file: string, text: string, consts: Record<string, number>): string {
  for (const [name, value] of Object.entries(consts)) {
    const line = new RegExp(`const ${name}: u32 = \\d+u;`);
    if (!line.test(text)) throw new Error(`${file}: no \`const ${name}: u32 = …u;\` line to set`);
    text = text.replace(line, `const ${name}: u32 = ${value}u;`);
  }
  return text;
}

export function rdkvDecodeSharedBytes(headDim: number, group: number, chunk: number, wg: number): number {
  // qo, qs, zqs; bias; sc; red; the header (33 words) and the subgroup helper's counter
  return 4 * (3 * group * headDim + group + group * chunk + Math.max(group, 9) * wg + 33 + 1);
}

/** The vec4 kernel's scratch array (vec4 entries): partials and l of kp token lanes, padded qs, the chunk max. */
function vec4Scratch(headDim: number, wg: number, dpt: number): number {
  const kp = Math.floor(wg / Math.ceil(headDim / dpt));
  return Math.max(kp * (headDim + 1), headDim + 25, wg + 8);
}

export function rdkvDecodeVec4SharedBytes(headDim: number, chunk: number, wg: number, dpt: number): number {
  // qo, qs (padded), sc, scr: vec4 each; the header (33 words)
  return 16 * (headDim + headDim + 25 + chunk + vec4Scratch(headDim, wg, dpt)) + 4 * 33;
}

export async function createRdkvAttentionDecode(gpu: Gpu, shape: RdkvDecodeShape) {
  const { nHeads, nKvHeads, headDim } = shape;
  if (nHeads % nKvHeads) throw new RangeError(`rdkv_attention_decode: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  const G = nHeads / nKvHeads;
  if (G > MAX_G) throw new RangeError(`rdkv_attention_decode: ${G} query heads per KV head, at most ${MAX_G}`);
  if (headDim % 2) throw new RangeError(`rdkv_attention_decode: headDim ${headDim} must be even`);
  const kernel = shape.kernel ?? rdkvDecodeKernel(G);
  if (kernel === 'vec4' && G > 4) throw new RangeError(`rdkv_attention_decode: the vec4 kernel takes at most 4 query heads per KV head, got ${G}`);
  // 4 dims a thread: 22.3 us per layer at 128K on an H100 against 32.6 with 8 and 33.2 with 16 (bench/NOTES.md)
  const dpt = kernel === 'vec4' ? (shape.dpt ?? 4) : 8;
  if (![4, 8, 16].includes(dpt)) throw new RangeError(`rdkv_attention_decode: ${dpt} dims per thread, expected 4, 8 or 16`);
  const tpt = Math.ceil(headDim / dpt);
  const budget = workgroupBudget(gpu).maxComputeWorkgroupStorageSize;
  // 64 threads: on the H200 every chunk/split shape ran faster with 64 than with 128 or 256 (rdkv-bench --sweep)
  const wg = shape.wg ?? 64;
  if (!((wg & (wg - 1)) === 0 && wg >= tpt && wg <= gpu.limits.maxComputeInvocationsPerWorkgroup)) {
    throw new RangeError(`rdkv_attention_decode: workgroup size ${wg} must be a power of two in ${tpt}..${gpu.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  const sharedBytes = (nk: number) => (kernel === 'vec4' ? rdkvDecodeVec4SharedBytes(headDim, nk, wg, dpt) : rdkvDecodeSharedBytes(headDim, G, nk, wg));
  const scoreBytes = kernel === 'vec4' ? 16 : 4 * G;
  const chunk = shape.tile ?? [256, 128, 64, 32, 16, 8].find((nk) => scoreBytes * nk <= SCORE_BYTES && sharedBytes(nk) <= budget) ?? 8;
  const shared = sharedBytes(chunk);
  if (!(Number.isInteger(chunk) && chunk >= 1) || shared > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new RangeError(`rdkv_attention_decode: ${shared} bytes of workgroup memory (G ${G}, headDim ${headDim}, chunk ${chunk}, workgroup ${wg}), over the device's ${gpu.limits.maxComputeWorkgroupStorageSize}`);
  }
  const subgroups = kernel === 'general' && useSubgroups(gpu, shape.subgroups);
  const vb = shape.vb ?? 4;
  if (!(Number.isInteger(vb) && vb >= 1 && vb <= 16)) throw new RangeError(`rdkv_attention_decode: ${vb} value rows in flight, expected 1..16`);
  const zc = shape.zoneCF16 ? 1 : 0;
  const probe = shape.probe ?? 0;
  const [pipe, comb] = await Promise.all([
    kernel === 'vec4'
      ? getPipeline(gpu, `rdkv_attention_decode_vec4_d${headDim}_dpt${dpt}_u${vb}`, `${sharedSource}\n${withConsts('rdkv_attention_decode_vec4.wgsl', vec4Source, { HEAD_DIM: headDim, DPT: dpt, U: vb })}`, {
          G,
          NK: chunk,
          WG: wg,
          SCR_N: vec4Scratch(headDim, wg, dpt),
          ZC_F16: zc,
          PROBE: probe,
        })
      : getPipeline(gpu, `rdkv_attention_decode${subgroups ? '_sg' : ''}_vb${vb}`, withReduce(`${sharedSource}\n${withConsts('rdkv_attention_decode.wgsl', source, { VB: vb })}`, subgroups), {
          HEAD_DIM: headDim,
          G,
          NK: chunk,
          WG: wg,
          TPT: tpt,
          RED_N: Math.max(G, 9) * wg,
          ZC_F16: zc,
          PROBE: probe,
        }),
    getPipeline(gpu, 'rdkv_attention_combine', `${mergeSource}\n${combineSource}`, { HEAD_DIM: headDim, G, WG: Math.min(COMBINE_WG, gpu.limits.maxComputeInvocationsPerWorkgroup) }),
  ]);
  const scale = shape.scale ?? 1 / Math.sqrt(headDim);
  return {
    tile: chunk,
    wg,
    subgroups,
    vb,
    kernel,
    dpt,
    bind(b: RdkvDecodeBindings): BoundRdkvDecode {
      if (b.layouts.length !== nKvHeads) throw new RangeError(`rdkv_attention_decode: ${b.layouts.length} layouts for ${nKvHeads} heads`);
      for (const l of b.layouts) {
        if (l.d !== headDim) throw new RangeError(`rdkv_attention_decode: layout head dim ${l.d}, expected ${headDim}`);
        if (l.T !== b.T) throw new RangeError(`rdkv_attention_decode: layout T ${l.T}, expected ${b.T}`);
        if (kernel === 'vec4' && l.nQ > l.tokenGroup) {
          throw new RangeError(`rdkv_attention_decode: the vec4 kernel takes one K token group, this layout has ${Math.ceil(l.nQ / l.tokenGroup)} (tokenGroup ${l.tokenGroup}); use kernel 'general' (rdkvDecodeKernel)`);
        }
      }
      const nSplit = b.splits ?? defaultSplits(b.layouts, chunk);
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
