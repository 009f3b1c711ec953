import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createRdkvAttentionDecode, defaultSplits, rdkvDecodeKernel, type RdkvDecodeKernel } from '../src/gpu/ops/rdkv-attention-decode';
import { planArena } from '../src/gpu/ops/rdkv-pack';
import { createStep } from '../src/gpu/step';
import { packHead } from '../src/rdkv/cache';
import { planLayout, type HeadLayout, type LayoutInputs } from '../src/rdkv/layout';
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
  /** Kernel options: which kernel, subgroup reduction or tree, tokens per chunk, workgroup size, rows in flight. */
  interface Opts {
    kernel?: RdkvDecodeKernel;
    sg?: boolean;
    tile?: number;
    wg?: number;
    vb?: number;
    dpt?: number;
  }
  const base: [Mix[], number, boolean, ZeroPoint, number | undefined, number | undefined, number, number, Opts][] = [
    // head mixes, zone C length, f16 zone C, zero points, K token group, splits (undefined: default), Hq, d, options
    [['rdkv', 'uniform'], 0, false, 'float', undefined, 3, 4, 32, {}],
    [['plain', 'v8k2'], 1, true, 'integer', undefined, 2, 4, 32, {}],
    [['rdkv', 'evicted'], 7, false, 'float', 16, 4, 4, 32, {}],
    [['evicted', 'rdkv'], 0, true, 'float', undefined, 1, 4, 32, {}],
    [['v8k2', 'rdkv'], 7, true, 'float', undefined, 5, 8, 64, {}],
  ];
  // Many splits: a combine thread (wgsl/decode_combine.wgsl, 256 threads a head) takes 4 splits per step over
  // 256 / min(256, d) split phases, so it loops once per 32 splits at d 32, 16 at d 64, 8 at d 128. These
  // counts leave a partial last step, and over T = 120 tokens many splits hold no token (l = 0; the evicted
  // head has only its nC zone C tokens), so later steps meet empty splits too.
  const many: typeof base = [
    [['rdkv', 'uniform'], 7, true, 'float', undefined, 17, 4, 64, {}],
    [['v8k2', 'plain'], 0, false, 'integer', undefined, 35, 4, 64, {}],
    [['rdkv', 'evicted'], 5, true, 'float', undefined, 35, 8, 64, {}],
    [['v8k2', 'rdkv'], 2, false, 'integer', undefined, 40, 4, 32, {}],
    [['plain', 'rdkv'], 3, false, 'float', undefined, 21, 2, 128, {}],
  ];
  // every base and many-split case on both reductions, then: several chunks per split (small tiles, zone C
  // longer than the span), default splits, head dims that are not a multiple of 8 (a partial last 8-dim
  // slice), a 16-thread workgroup (few token phases), G = 8 and G = 1
  const general = [
    ...[...base, ...many].flatMap((c) => [true, false].map((sg) => [...c.slice(0, 8), { ...c[8], sg }] as typeof c)),
    ...(
      [
        [['rdkv', 'uniform'], 50, false, 'float', undefined, 1, 4, 32, { tile: 16 }],
        [['v8k2', 'plain'], 33, true, 'integer', undefined, 2, 4, 64, { tile: 8, wg: 32, sg: false }],
        [['rdkv', 'rdkv'], 5, true, 'float', 32, undefined, 4, 32, { tile: 24 }],
        [['uniform', 'rdkv'], 9, false, 'integer', undefined, 3, 2, 20, { wg: 16 }],
        [['rdkv', 'v8k2'], 3, true, 'float', undefined, undefined, 16, 46, { tile: 32, sg: false }],
        [['rdkv', 'plain'], 11, false, 'float', undefined, 2, 2, 64, { tile: 40, wg: 128 }],
        // value rows in flight other than the default 4 (a partial last round, zone C f32 and f16)
        [['rdkv', 'uniform'], 9, false, 'float', undefined, 2, 4, 64, { vb: 1 }],
        [['v8k2', 'rdkv'], 13, true, 'integer', undefined, 3, 4, 64, { vb: 3, tile: 32 }],
        [['rdkv', 'evicted'], 6, false, 'float', undefined, 1, 8, 32, { vb: 8, sg: false }],
        [['plain', 'rdkv'], 4, true, 'float', undefined, 2, 4, 64, { vb: 16 }],
      ] as typeof base
    ),
  ].map((c) => [...c.slice(0, 8), { ...c[8], kernel: 'general' }] as typeof c);
  // The vec4 kernel (G <= 4, one K token group) on every base and many-split case with G <= 4, then its own
  // options: dims per thread 4 / 16 (a partial last slice at d 46 and 20), tokens in flight 1 / 2 / 3 / 8 (a
  // partial last round), 8 threads (fewer than the 16 bias and 8 max partials), 128 threads, small chunks (several per split), G = 1 and 3.
  const vec4 = [
    ...[...base, ...many].filter((c) => c[6] / 2 <= 4 && c[4] === undefined),
    ...(
      [
        [['rdkv', 'uniform'], 50, false, 'float', undefined, 1, 4, 32, { tile: 16 }],
        [['v8k2', 'plain'], 33, true, 'integer', undefined, 2, 4, 64, { tile: 8, wg: 32, dpt: 4 }],
        [['rdkv', 'rdkv'], 5, true, 'float', undefined, undefined, 6, 46, { tile: 24, dpt: 16 }],
        [['uniform', 'rdkv'], 9, false, 'integer', undefined, 3, 2, 20, { wg: 16, dpt: 4 }],
        [['rdkv', 'v8k2'], 5, true, 'float', undefined, 2, 4, 32, { wg: 8, dpt: 4 }],
        [['rdkv', 'v8k2'], 3, true, 'float', undefined, undefined, 8, 46, { tile: 32, vb: 3 }],
        [['rdkv', 'plain'], 11, false, 'float', undefined, 2, 2, 64, { tile: 40, wg: 128, dpt: 4 }],
        [['rdkv', 'uniform'], 9, false, 'float', undefined, 2, 4, 64, { vb: 1 }],
        [['v8k2', 'rdkv'], 13, true, 'integer', undefined, 3, 4, 64, { vb: 8, tile: 32, dpt: 4 }],
        [['rdkv', 'evicted'], 6, false, 'float', undefined, 1, 8, 128, { vb: 2, wg: 128 }],
        [['plain', 'rdkv'], 4, true, 'float', undefined, 40, 8, 64, { dpt: 16, tile: 64 }],
      ] as typeof base
    ),
  ].map((c) => [...c.slice(0, 8), { ...c[8], kernel: 'vec4', sg: false }] as typeof c);
  const cases = [...general, ...vec4];
  it.each(cases)('heads %j nC=%i f16=%s %s zeros tokenGroup=%s splits=%s Hq=%i d=%i %j matches the reference', async (mixes, nC, f16, zeroPoint, tokenGroup, splits, Hq, d, opts) => {
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

    const sg = (opts.sg ?? true) && gpu.hasSubgroups;
    const op = await createRdkvAttentionDecode(gpu, { nHeads: Hq, nKvHeads: Hkv, headDim: d, zoneCF16: f16, tile: opts.tile, wg: opts.wg, subgroups: sg, vb: opts.vb, kernel: opts.kernel, dpt: opts.dpt });
    expect(op.kernel).toBe(opts.kernel);
    expect(op.subgroups).toBe(sg);
    expect(op.vb).toBe(opts.vb ?? 4);
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
    if (splits === undefined) expect(bound.nSplit).toBe(defaultSplits(layouts, op.tile));
    console.log(`rdkv decode (${op.kernel}) ${mixes.join('+')} nC=${nC} splits ${bound.nSplit}: relative error ${relError(got, want).toExponential(2)}`);
    expect(relError(got, want)).toBeLessThan(1e-5);
    if (nC === 0 && mixes.includes('evicted')) {
      const h = mixes.indexOf('evicted');
      expect(Array.from(got.subarray(h * (Hq / Hkv) * d, (h + 1) * (Hq / Hkv) * d)).every((x) => x === 0)).toBe(true);
    }
  });

  it('picks the vec4 kernel for G <= 4 and one K token group, and the vec4 kernel refuses several groups', async () => {
    const d = 32;
    const one = planLayout({ ...mixInputs('rdkv', 1, T, d), zeroPoint: 'float' });
    const several = planLayout({ ...mixInputs('rdkv', 1, T, d), zeroPoint: 'float', tokenGroup: 16 });
    expect(rdkvDecodeKernel(4, [one, one])).toBe('vec4');
    expect(rdkvDecodeKernel(8, [one, one])).toBe('general');
    expect(rdkvDecodeKernel(2, [one, several])).toBe('general');
    const op = await createRdkvAttentionDecode(gpu, { nHeads: 4, nKvHeads: 2, headDim: d, zoneCF16: true });
    expect(op.kernel).toBe('vec4');
    const layouts = [one, several];
    const plan = planArena(layouts);
    const buf = (n: number) => uploadStorage(gpu, new Float32Array(n));
    const args = { out: buf(4 * d), q: buf(4 * d), arena: buf(plan.totalWords), layouts, plan, zoneC: { k: buf(2 * 4 * d), v: buf(2 * 4 * d), capacity: 4 }, step: createStep(gpu, { rows: 1, pos: T, kvLen: T + 1 }), T };
    expect(() => op.bind(args)).toThrow(/vec4 kernel takes one K token group, this layout has \d+ \(tokenGroup 16\)/);
    await expect(createRdkvAttentionDecode(gpu, { nHeads: 16, nKvHeads: 2, headDim: d, zoneCF16: true, kernel: 'vec4' })).rejects.toThrow(/at most 4 query heads per KV head, got 8/);
  });

  it('default splits: ~32 kept tokens each, up to ~512 workgroups, one chunk each', () => {
    const heads = (kept: number) => Array.from({ length: 8 }, () => ({ kept }) as HeadLayout);
    expect(defaultSplits(heads(1024), 1024)).toBe(32);
    expect(defaultSplits(heads(40), 1024)).toBe(2);
    expect(defaultSplits(heads(32768), 1024)).toBe(64);
    expect(defaultSplits(heads(262144), 1024)).toBe(256);
  });
});
