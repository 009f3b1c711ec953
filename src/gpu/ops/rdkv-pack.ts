/**
 * RDKV pack: writes the compressed arenas of every KV head of one layer into one buffer (head h at word
 * offsets[h]) from the layer's full K/V cache, word for word as src/rdkv/cache.ts packHead. Kernel:
 * wgsl/rdkv_pack.wgsl (four phases per head: K partial extremes, K (s, z), V (s, z), arena words). The
 * header, the channel permutation and the stored positions do not depend on K/V and are written from the CPU
 * (queue.writeBuffer at bind time); so are the small per-head index arrays (kept slot → prompt position,
 * channel permutation) the kernel reads.
 */
import source from '../../../wgsl/rdkv_pack.wgsl';
import type { HeadLayout } from '../../rdkv/layout';
import { encodeHeader } from '../../rdkv/layout';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createStorage, createUniform, dispatch, getPipeline, uploadStorage } from '../kernel';
import { checkGridDim, foldGrid } from './grid';

export interface RdkvPackShape {
  nKvHeads: number;
  headDim: number;
  capacity: number; // K/V cache slots per KV head
  cacheF16: boolean;
}

export interface ArenaPlan {
  /** (Hkv) word offset of each head's arena in the layer buffer. */
  offsets: number[];
  totalWords: number;
}

/** Heads back to back in one u32 buffer. */
export function planArena(layouts: readonly HeadLayout[]): ArenaPlan {
  const offsets: number[] = [];
  let total = 0;
  for (const l of layouts) {
    offsets.push(total);
    total += l.totalWords;
  }
  return { offsets, totalWords: total };
}

export interface RdkvPackBindings {
  /** The layer arena, >= plan.totalWords u32 words. */
  arena: GPUBuffer;
  /** [Hkv, capacity, d] K cache (post-RoPE) and V cache, the prompt in slots 0 .. T − 1. */
  k: GPUBuffer;
  v: GPUBuffer;
  /** (Hkv) layouts (planLayout of each head's allocation). */
  layouts: readonly HeadLayout[];
  plan: ArenaPlan;
}

export interface BoundPack {
  encode(pass: GPUComputePassEncoder): void;
  destroy(): void;
}

/** Quantised slots per PHASE 0 workgroup. */
export const PACK_CHUNK = 64;

/** The Params words of wgsl/rdkv_pack.wgsl for head h. */
function headParams(l: HeadLayout, h: number, capacity: number, base: number, idxBase: number, scratch: { kpart: number; kparams: number; vparams: number }): number[] {
  const [s2, s4, s8] = l.vSegments;
  const [g8, g4, g2] = l.k.groups;
  const nSub = l.nQ > 0 ? ceilDiv(Math.min(l.tokenGroup, l.nQ), PACK_CHUNK) : 0;
  return [
    h,
    capacity,
    base,
    idxBase,
    scratch.kpart,
    scratch.kparams,
    scratch.vparams,
    l.kept,
    l.nQ,
    l.k.dStored,
    l.tokenGroup,
    l.nTokenGroups,
    nSub,
    PACK_CHUNK,
    l.zeroPoint === 'float' ? 1 : 0,
    s2.count + s4.count + s8.count,
    g8.channels,
    g4.channels,
    g2.channels,
    s2.count,
    s4.count,
    s8.count,
    l.zoneB.count,
    l.k.scales.offsetWords,
    l.k.zeros.offsetWords,
    g8.codes.offsetWords,
    g4.codes.offsetWords,
    g2.codes.offsetWords,
    s2.codes.offsetWords,
    s2.scales.offsetWords,
    s2.zeros.offsetWords,
    s4.codes.offsetWords,
    s4.scales.offsetWords,
    s4.zeros.offsetWords,
    s8.codes.offsetWords,
    s8.scales.offsetWords,
    s8.zeros.offsetWords,
    l.zoneB.v.offsetWords,
    l.zoneB.k.offsetWords,
    l.zoneB.k.offsetWords + l.zoneB.k.words,
  ];
}

/** Header and permutation words (the arena's first kScales.offsetWords words). */
function staticPrefix(l: HeadLayout): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(l.k.scales.offsetWords);
  out.set(encodeHeader(l), l.header.offsetWords);
  const { perm, permSpan } = l.k;
  for (let j = 0; j < perm.length; j++) out[permSpan.offsetWords + (j >> 1)] |= perm[j] << ((j & 1) * 16);
  return out;
}

