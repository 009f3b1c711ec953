/** Packing f32 values into the GPU weight layout (see src/gpu/dtype.ts) and back, for tests and random weights. */
import type { WeightDtype } from '../gpu/dtype';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return 0x7fc0; // NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff; // round to nearest even
}

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

export function f32ToF16Bits(val: number): number {
  f32[0] = val;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Packs values for upload: f32 as is, 16-bit types two per u32 (element 2i in the low half). */
export function packWeights(values: Float32Array, dtype: WeightDtype): Uint32Array {
  if (dtype === 'f32') return new Uint32Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const conv = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  const out = new Uint32Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1] |= conv(values[i]) << ((i & 1) * 16);
  return out;
}

/** The values the GPU will see after widening (rounded to the dtype). */
export function roundTo(values: Float32Array, dtype: WeightDtype): Float32Array {
  if (dtype === 'f32') return values.slice();
  const to = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  const from = dtype === 'f16' ? f16BitsToF32 : bf16BitsToF32;
  return values.map((v) => from(to(v)));
}
