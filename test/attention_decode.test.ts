import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createAttentionDecode, type DecodeShape } from '../src/gpu/ops/attention_decode';
import { createStep, writeStep } from '../src/gpu/step';
import { attentionRef } from '../src/ref/attention';
import { randn } from '../src/ref/random';
import { makeCache } from './attention_cache';
import { poison, relError, requireGpu, runPass } from './gpu';

describe('attention_decode kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  // [kvLen, nHeads, nKvHeads, headDim, window, cacheF16]
  const cases: [number, number, number, number, number, boolean][] = [
    [1, 4, 2, 8, 0, false],
    [37, 3, 1, 16, 0, false],
    [300, 4, 4, 64, 0, false],
    [300, 4, 2, 16, 50, false],
    [300, 3, 1, 8, 0, true],
    [37, 3, 1, 64, 10, true],
    [1, 4, 4, 64, 0, true],
    [300, 4, 2, 64, 100, true],
    [37, 4, 2, 10, 0, false],
    [37, 3, 1, 12, 20, true],
  ];
  it.each(cases)('kvLen=%i Hq=%i Hkv=%i d=%i window=%i f16=%s matches the CPU reference', async (kvLen, nHeads, nKvHeads, d, window, f16) => {
    const shape: DecodeShape = { nHeads, nKvHeads, headDim: d, capacity: kvLen + 4, cacheF16: f16, window, minKeysPerSplit: 64 };
    const run = await setup(shape, kvLen * 10 + d);
    expect(await run(kvLen)).toBeLessThan(f16 ? 2e-5 : 1e-5);
  });

  it('reuses one binding as kv_len and the split count change, with explicit tiles', async () => {
    const shape: DecodeShape = {
      nHeads: 6,
      nKvHeads: 2,
      headDim: 16,
      capacity: 301,
      cacheF16: false,
      minKeysPerSplit: 40,
      maxSplits: 6,
      tiles: { nk: 8, wg: 16 },
    };
    const run = await setup(shape, 7);
    for (const kvLen of [300, 37, 1, 123]) expect(await run(kvLen), `kvLen ${kvLen}`).toBeLessThan(1e-5);
  });

  /** Binds one op over a full random cache; the returned function runs it at kvLen and gives the relError. */
  async function setup(shape: DecodeShape, seed: number) {
    const { nHeads, nKvHeads, headDim: d, capacity, cacheF16 } = shape;
    const q = randn(seed, nHeads * d, 2);
    const k = makeCache(gpu, seed + 1, nKvHeads, capacity, d, capacity, cacheF16);
    const v = makeCache(gpu, seed + 2, nKvHeads, capacity, d, capacity, cacheF16);
    const op = await createAttentionDecode(gpu, shape);
    const out = uploadStorage(gpu, new Float32Array(nHeads * d));
    const step = createStep(gpu, { rows: 1, pos: 0, kvLen: 1 });
    const bound = op.bind({ out, q: uploadStorage(gpu, q), kCache: k.buffer, vCache: v.buffer, step });
    return async (kvLen: number) => {
      // Slots at or past kv_len hold NaN in the oracle's view, so reading them fails the comparison.
      const kv = k.values.slice();
      const vv = v.values.slice();
      for (let h = 0; h < nKvHeads; h++) {
        kv.fill(NaN, (h * capacity + kvLen) * d, (h + 1) * capacity * d);
        vv.fill(NaN, (h * capacity + kvLen) * d, (h + 1) * capacity * d);
      }
      const want = new Float32Array(nHeads * d);
      attentionRef(want, q, kv, vv, shape, 1, kvLen - 1);
      poison(gpu, out);
      writeStep(gpu, step, { rows: 1, pos: kvLen - 1, kvLen });
      await runPass(gpu, (pass) => bound.encode(pass, kvLen));
      return relError(await readF32(gpu, out, want.length), want);
    };
  }
});
