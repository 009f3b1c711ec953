/** SwiGLU gate out = silu(a) * b over (rows, features) f32. Kernel: wgsl/silu_mul.wgsl. */
import source from '../../../wgsl/silu_mul.wgsl';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createUniform, dispatch, getPipeline, type EncodedOp } from '../kernel';
import { checkGridDim } from './grid';

export interface SiluMulShape {
  features: number;
  /** f32 per row of a and b; default features. Set (with bOffset) when a and b share one buffer. */
  inStride?: number;
  /** Column of b's first element within its row; default 0. */
  bOffset?: number;
}

export interface SiluMulBindings {
  out: GPUBuffer; // (rows, features) f32
  a: GPUBuffer; // (rows, inStride) f32: the gate
  b: GPUBuffer; // (rows, inStride) f32: the up projection (may be the same buffer as a)
  step: GPUBuffer; // Step uniform: rows
}

const WG = 256;

export async function createSiluMul(gpu: Gpu, shape: SiluMulShape) {
  const { features } = shape;
  const inStride = shape.inStride ?? features;
  const bOffset = shape.bOffset ?? 0;
  if (features > inStride || bOffset + features > inStride) {
    throw new RangeError(`silu_mul: ${features} features at b offset ${bOffset} do not fit in rows of ${inStride}`);
  }
  const pipeline = await getPipeline(gpu, 'silu_mul', source, { WG });
  const params = createUniform(gpu, [features, inStride, bOffset], 'silu_mul.params');
  return {
    bind(b: SiluMulBindings): EncodedOp {
      const group = bindGroup(gpu, pipeline, [b.out, b.a, b.b, params, b.step], 'silu_mul');
      return {
        encode(pass, rows) {
          if (rows < 1) return;
          checkGridDim(gpu, 'silu_mul', rows);
          dispatch(pass, pipeline, group, ceilDiv(features, WG), rows);
        },
      };
    },
  };
}
