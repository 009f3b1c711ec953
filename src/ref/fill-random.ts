/** CPU reference for wgsl/fill_random.wgsl: the same hash, so words match bit for bit (bf16 and f32). */
import type { WeightDtype } from '../gpu/dtype';
import { f32ToF16Bits } from './pack';

function hash(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);

function value(i: number, seed: number, scale: number): number {
  const r = Math.fround((hash(i ^ hash(seed)) >>> 8) / 16777216);
  return Math.fround(Math.fround(Math.fround(2 * r) - 1) * Math.fround(scale));
}

function bits(x: number): number {
  f[0] = x;
  return u[0];
}

export function fillRandomRef(words: number, seed: number, scale: number, dtype: WeightDtype): Uint32Array {
  const out = new Uint32Array(words);
  for (let w = 0; w < words; w++) {
    if (dtype === 'f32') out[w] = bits(value(w, seed, scale));
    else if (dtype === 'f16') out[w] = (f32ToF16Bits(value(2 * w, seed, scale)) | (f32ToF16Bits(value(2 * w + 1, seed, scale)) << 16)) >>> 0;
    else out[w] = ((bits(value(2 * w, seed, scale)) >>> 16) | (bits(value(2 * w + 1, seed, scale)) & 0xffff0000)) >>> 0;
  }
  return out;
}
