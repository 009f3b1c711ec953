/** RMSNorm over the rows of a (rows, dim) f32 buffer. Kernel: wgsl/rmsnorm.wgsl. */
import source from '../../../wgsl/rmsnorm.wgsl';
import type { Gpu } from '../device';
import { DTYPE_CODE, type WeightDtype } from '../dtype';
import { bindGroup, createUniform, dispatch, f32Bits, getPipeline, type EncodedOp } from '../kernel';

export interface RmsNormShape {
  dim: number;
  eps: number;
  weightDtype: WeightDtype;
}

export interface RmsNormBindings {
  out: GPUBuffer; // (rows, dim) f32
  x: GPUBuffer; // (rows, dim) f32, may not alias out
  weight: GPUBuffer; // (dim) packed weightDtype
  step: GPUBuffer; // Step uniform: rows
}

export async function createRmsNorm(gpu: Gpu, shape: RmsNormShape) {
  const wg = Math.min(256, gpu.limits.maxComputeInvocationsPerWorkgroup);
  const pipeline = await getPipeline(gpu, 'rmsnorm', source, { DTYPE: DTYPE_CODE[shape.weightDtype], WG: wg, ITEMS: Math.max(1, Math.ceil(shape.dim / wg)) });
  const params = createUniform(gpu, [shape.dim, f32Bits(shape.eps)], 'rmsnorm.params');
  return {
    bind(b: RmsNormBindings): EncodedOp {
      const group = bindGroup(gpu, pipeline, [b.out, b.x, b.weight, params, b.step], 'rmsnorm');
      return { encode: (pass, rows) => dispatch(pass, pipeline, group, rows) };
    },
  };
}
