/**
 * Bench-only baseline: the v3 decode matvec (bench/baseline/matvec_v3.wgsl, wgsl/matvec.wgsl as of the v3
 * measurements: FPG = 4 rows per group, loop over 16-byte words with a uniform trip count, shared-memory tree
 * reduction), so kernel-bench can time the old and new kernels in one run. Not used by the engine.
 */
import source from './matvec_v3.wgsl';
import type { Gpu } from '../../src/gpu/device';
import { bindGroup, ceilDiv, createStorage, createUniform, dispatch, getPipeline } from '../../src/gpu/kernel';
import type { EncodedOp } from '../../src/gpu/ops/rmsnorm';

export interface MatvecV3Bindings {
  out: GPUBuffer;
  x: GPUBuffer;
  w: GPUBuffer;
  step: GPUBuffer;
}

/** bf16 weights, one part, no bias; `tpf` as the v3 wrapper chose it by default (2 words per invocation). */
export async function createMatvecV3(gpu: Gpu, shape: { k: number; n: number; accumulate?: boolean; tpf?: number; outStride?: number; colOffset?: number }) {
  const { k, n } = shape;
  const rowWords = k / 2;
  const vec4 = rowWords % 4 === 0;
  const units = vec4 ? rowWords / 4 : rowWords;
  const tpf = shape.tpf ?? Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(units / 2))))));
  const pipeline = await getPipeline(gpu, 'matvec_v3', source, { DTYPE: 2, VEC4: vec4 ? 1 : 0, WG: 256, TPF: tpf });
  const noBias = createStorage(gpu, 16, 'matvec_v3.no-bias');
  const groups = ceilDiv(n, (256 / tpf) * 4);
  return {
    tpf,
    bind(b: MatvecV3Bindings): EncodedOp {
      const params = createUniform(gpu, [k, n, shape.outStride ?? n, shape.colOffset ?? 0, rowWords, 0, shape.accumulate ? 2 : 0], 'matvec_v3.params');
      const group = bindGroup(gpu, pipeline, [b.out, b.x, b.x, b.w, b.w, noBias, params, b.step], 'matvec_v3');
      return { encode: (pass) => dispatch(pass, pipeline, group, groups) };
    },
  };
}
