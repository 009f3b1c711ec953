/** Weight dtypes as stored on the GPU: f32 one per u32 word; f16/bf16 two per word (element 2i low). */
export type WeightDtype = 'f32' | 'f16' | 'bf16';

export const DTYPE_CODE: Record<WeightDtype, number> = { f32: 0, f16: 1, bf16: 2 };

export function bytesPerElement(dtype: WeightDtype): number {
  return dtype === 'f32' ? 4 : 2;
}
