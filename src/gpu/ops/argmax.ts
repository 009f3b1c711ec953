/**
 * Argmax of n f32 logits into one u32 (first index of the largest; NaN never wins), for a 4-byte readback
 * per decoded token. Two dispatches of wgsl/argmax.wgsl: per-chunk bests, then the best of those.
 */
import source from '../../../wgsl/argmax.wgsl';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createStorage, createUniform, dispatch, getPipeline } from '../kernel';
import { checkGridDim } from './grid';

export interface ArgmaxShape {
  n: number;
}

export interface ArgmaxBindings {
  out: GPUBuffer; // u32 at element 0: the index
  logits: GPUBuffer; // f32, n values from logitsOffset
  /** First logit, in elements (e.g. the last row of a (rows, vocab) buffer); default 0. */
  logitsOffset?: number;
}

export interface EncodedArgmax {
  encode(pass: GPUComputePassEncoder): void;
}

const WG = 256;
const ITEMS = 16;

export async function createArgmax(gpu: Gpu, shape: ArgmaxShape) {
  const { n } = shape;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`argmax: n must be a positive integer, got ${n}`);
  const groups = ceilDiv(n, WG * ITEMS);
  checkGridDim(gpu, 'argmax', groups);
  const [partial, final] = await Promise.all([
    getPipeline(gpu, 'argmax', source, { WG, ITEMS, STAGE: 0 }),
    getPipeline(gpu, 'argmax', source, { WG, ITEMS, STAGE: 1 }),
  ]);
  const finalParams = createUniform(gpu, [groups, 0], 'argmax.params');
  return {
    bind(b: ArgmaxBindings): EncodedArgmax {
      const offset = b.logitsOffset ?? 0;
      if ((offset + n) * 4 > b.logits.size) throw new RangeError(`argmax: logits buffer holds fewer than ${offset + n} values`);
      const scratch = createStorage(gpu, groups * 8, 'argmax.scratch');
      const params = createUniform(gpu, [n, offset], 'argmax.params');
      const g0 = bindGroup(gpu, partial, [scratch, b.logits, params], 'argmax.partial');
      const g1 = bindGroup(gpu, final, [b.out, scratch, finalParams], 'argmax.final');
      return {
        encode(pass) {
          dispatch(pass, partial, g0, groups);
          dispatch(pass, final, g1, 1);
        },
      };
    },
  };
}
