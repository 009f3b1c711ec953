import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { createStorage, readU32, uploadStorage } from '../src/gpu/kernel';
import { createRdkvPack, planArena } from '../src/gpu/ops/rdkv-pack';
import { packHead } from '../src/rdkv/cache';
import { planLayout, type LayoutInputs } from '../src/rdkv/layout';
import type { ZeroPoint } from '../src/rdkv/quantize';
import { packWeights, roundTo } from '../src/ref/pack';
import { randn } from '../src/ref/random';
import { poison, requireGpu, runPass } from './gpu';
import { compareHead, keys, randomBits } from './rdkv-gpu-helpers';

describe('rdkv pack kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  const cases: [number, number, number, boolean, ZeroPoint, number | undefined][] = [
    // Hkv, d, T, f16 cache, zero points, K token group
    [4, 32, 150, false, 'float', undefined],
    [3, 24, 97, true, 'integer', 16],
  ];
  it.each(cases)('Hkv=%i d=%i T=%i f16=%s %s zeros tokenGroup=%s: arenas match packHead', async (Hkv, d, T, f16, zeroPoint, tokenGroup) => {
    const cap = T + 3;
    const dtype = f16 ? 'f16' : 'f32';
    const kAll = roundTo(keys(T + d, Hkv * cap, d), dtype); // (Hkv, cap, d)
    const vAll = roundTo(randn(T * 3 + d, Hkv * cap * d, 2), dtype);
    const layouts = Array.from({ length: Hkv }, (_, h) => {
      const inp: LayoutInputs = {
        vBits: randomBits(h * 11 + 1, T, [0, 2, 4, 8, 16]),
        kBits: randomBits(h * 11 + 2, d, [0, 2, 4, 8, 16]),
        zeroPoint,
        tokenGroup,
        storePositions: h === 0,
      };
      if (h === 1) inp.kFullInZoneB = true; // baseline-style: zone B K at f16
      if (h === 2) {
        inp.vBits = randomBits(7, T, [0, 16]); // plain: SnapKV-style
        inp.kBits = new Uint8Array(d).fill(16);
        inp.kFullInZoneB = true;
      }
      return planLayout(inp);
    });
    expect(layouts[2].plain).toBe(true);
    const plan = planArena(layouts);
    const op = await createRdkvPack(gpu, { nKvHeads: Hkv, headDim: d, capacity: cap, cacheF16: f16 });
    const arena = createStorage(gpu, plan.totalWords * 4);
    poison(gpu, arena);
    const bound = op.bind({ arena, k: uploadStorage(gpu, packWeights(kAll, dtype)), v: uploadStorage(gpu, packWeights(vAll, dtype)), layouts, plan });
    await runPass(gpu, (pass) => bound.encode(pass));
    const got = await readU32(gpu, arena, plan.totalWords);
    bound.destroy();
    let codes = 0;
    let mismatches = 0;
    for (let h = 0; h < Hkv; h++) {
      const k = kAll.subarray(h * cap * d, (h * cap + T) * d);
      const v = vAll.subarray(h * cap * d, (h * cap + T) * d);
      const want = packHead(layouts[h], k, v);
      const r = compareHead(layouts[h], got.subarray(plan.offsets[h], plan.offsets[h] + layouts[h].totalWords), want);
      expect(r.bad.slice(0, 5)).toEqual([]);
      codes += r.codes;
      mismatches += r.mismatches;
    }
    expect(codes).toBeGreaterThan(1000);
    console.log(`rdkv pack: ${mismatches} of ${codes} codes differ by one from packHead`);
    expect(mismatches / codes).toBeLessThan(1e-3);
  });
});
