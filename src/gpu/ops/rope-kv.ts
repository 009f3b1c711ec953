/** RoPE on q (in place) and k, and the KV-cache write of roped k and raw v. Kernel: wgsl/rope_kv.wgsl. */
import source from '../../../wgsl/rope_kv.wgsl';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createUniform, dispatch, getPipeline, type EncodedOp } from '../kernel';

export interface RopeKvShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number; // even, 8..256
  capacity: number; // cache slots per KV head
  cacheF16: boolean; // K/V cache words hold two f16 values (dim 2j low) instead of one f32
  slotBase?: number; // position written to slot 0 (default 0; a compressed cache's zone C starts at T)
}

/** A projection's rows inside a buffer: row r starts at r·stride + offset (f32 elements). */
export type RowSource = GPUBuffer | { buffer: GPUBuffer; stride: number; offset: number };

export interface RopeKvBindings {
  q: GPUBuffer; // out: (rows, nHeads × headDim) f32, the roped q
  qIn: RowSource; // (rows, nHeads × headDim) f32 projections, read only (never the same buffer as q)
  kCache: GPUBuffer; // [nKvHeads, capacity, headDim] f32 or packed f16
  vCache: GPUBuffer; // [nKvHeads, capacity, headDim] f32 or packed f16
  k: RowSource; // (rows, nKvHeads × headDim) f32, read only
  v: RowSource; // (rows, nKvHeads × headDim) f32, read only
  invFreq: GPUBuffer; // (headDim / 2) f32, frequency scaling already applied
  step: GPUBuffer; // Step uniform: rows, pos (rows go to slots pos .. pos + rows − 1 < capacity)
}

const WG = 64;

export async function createRopeKv(gpu: Gpu, shape: RopeKvShape) {
  const { nHeads, nKvHeads, headDim, capacity } = shape;
  if (headDim % 2 !== 0 || headDim < 2) throw new RangeError(`rope_kv: headDim ${headDim} must be even`);
  if (nHeads % nKvHeads !== 0) throw new RangeError(`rope_kv: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  const pipeline = await getPipeline(gpu, 'rope_kv', source, { WG, CACHE_F16: shape.cacheF16 ? 1 : 0 });
  const groups = ceilDiv((nHeads + 2 * nKvHeads) * (headDim / 2), WG);
  const src = (x: RowSource, width: number) => ('stride' in x ? x : { buffer: x, stride: width, offset: 0 });
  return {
    bind(b: RopeKvBindings): EncodedOp {
      const q = src(b.qIn, nHeads * headDim);
      const k = src(b.k, nKvHeads * headDim);
      const v = src(b.v, nKvHeads * headDim);
      if (q.buffer === b.q) throw new Error('rope_kv: q is roped out of place: qIn must be another buffer');
      const params = createUniform(
        gpu,
        [nHeads, nKvHeads, headDim, capacity, shape.slotBase ?? 0, q.stride, q.offset, k.stride, k.offset, v.stride, v.offset],
        'rope_kv.params',
      );
      const group = bindGroup(gpu, pipeline, [b.q, b.kCache, b.vCache, k.buffer, v.buffer, b.invFreq, params, b.step, q.buffer], 'rope_kv');
      return { encode: (pass, rows) => dispatch(pass, pipeline, group, groups, rows) };
    },
  };
}
