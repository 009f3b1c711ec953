import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createAttentionDecode, decodeSplits, decodeTiles, type DecodeShape } from '../src/gpu/ops/attention-decode';
import { createStep, writeStep } from '../src/gpu/step';
import { attentionRef } from '../src/ref/attention';
import { randn } from '../src/ref/random';
import { makeCache } from './attention-cache';
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
  // both reductions: the subgroup helper (where the adapter has subgroups; SwiftShader does) and the tree
  const withPaths = cases.flatMap((c) => [true, false].map((sg) => [...c, sg] as const));
  it.each(withPaths)('kvLen=%i Hq=%i Hkv=%i d=%i window=%i f16=%s subgroups=%s matches the CPU reference', async (kvLen, nHeads, nKvHeads, d, window, f16, sg) => {
    const shape: DecodeShape = { nHeads, nKvHeads, headDim: d, capacity: kvLen + 4, cacheF16: f16, window, minKeysPerSplit: 64, subgroups: sg && gpu.hasSubgroups };
    const run = await setup(shape, kvLen * 10 + d);
    expect(await run(kvLen)).toBeLessThan(f16 ? 2e-5 : 1e-5);
  });

  // [nHeads, nKvHeads, headDim, f16, tiles]: several chunks per split (nk small), wide heads (d 256 f32: 64
  // units a row), G = 8 and 16, odd unit counts (d 24 f16: 3 units; d 20 f32), a 32-thread workgroup.
  const tiled: [number, number, number, boolean, { nk: number; wg: number }][] = [
    [8, 1, 64, true, { nk: 16, wg: 64 }],
    [16, 1, 32, true, { nk: 32, wg: 32 }],
    [4, 2, 256, false, { nk: 8, wg: 64 }],
    [6, 2, 24, true, { nk: 24, wg: 16 }],
    [4, 1, 20, false, { nk: 40, wg: 128 }],
  ];
  it.each(tiled)('Hq=%i Hkv=%i d=%i f16=%s tiles %j over several chunks, both reductions', async (nHeads, nKvHeads, d, f16, tiles) => {
    for (const sg of gpu.hasSubgroups ? [true, false] : [false]) {
      const shape: DecodeShape = { nHeads, nKvHeads, headDim: d, capacity: 203, cacheF16: f16, minKeysPerSplit: 50, maxSplits: 3, tiles, subgroups: sg };
      const run = await setup(shape, d + nHeads);
      for (const kvLen of [203, 1, 70]) expect(await run(kvLen), `kvLen ${kvLen} subgroups ${sg}`).toBeLessThan(f16 ? 2e-5 : 1e-5);
    }
  });

  it('splits: ~64 keys each up to ~1024 workgroups, one chunk each at long context', () => {
    const shape: DecodeShape = { nHeads: 32, nKvHeads: 8, headDim: 64, capacity: 131072, cacheF16: true };
    expect(decodeSplits(shape, 1024, 1024)).toBe(16);
    expect(decodeSplits(shape, 8192, 1024)).toBe(128);
    expect(decodeSplits(shape, 131072, 1024)).toBe(128);
    expect(decodeSplits(shape, 131072, 256, 512)).toBe(512);
    expect(decodeTiles(64, 4, { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 })).toEqual({ nk: 256, wg: 64 });
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