export async function createRdkvPack(gpu: Gpu, shape: RdkvPackShape) {
  const { headDim, nKvHeads, capacity } = shape;
  if (shape.cacheF16 && headDim % 2) throw new RangeError(`rdkv_pack: f16 cache needs an even headDim`);
  const WG = gpu.adapter.isFallbackAdapter ? 64 : 128;
  const consts = { HEAD_DIM: headDim, CACHE_F16: shape.cacheF16 ? 1 : 0, WG };
  const pipes = await Promise.all([0, 1, 2, 3].map((PHASE) => getPipeline(gpu, 'rdkv_pack', source, { ...consts, PHASE })));
  return {
    bind(b: RdkvPackBindings): BoundPack {
      const { layouts, plan } = b;
      if (layouts.length !== nKvHeads) throw new RangeError(`rdkv_pack: ${layouts.length} layouts for ${nKvHeads} heads`);
      if (b.arena.size < plan.totalWords * 4) throw new RangeError(`rdkv_pack: arena has ${b.arena.size} bytes, needs ${plan.totalWords * 4}`);
      // Index arrays and scratch, every head at its own offset.
      let idxWords = 0;
      let scratchVec = 0;
      const perHead = layouts.map((l) => {
        if (l.d !== headDim) throw new RangeError(`rdkv_pack: layout head dim ${l.d}, expected ${headDim}`);
        if (l.T > capacity) throw new RangeError(`rdkv_pack: T ${l.T} over the cache capacity ${capacity}`);
        const nSub = l.nQ > 0 ? ceilDiv(Math.min(l.tokenGroup, l.nQ), PACK_CHUNK) : 0;
        const countA = l.vSegments.reduce((s, x) => s + x.count, 0);
        const idxBase = idxWords;
        idxWords += l.kept + l.k.dStored;
        const kpart = scratchVec;
        const kparams = kpart + l.nTokenGroups * nSub * l.k.dStored;
        const vparams = kparams + l.nTokenGroups * l.k.dStored;
        scratchVec = vparams + countA;
        return { l, nSub, countA, idxBase, scratch: { kpart, kparams, vparams } };
      });
      const idx = new Uint32Array(Math.max(idxWords, 1));
      for (const p of perHead) {
        idx.set(p.l.keptPositions, p.idxBase);
        idx.set(p.l.k.perm, p.idxBase + p.l.kept);
      }
      const idxBuf = uploadStorage(gpu, idx, 'rdkv_pack.idx');
      const scratch = createStorage(gpu, Math.max(scratchVec, 1) * 8, 'rdkv_pack.scratch');
      const owned: GPUBuffer[] = [idxBuf, scratch];
      const jobs: { pipe: number; group: GPUBindGroup; x: number; y: number }[] = [];
      perHead.forEach((p, h) => {
        const { l } = p;
        const base = plan.offsets[h];
        const q = gpu.device.queue;
        const prefix = staticPrefix(l);
        if (prefix.length) q.writeBuffer(b.arena, base * 4, prefix.buffer, 0, prefix.byteLength);
        if (l.positions.words) q.writeBuffer(b.arena, (base + l.positions.offsetWords) * 4, Uint32Array.from(l.keptPositions));
        const params = createUniform(gpu, headParams(l, h, capacity, base, p.idxBase, p.scratch), `rdkv_pack.params${h}`);
        owned.push(params);
        const groups = pipes.map((pipe, i) => bindGroup(gpu, pipe, [b.arena, scratch, b.k, b.v, idxBuf, params], `rdkv_pack.${i}.${h}`));
        if (l.nQ > 0 && l.k.dStored > 0) {
          checkGridDim(gpu, 'rdkv_pack', l.nTokenGroups * p.nSub);
          jobs.push({ pipe: 0, group: groups[0], x: l.nTokenGroups * p.nSub, y: 1 });
          jobs.push({ pipe: 1, group: groups[1], x: l.k.dStored, y: l.nTokenGroups });
        }
        if (p.countA > 0) jobs.push({ pipe: 2, group: groups[2], x: ceilDiv(p.countA, WG), y: 1 });
        const words = l.zoneB.k.offsetWords + l.zoneB.k.words - l.k.scales.offsetWords;
        if (words > 0) {
          const [x, y] = foldGrid(gpu, ceilDiv(words, WG));
          jobs.push({ pipe: 3, group: groups[3], x, y });
        }
      });
      return {
        encode(pass) {
          for (const j of jobs) dispatch(pass, pipes[j.pipe], j.group, j.x, j.y);
        },
        destroy() {
          for (const x of owned) x.destroy();
        },
      };
    },
  };
}
