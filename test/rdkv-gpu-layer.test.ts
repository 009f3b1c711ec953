import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, readU32, uploadStorage } from '../src/gpu/kernel';
import { createStep } from '../src/gpu/step';
import { compressLayer, finalizePlans, type CompressPolicy, type CompressedLayer } from '../src/kv/rdkv-layer';
import { budgetBytes } from '../src/rdkv/budget';
import { packHead } from '../src/rdkv/cache';
import { planCompression } from '../src/rdkv/policies';
import { scoreWindow } from '../src/rdkv/scoring';
import { packWeights, roundTo } from '../src/ref/pack';
import { randn } from '../src/ref/random';
import { rdkvAttentionRef } from '../src/ref/rdkv-attention';
import { poison, relError, requireGpu, runPass } from './gpu';
import { compareHead, keys } from './rdkv-gpu-helpers';

const Hq = 4;
const Hkv = 2;
const d = 32;
const T = 150;
const cap = 160;
const W = 32;
const B = 24;

describe('rdkv compressed layer, end to end', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  /** Random layer: cache (Hkv, cap, d) with the prompt in the first T slots, window queries (W, Hq·d). */
  function layerData(seed: number, f16: boolean) {
    const dtype = f16 ? 'f16' : 'f32';
    const kAll = roundTo(keys(seed, Hkv * cap, d), dtype);
    const vAll = roundTo(randn(seed + 1, Hkv * cap * d, 1.3), dtype);
    const q = randn(seed + 2, W * Hq * d, 1.5);
    const prompt = (x: Float32Array, h: number) => x.subarray(h * cap * d, (h * cap + T) * d);
    const k = new Float32Array(Hkv * T * d);
    for (let h = 0; h < Hkv; h++) k.set(prompt(kAll, h), h * T * d);
    return { dtype, kAll, vAll, q, prompt, k } as const;
  }

  /** Decode through the layer vs the CPU reference on packHead arenas of the same layouts. */
  async function checkDecode(layer: CompressedLayer, data: ReturnType<typeof layerData>, nC: number, seed: number) {
    const { dtype } = data;
    const capC = layer.zoneC.capacity;
    const zk = roundTo(randn(seed, Hkv * capC * d, 1.5), dtype);
    const zv = roundTo(randn(seed + 1, Hkv * capC * d), dtype);
    gpu.device.queue.writeBuffer(layer.zoneC.k, 0, new Uint32Array(packWeights(zk, dtype)));
    gpu.device.queue.writeBuffer(layer.zoneC.v, 0, new Uint32Array(packWeights(zv, dtype)));
    const q = randn(seed + 2, Hq * d, 1.2);
    const arenas = layer.layouts.map((l, h) => packHead(l, data.prompt(data.kAll, h), data.prompt(data.vAll, h)));
    const want = new Float32Array(Hq * d);
    rdkvAttentionRef(want, q, { nHeads: Hq, nKvHeads: Hkv, headDim: d, layouts: layer.layouts, arenas, zoneC: { k: zk, v: zv, capacity: capC }, nC });
    const out = uploadStorage(gpu, new Float32Array(Hq * d));
    poison(gpu, out);
    const dec = layer.bindDecode({ out, q: uploadStorage(gpu, q), step: createStep(gpu, { rows: 1, pos: T + nC - 1, kvLen: T + nC }) });
    await runPass(gpu, (pass) => dec.encode(pass, nC));
    const got = await readF32(gpu, out, Hq * d);
    expect(relError(got, want)).toBeLessThan(1e-5);
    return { got, arenas };
  }

  const cases: [CompressPolicy, boolean][] = [
    ['rdkv', false],
    ['rdkv', true],
    ['uniform', false],
    ['snapkv', false],
    ['streaming', true],
  ];
  it.each(cases)('%s (f16 cache %s): plans, arena and fused decode match the CPU reference', async (policy, f16) => {
    const data = layerData(f16 ? 7 : 3, f16);
    const layer = await compressLayer(gpu, {
      k: uploadStorage(gpu, packWeights(data.kAll, data.dtype)),
      v: uploadStorage(gpu, packWeights(data.vAll, data.dtype)),
      capacity: cap,
      T,
      qWindow: uploadStorage(gpu, data.q),
      shape: { nHeads: Hq, nKvHeads: Hkv, headDim: d, cacheF16: f16 },
      policy,
      budget: { tokens: B },
      options: { splits: 2, zoneCTokens: 8 },
    });
    // plans: the CPU pipeline on CPU scores agrees (up to ties broken by f32 rounding)
    const cpuScores = scoreWindow({ q: data.q, k: data.k, W, Hq, Hkv, T, d });
    const cpu = finalizePlans(planCompression(policy, { T, d, Hkv, wV: cpuScores.wV, wK: cpuScores.wK }, { tokens: B }), cpuScores, {});
    let same = 0;
    for (let h = 0; h < Hkv; h++) for (let t = 0; t < T; t++) same += layer.plans[h].vBits[t] === cpu[h].vBits[t] ? 1 : 0;
    expect(same / (Hkv * T)).toBeGreaterThan(0.97);
    for (const p of layer.plans) {
      expect(p.compressed).toBe(true);
      expect(p.layout.zeroPoint).toBe('float');
      expect(p.layout.kept).toBeGreaterThan(0);
      if (policy === 'snapkv' || policy === 'streaming') {
        expect(p.layout.kept).toBe(B);
        expect(p.bytes.total).toBe(budgetBytes(B, d));
      }
      if (policy === 'streaming') expect(Array.from(p.layout.keptPositions.slice(0, 4))).toEqual([0, 1, 2, 3]);
    }
    expect(layer.report.heads.length).toBe(Hkv);
    const { bytes } = layer;
    expect(bytes.compressed).toBe(layer.arenaPlan.totalWords * 4);
    // (uniform keeps its 32 recent tokens at f16, over this small budget: reported, not hidden)
    expect(bytes.retention).toBeLessThan(policy === 'uniform' ? 0.5 : 0.3);
    if (policy === 'uniform') expect(layer.plans.every((p) => p.uniformBits === 2 && !p.withinBudget)).toBe(true);
    // the GPU arena is packHead's
    const arenaWords = await readU32(gpu, layer.arena, layer.arenaPlan.totalWords);
    const { arenas } = await checkDecode(layer, data, 3, 40);
    for (let h = 0; h < Hkv; h++) {
      const off = layer.arenaPlan.offsets[h];
      const r = compareHead(layer.layouts[h], arenaWords.subarray(off, off + layer.layouts[h].totalWords), arenas[h]);
      expect(r.bad.slice(0, 5)).toEqual([]);
      expect(r.mismatches).toBeLessThanOrEqual(Math.ceil(r.codes * 1e-3));
    }
    layer.destroy();
  });

  it('zone C grows on demand and keeps its tokens', async () => {
    const data = layerData(11, false);
    const layer = await compressLayer(gpu, {
      k: uploadStorage(gpu, packWeights(data.kAll, 'f32')),
      v: uploadStorage(gpu, packWeights(data.vAll, 'f32')),
      capacity: cap,
      T,
      qWindow: uploadStorage(gpu, data.q),
      shape: { nHeads: Hq, nKvHeads: Hkv, headDim: d, cacheF16: false },
      policy: 'rdkv',
      budget: { tokens: B },
      options: { zoneCTokens: 4, zeroPoint: 'integer' },
    });
    expect(layer.layouts[0].zeroPoint).toBe('integer');
    const before = await checkDecode(layer, data, 4, 50);
    expect(layer.ensureZoneC(4, 4)).toBe(false);
    expect(layer.ensureZoneC(300, 4)).toBe(true);
    expect(layer.zoneC.capacity).toBe(512);
    // the first 4 tokens survived: decode over them again (bindDecode after growth) gives the same output
    const out = uploadStorage(gpu, new Float32Array(Hq * d));
    poison(gpu, out);
    const q = randn(52, Hq * d, 1.2);
    const dec = layer.bindDecode({ out, q: uploadStorage(gpu, q), step: createStep(gpu, { rows: 1, pos: T + 3, kvLen: T + 4 }) });
    await runPass(gpu, (pass) => dec.encode(pass, 4));
    expect(relError(await readF32(gpu, out, Hq * d), before.got)).toBeLessThan(1e-6);
    layer.destroy();
  });
});
