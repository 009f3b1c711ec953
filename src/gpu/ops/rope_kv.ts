/** RoPE on q (in place) and k, and the KV-cache write of roped k and raw v. Kernel: wgsl/rope_kv.wgsl. */
import source from '../../../wgsl/rope_kv.wgsl';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createUniform, dispatch, getPipeline } from '../kernel';
import type { EncodedOp } from './rmsnorm';

export interface RopeKvShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number; // even, 8..256
  capacity: number; // cache slots per KV head
  cacheF16: boolean; // K/V cache words hold two f16 values (dim 2j low) instead of one f32
  slotBase?: number; // position written to slot 0 (default 0; a compressed cache's zone C starts at T)
}

export interface RopeKvBindings {
  q: GPUBuffer; // (rows, nHeads × headDim) f32, roped in place
  kCache: GPUBuffer; // [nKvHeads, capacity, headDim] f32 or packed f16
  vCache: GPUBuffer; // [nKvHeads, capacity, headDim] f32 or packed f16
  k: GPUBuffer; // (rows, nKvHeads × headDim) f32, read only
  v: GPUBuffer; // (rows, nKvHeads × headDim) f32
  invFreq: GPUBuffer; // (headDim / 2) f32, frequency scaling already applied
  step: GPUBuffer; // Step uniform: rows, pos (rows go to slots pos .. pos + rows − 1 < capacity)
}

const WG = 64;

export async function createRopeKv(gpu: Gpu, shape: RopeKvShape) {
  const { nHeads, nKvHeads, headDim, capacity } = shape;
  if (headDim % 2 !== 0 || headDim < 2) throw new RangeError(`rope_kv: headDim ${headDim} must be even`);
  if (nHeads % nKvHeads !== 0) throw new RangeError(`rope_kv: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  const pipeline = await getPipeline(gpu, 'rope_kv', source, { WG, CACHE_F16: shape.cacheF16 ? 1 : 0 });
  const params = createUniform(gpu, [nHeads, nKvHeads, headDim, capacity, shape.slotBase ?? 0], 'rope_kv.params');
  const groups = ceilDiv((nHeads + 2 * nKvHeads) * (headDim / 2), WG);
  return {
    bind(b: RopeKvBindings): EncodedOp {
      const group = bindGroup(gpu, pipeline, [b.q, b.kCache, b.vCache, b.k, b.v, b.invFreq, params, b.step], 'rope_kv');
      return { encode: (pass, rows) => dispatch(pass, pipeline, group, groups, rows) };
    },
  };
}
