import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createAttentionDecode, decodeSplits, decodeTiles, singlePlan, type DecodePath, type DecodeShape } from '../src/gpu/ops/attention-decode';
import { workgroupBudget } from '../src/gpu/ops/attention-prefill';
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
    [301, 8, 1, 24, 0, true], // G = 8, 3 units a row
    [129, 8, 2, 128, 0, true], // G = 4, d 128
    [77, 2, 1, 128, 40, false], // d 128 f32: 32 units a row
    [700, 4, 4, 64, 0, true], // several keys per thread in the single kernel at any workgroup size
  ];
  // Both paths (the single kernel: singleMaxKeys above the span, lowered to it; two-pass: 0) and both reductions
  // (the subgroup helper where the adapter has subgroups, as SwiftShader does, and the tree).
  const paths: DecodePath[] = ['single', 'two-pass'];
  const withPaths = cases.flatMap((c) => paths.flatMap((path) => [true, false].map((sg) => [...c, path, sg] as const)));
  it.each(withPaths)('kvLen=%i Hq=%i Hkv=%i d=%i window=%i f16=%s %s subgroups=%s matches the CPU reference', async (kvLen, nHeads, nKvHeads, d, window, f16, path, sg) => {
    const singleMaxKeys = path === 'single' ? 1e9 : 0;
    const shape: DecodeShape = { nHeads, nKvHeads, headDim: d, capacity: kvLen + 4, cacheF16: f16, window, minKeysPerSplit: 64, subgroups: sg && gpu.hasSubgroups, singleMaxKeys };
    const { op, run } = await setup(shape, kvLen * 10 + d);
    expect(op.path(kvLen)).toBe(path);
    expect(await run(kvLen)).toBeLessThan(f16 ? 2e-5 : 1e-5);
  });

  // The threshold: spans up to singleMaxKeys take the single kernel, one more key the two-pass path; with a
  // window the span stops growing at the window. One binding serves both paths as kv_len changes.
  // [nHeads, nKvHeads, headDim, f16, window, singleMaxKeys, kvLens]
  const threshold: [number, number, number, boolean, number, number, number[]][] = [
    [4, 1, 64, true, 0, 40, [40, 41, 1, 39, 97]],
    [6, 3, 10, false, 0, 33, [33, 34, 17]],
    [4, 2, 16, false, 30, 30, [30, 31, 100, 5]],
    [4, 2, 16, true, 30, 29, [29, 30, 100]],
  ];
  it.each(threshold)('Hq=%i Hkv=%i d=%i f16=%s window=%i singleMaxKeys=%i: path and result at kvLen %j', async (nHeads, nKvHeads, d, f16, window, singleMaxKeys, kvLens) => {
    for (const sg of gpu.hasSubgroups ? [true, false] : [false]) {
      const shape: DecodeShape = { nHeads, nKvHeads, headDim: d, capacity: 100, cacheF16: f16, window, singleMaxKeys, subgroups: sg };
      const { op, run } = await setup(shape, d + singleMaxKeys);
      expect(op.singleMaxKeys).toBe(singleMaxKeys);
      for (const kvLen of kvLens) {
        expect(op.path(kvLen), `kvLen ${kvLen}`).toBe(Math.min(kvLen, window || kvLen) <= singleMaxKeys ? 'single' : 'two-pass');
        expect(await run(kvLen), `kvLen ${kvLen} subgroups ${sg}`).toBeLessThan(f16 ? 2e-5 : 1e-5);
      }
    }
  });

  // Explicit single-kernel workgroup sizes: 256 threads (over SwiftShader's planning budget, within its limits),
  // and small ones where each thread scores many keys (16 per thread at most) and a value slice is one thread.
  // [nHeads, nKvHeads, headDim, f16, singleWg, kvLens]
  const singleWgs: [number, number, number, boolean, number, number[]][] = [
    [8, 2, 64, true, 256, [1000, 257, 256, 3]],
    [4, 1, 16, false, 16, [256, 255, 17, 1]],
    [2, 1, 64, true, 8, [128, 65, 9]],
    [3, 1, 20, false, 8, [128, 100]],
  ];
  it.each(singleWgs)('Hq=%i Hkv=%i d=%i f16=%s single kernel with %i threads at kvLen %j', async (nHeads, nKvHeads, d, f16, singleWg, kvLens) => {
    for (const sg of gpu.hasSubgroups ? [true, false] : [false]) {
      const capacity = Math.max(...kvLens);
      const shape: DecodeShape = { nHeads, nKvHeads, headDim: d, capacity, cacheF16: f16, singleMaxKeys: 1e9, singleWg, subgroups: sg };
      const { op, run } = await setup(shape, d + singleWg);
      expect([op.singleWg, op.singleMaxKeys]).toEqual([singleWg, capacity]);
      for (const kvLen of kvLens) {
        expect(op.path(kvLen)).toBe('single');
        expect(await run(kvLen), `kvLen ${kvLen} subgroups ${sg}`).toBeLessThan(f16 ? 2e-5 : 1e-5);
      }
    }
  });

  it('plans the single kernel within workgroup memory and invocation limits, never failing', () => {
    const limits = (bytes: number, threads = 256) => ({ maxComputeWorkgroupStorageSize: bytes, maxComputeInvocationsPerWorkgroup: threads });
    expect(singlePlan(64, true, 2048, limits(49152, 1024))).toEqual({ wg: 256, maxKeys: 2048 });
    expect(singlePlan(64, true, 1e9, limits(16384))).toEqual({ wg: 256, maxKeys: 4031 }); // (16384 - q 256 - 4) / 4 scores
    expect(singlePlan(64, true, 2048, limits(4096))).toEqual({ wg: 64, maxKeys: 959 }); // 256 threads' partials do not fit
    expect(singlePlan(64, true, 2048, limits(16384, 128))).toEqual({ wg: 128, maxKeys: 2048 });
    expect(singlePlan(64, true, 2048, limits(2048, 64))).toEqual({ wg: 32, maxKeys: 447 });
    expect(singlePlan(256, false, 2048, limits(1024))).toEqual({ wg: 0, maxKeys: 0 }); // nothing fits: two-pass only
    expect(singlePlan(64, true, 0, limits(49152))).toEqual({ wg: 0, maxKeys: 0 });
    expect(singlePlan(64, true, 5000, limits(49152), 64)).toEqual({ wg: 64, maxKeys: 1024 }); // 16 keys per thread
    expect(() => singlePlan(64, true, 2048, limits(49152), 48)).toThrow(/power of two/);
    expect(() => singlePlan(64, true, 2048, limits(49152), 4)).toThrow(/units of a row/);
  });

  it('picks the single kernel up to op.singleMaxKeys, two-pass above it and always when disabled', async () => {
    const shape: DecodeShape = { nHeads: 32, nKvHeads: 8, headDim: 64, capacity: 5000, cacheF16: true };
    const byDefault = await createAttentionDecode(gpu, shape);
    const { maxKeys } = singlePlan(64, true, 2048, workgroupBudget(gpu));
    expect(maxKeys).toBeGreaterThan(0);
    expect(byDefault.singleMaxKeys).toBe(maxKeys);
    expect([1, maxKeys, maxKeys + 1, 5000].map(byDefault.path)).toEqual(['single', 'single', 'two-pass', 'two-pass']);
    const off = await createAttentionDecode(gpu, { ...shape, singleMaxKeys: 0 });
    expect([off.singleMaxKeys, off.path(1), off.path(5000)]).toEqual([0, 'two-pass', 'two-pass']);
    const short = await createAttentionDecode(gpu, { ...shape, capacity: 100, window: 50 });
    expect([short.singleMaxKeys, short.path(100)]).toEqual([50, 'single']); // lowered to the attended span
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
      const shape: DecodeShape = { nHeads, nKvHeads, headDim: d, capacity: 203, cacheF16: f16, minKeysPerSplit: 50, maxSplits: 3, tiles, subgroups: sg, singleMaxKeys: 0 };
      const { run } = await setup(shape, d + nHeads);
      for (const kvLen of [203, 1, 70]) expect(await run(kvLen), `kvLen ${kvLen} subgroups ${sg}`).toBeLessThan(f16 ? 2e-5 : 1e-5);
    }
  });

  // Many splits: a combine thread (wgsl/decode_combine.wgsl, 256 threads a head) takes 4 splits per step over
  // 256 / min(256, d) split phases, so with d 64 it loops once per 16 splits (d 128: per 8, d 256: per 4).
  // These counts leave a partial last step (17, 33, 35, 38, 65, 10), and 40 splits over 100 keys leave splits 34..39 empty (l = 0)
  // in the last step. Every later step must start from zero weights, whatever the earlier ones held.
  // [kvLen, nHeads, nKvHeads, headDim, f16, window, minKeysPerSplit, maxSplits, expected splits]
  const manySplits: [number, number, number, number, boolean, number, number, number, number][] = [
    [513, 4, 2, 64, true, 0, 32, 256, 17],
    [513, 4, 2, 64, false, 0, 32, 256, 17],
    [1100, 4, 2, 64, true, 0, 32, 256, 35],
    [1100, 4, 1, 64, false, 0, 32, 256, 35],
    [513, 8, 2, 64, true, 0, 8, 256, 65],
    [1100, 4, 2, 64, true, 600, 16, 256, 38],
    [100, 4, 2, 64, true, 0, 2, 40, 40],
    [513, 4, 2, 128, true, 0, 16, 256, 33],
    [1100, 2, 1, 128, false, 0, 32, 256, 35],
    [513, 2, 1, 128, false, 0, 32, 256, 17],
    [300, 2, 1, 256, false, 0, 32, 256, 10], // d 256: one split phase, a step per 4 splits
  ];
  it.each(manySplits)('kvLen=%i Hq=%i Hkv=%i d=%i f16=%s window=%i: two-pass with minKeysPerSplit %i, maxSplits %i (%i splits), both reductions', async (kvLen, nHeads, nKvHeads, d, f16, window, minKeysPerSplit, maxSplits, want) => {
    for (const sg of gpu.hasSubgroups ? [true, false] : [false]) {
      const shape: DecodeShape = { nHeads, nKvHeads, headDim: d, capacity: kvLen + 3, cacheF16: f16, window, minKeysPerSplit, maxSplits, subgroups: sg, singleMaxKeys: 0 };
      const { op, run } = await setup(shape, kvLen + d + minKeysPerSplit);
      expect([op.path(kvLen), op.splits(kvLen)]).toEqual(['two-pass', want]);
      expect.soft(await run(kvLen), `subgroups ${sg}`).toBeLessThan(f16 ? 2e-5 : 1e-5);
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
      singleMaxKeys: 0,
    };
    const { run } = await setup(shape, 7);
    for (const kvLen of [300, 37, 1, 123]) expect(await run(kvLen), `kvLen ${kvLen}`).toBeLessThan(1e-5);
  });

  /** Binds one op over a full random cache; `run` runs it at kvLen and gives the relError. */
  async function setup(shape: DecodeShape, seed: number) {
    const { nHeads, nKvHeads, headDim: d, capacity, cacheF16 } = shape;
    const q = randn(seed, nHeads * d, 2);
    const k = makeCache(gpu, seed + 1, nKvHeads, capacity, d, capacity, cacheF16);
    const v = makeCache(gpu, seed + 2, nKvHeads, capacity, d, capacity, cacheF16);
    const op = await createAttentionDecode(gpu, shape);
    const out = uploadStorage(gpu, new Float32Array(nHeads * d));
    const step = createStep(gpu, { rows: 1, pos: 0, kvLen: 1 });
    const bound = op.bind({ out, q: uploadStorage(gpu, q), kCache: k.buffer, vCache: v.buffer, step });
    const run = async (kvLen: number) => {
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
    return { op, run };
  }
});
