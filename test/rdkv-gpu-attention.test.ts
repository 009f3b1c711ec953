import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createRdkvAttentionDecode } from '../src/gpu/ops/rdkv-attention-decode';
import { planArena } from '../src/gpu/ops/rdkv-pack';
import { createStep } from '../src/gpu/step';
import { packHead } from '../src/rdkv/cache';
import { planLayout, type LayoutInputs } from '../src/rdkv/layout';
import type { ZeroPoint } from '../src/rdkv/quantize';
import { packWeights, roundTo } from '../src/ref/pack';
import { randn, rng } from '../src/ref/random';
import { rdkvAttentionRef } from '../src/ref/rdkv-attention';
import { poison, relError, requireGpu, runPass } from './gpu';

function randomBits(seed: number, n: number, widths: number[]): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => widths[Math.floor(r() * widths.length)]);
}

type Mix = 'rdkv' | 'uniform' | 'plain' | 'evicted' | 'v8k2';

/** One head's layout inputs for a width mix. */
function mixInputs(mix: Mix, seed: number, T: number, d: number): LayoutInputs {
  switch (mix) {
    case 'rdkv':
      return { vBits: randomBits(seed, T, [0, 0, 2, 4, 8, 16]), kBits: randomBits(seed + 1, d, [0, 2, 4, 8, 16]) };
    case 'uniform':
      return { vBits: new Uint8Array(T).fill(4).fill(16, T - 8), kBits: new Uint8Array(d).fill(4), kFullInZoneB: true };
    case 'plain':
      return { vBits: randomBits(seed, T, [0, 16]), kBits: new Uint8Array(d).fill(16), kFullInZoneB: true };
    case 'evicted':
      return { vBits: new Uint8Array(T), kBits: new Uint8Array(d) };
    case 'v8k2':
      return { vBits: randomBits(seed, T, [0, 2, 8]), kBits: randomBits(seed + 1, d, [2, 8]) };
  }
}

describe('rdkv fused decode attention', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  const Hkv = 2;
  const T = 120;
  const cases: [Mix[], number, boolean, ZeroPoint, number | undefined, number, number, number][] = [
    // head mixes, zone C length, f16 zone C, zero points, K token group, splits, Hq, d
    [['rdkv', 'uniform'], 0, false, 'float', undefined, 3, 4, 32],
    [['plain', 'v8k2'], 1, true, 'integer', undefined, 2, 4, 32],
    [['rdkv', 'evicted'], 7, false, 'float', 16, 4, 4, 32],
    [['evicted', 'rdkv'], 0, true, 'float', undefined, 1, 4, 32],
    [['v8k2', 'rdkv'], 7, true, 'float', undefined, 5, 8, 64],
  ];
  it.each(cases)('heads %j nC=%i f16=%s %s zeros tokenGroup=%s splits=%i Hq=%i d=%i matches the reference', async (mixes, nC, f16, zeroPoint, tokenGroup, splits, Hq, d) => {
    const k = randn(T + nC, Hkv * T * d, 1.5).map((x, i) => x + ((i % d) % 4 === 0 ? 4 : 0)); // (Hkv, T, d)
    const v = randn(T * 3 + nC, Hkv * T * d);
    const layouts = mixes.map((m, h) => planLayout({ ...mixInputs(m, 10 * h + nC, T, d), zeroPoint, tokenGroup }));
    const arenas = layouts.map((l, h) => packHead(l, k.subarray(h * T * d, (h + 1) * T * d), v.subarray(h * T * d, (h + 1) * T * d)));
    const plan = planArena(layouts);
    const arena = new Uint32Array(plan.totalWords);
    arenas.forEach((a, h) => arena.set(a, plan.offsets[h]));
    const capC = nC + 3;
    const dtype = f16 ? 'f16' : 'f32';
    const zk = randn(5 + nC, Hkv * capC * d, 1.5);
    const zv = randn(6 + nC, Hkv * capC * d);
    const q = randn(7 + nC, Hq * d, 1.2);

    const want = new Float32Array(Hq * d);
    rdkvAttentionRef(want, q, { nHeads: Hq, nKvHeads: Hkv, headDim: d, layouts, arenas, zoneC: { k: roundTo(zk, dtype), v: roundTo(zv, dtype), capacity: capC }, nC });

    const op = await createRdkvAttentionDecode(gpu, { nHeads: Hq, nKvHeads: Hkv, headDim: d, zoneCF16: f16 });
    const out = uploadStorage(gpu, new Float32Array(Hq * d));
    poison(gpu, out);
    const bound = op.bind({
      out,
      q: uploadStorage(gpu, q),
      arena: uploadStorage(gpu, arena),
      layouts,
      plan,
      zoneC: { k: uploadStorage(gpu, packWeights(zk, dtype)), v: uploadStorage(gpu, packWeights(zv, dtype)), capacity: capC },
      step: createStep(gpu, { rows: 1, pos: T + nC - 1, kvLen: T + nC }),
      T,
      splits,
    });
    await runPass(gpu, (pass) => bound.encode(pass, nC));
    const got = await readF32(gpu, out, Hq * d);
    bound.destroy();
    console.log(`rdkv decode ${mixes.join('+')} nC=${nC}: relative error ${relError(got, want).toExponential(2)}`);
    expect(relError(got, want)).toBeLessThan(1e-5);
    if (nC === 0 && mixes.includes('evicted')) {
      const h = mixes.indexOf('evicted');
      expect(Array.from(got.subarray(h * (Hq / Hkv) * d, (h + 1) * (Hq / Hkv) * d)).every((x) => x === 0)).toBe(true);
    }
  });
});
