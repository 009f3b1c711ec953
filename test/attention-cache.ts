/** Test helper for the attention kernels: a random KV cache as values (the oracle's view) and as a GPU buffer. */
import type { Gpu } from '../src/gpu/device';
import { uploadStorage } from '../src/gpu/kernel';
import { packWeights, roundTo } from '../src/ref/pack';
import { randn } from '../src/ref/random';

/**
 * A [nKvHeads, capacity, d] cache with random values in slots 0 .. filled − 1 and NaN after them (they must
 * never be read): `values` as the GPU sees them (rounded to f16 for an f16 cache), `buffer` packed and padded
 * to whole 16-byte words.
 */
export function makeCache(gpu: Gpu, seed: number, nKvHeads: number, capacity: number, d: number, filled: number, f16: boolean) {
  const raw = randn(seed, nKvHeads * capacity * d);
  for (let h = 0; h < nKvHeads; h++) raw.fill(NaN, (h * capacity + filled) * d, (h + 1) * capacity * d);
  const dtype = f16 ? 'f16' : 'f32';
  const words = packWeights(raw, dtype);
  const padded = new Uint32Array(Math.ceil(words.length / 4) * 4).fill(0x7fc00000);
  padded.set(words);
  return { values: roundTo(raw, dtype), buffer: uploadStorage(gpu, padded) };
}
