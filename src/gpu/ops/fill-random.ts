/** Seeded random weights generated on the GPU (benchmarks). Kernel: wgsl/fill_random.wgsl. */
import source from '../../../wgsl/fill_random.wgsl';
import type { Gpu } from '../device';
import { DTYPE_CODE, type WeightDtype } from '../dtype';
import { bindGroup, ceilDiv, createUniform, dispatch, f32Bits, getPipeline } from '../kernel';

export async function createFillRandom(gpu: Gpu, dtype: WeightDtype) {
  const pipeline = await getPipeline(gpu, 'fill_random', source, { DTYPE: DTYPE_CODE[dtype] });
  return {
    /** Records a fill of the first `words` u32 words of `out`, uniform in [-scale, scale). */
    encode(pass: GPUComputePassEncoder, out: GPUBuffer, words: number, seed: number, scale: number): void {
      const groups = ceilDiv(words, 256);
      const x = Math.min(groups, gpu.limits.maxComputeWorkgroupsPerDimension);
      const params = createUniform(gpu, [words, seed >>> 0, f32Bits(scale), x], 'fill_random.params');
      dispatch(pass, pipeline, bindGroup(gpu, pipeline, [out, params]), x, ceilDiv(groups, x));
    },
  };
}
