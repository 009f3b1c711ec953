import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createRdkvScores } from '../src/gpu/ops/rdkv-scores';
import { finishWindowScores, scoreWindow, windowSums } from '../src/rdkv/scoring';
import { packWeights, roundTo } from '../src/ref/pack';
import { randn } from '../src/ref/random';
import { poison, relError, requireGpu, runPass } from './gpu';

/** (Hkv, capacity, d) cache holding k (Hkv, T, d) in its first T slots, the rest random. */
function cacheOf(k: Float32Array, Hkv: number, T: number, cap: number, d: number, seed: number): Float32Array {
  const c = randn(seed, Hkv * cap * d, 5);
  for (let h = 0; h < Hkv; h++) c.set(k.subarray(h * T * d, (h + 1) * T * d), h * cap * d);
  return c;
}

describe('rdkv window scores kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  const cases: [number, number, number, number, number, boolean][] = [
    // Hq, Hkv, d, T, W, f16
    [4, 2, 32, 45, 8, false],
    [6, 2, 18, 130, 32, true],
    [3, 3, 16, 7, 7, false],
  ];
  it.each(cases)('Hq=%i Hkv=%i d=%i T=%i W=%i f16=%s matches windowSums', async (Hq, Hkv, d, T, W, f16) => {
    const cap = T + 5;
    const q = randn(T + d, W * Hq * d, 1.5);
    const kRaw = randn(Hq * 7 + T, Hkv * T * d, 1.5);
    const k = f16 ? roundTo(kRaw, 'f16') : kRaw;
    const want = windowSums({ q, k, W, Hq, Hkv, T, d });

    const op = await createRdkvScores(gpu, { nHeads: Hq, nKvHeads: Hkv, headDim: d, capacity: cap, cacheF16: f16 });
    const cache = cacheOf(k, Hkv, T, cap, d, 99);
    const wvRaw = uploadStorage(gpu, new Float32Array(Hkv * T));
    const chan = uploadStorage(gpu, new Float32Array(Hkv * d * 2));
    poison(gpu, wvRaw);
    poison(gpu, chan);
    const bound = op.bind({ wvRaw, chan, q: uploadStorage(gpu, q), k: uploadStorage(gpu, packWeights(cache, f16 ? 'f16' : 'f32')), T, W });
    await runPass(gpu, (pass) => bound.encode(pass));
    const attn = await readF32(gpu, wvRaw, Hkv * T);
    const ch = await readF32(gpu, chan, Hkv * d * 2);
    bound.destroy();
    const qSq = ch.filter((_, i) => i % 2 === 0);
    const kSq = ch.filter((_, i) => i % 2 === 1);
    expect(relError(attn, want.attn)).toBeLessThan(1e-5);
    expect(relError(qSq, want.qSq)).toBeLessThan(1e-5);
    expect(relError(kSq, want.kSq)).toBeLessThan(1e-5);
    // the finished scores (visibility, pooling, w_K) agree with the one-call CPU path
    const got = finishWindowScores({ attn, qSq, kSq }, { W, Hq, Hkv, T, d });
    const ref = scoreWindow({ q, k, W, Hq, Hkv, T, d });
    expect(relError(got.wV, ref.wV)).toBeLessThan(1e-5);
    expect(relError(got.wK, ref.wK)).toBeLessThan(1e-5);
  });
});
