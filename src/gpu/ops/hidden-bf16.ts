/**
 * The residual stream of a compressed prefill kept in bf16 between layers (wgsl/hidden_bf16.wgsl): pack a
 * chunk's (rows, features) f32 rows into bf16 words, and widen them back. CPU reference: src/ref/pack.ts.
 */
import source from '../../../wgsl/hidden_bf16.wgsl';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createUniform, dispatch, getPipeline, type EncodedOp } from '../kernel';

const WG = 256;
const MAX_WORKGROUPS = 4096;

export interface HiddenBindings {
  x: GPUBuffer; // (rows, features) f32
  packed: GPUBuffer; // ceil(rows * features / 2) u32
  step: GPUBuffer; // Step uniform: rows (must equal the rows given to encode)
}

/** Bytes of `rows` hidden rows in bf16 (whole u32 words). */
export function bf16HiddenBytes(rows: number, features: number): number {
  return 4 * Math.ceil((rows * features) / 2);
}

export async function createHiddenBf16(gpu: Gpu, features: number) {
  if (!(Number.isInteger(features) && features >= 1)) throw new RangeError(`hidden_bf16: features must be a positive whole number, got ${features}`);
  const [pack, unpack] = await Promise.all([
    getPipeline(gpu, 'hidden_bf16_pack', source, { WG, UNPACK: 0 }),
    getPipeline(gpu, 'hidden_bf16_unpack', source, { WG, UNPACK: 1 }),
  ]);
  const params = createUniform(gpu, [features], 'hidden_bf16.params');
  const op = (pipeline: GPUComputePipeline, b: HiddenBindings, what: string): EncodedOp => {
    const group = bindGroup(gpu, pipeline, [b.x, b.packed, params, b.step], what);
    return {
      encode(pass, rows) {
        if (rows * features > b.x.size / 4) throw new RangeError(`${what}: ${rows} rows of ${features} overflow x (${b.x.size} bytes)`);
        if (bf16HiddenBytes(rows, features) > b.packed.size) throw new RangeError(`${what}: ${rows} rows of ${features} overflow the packed buffer (${b.packed.size} bytes)`);
        dispatch(pass, pipeline, group, Math.max(1, Math.min(MAX_WORKGROUPS, ceilDiv(Math.ceil((rows * features) / 2), WG))));
      },
    };
  };
  return {
    /** x (f32) → packed (bf16). */
    pack: (b: HiddenBindings) => op(pack, b, 'hidden_bf16 pack'),
    /** packed (bf16) → x (f32). */
    unpack: (b: HiddenBindings) => op(unpack, b, 'hidden_bf16 unpack'),
    destroy() {
      params.destroy();
    },
  };
}
