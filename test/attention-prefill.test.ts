import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createAttentionPrefill, type PrefillTiles } from '../src/gpu/ops/attention-prefill';
import { createStep } from '../src/gpu/step';
import { attentionRef } from '../src/ref/attention';
import { randn } from '../src/ref/random';
import { makeCache } from './attention-cache';
import { poison, relError, requireGpu, runPass } from './gpu';

describe('attention_prefill kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  // [rows, pos, nHeads, nKvHeads, headDim, window, cacheF16]
  const cases: [number, number, number, number, number, number, boolean][] = [
    [13, 0, 4, 2, 8, 0, false],
    [13, 21, 3, 1, 16, 0, false],
    [13, 40, 4, 4, 64, 0, false],
    [13, 30, 4, 2, 16, 7, false],
    [13, 45, 3, 1, 64, 20, false],
    [37, 3, 4, 1, 8, 0, false],
    [13, 21, 4, 2, 8, 0, true],
    [13, 37, 3, 1, 64, 20, true],
    [13, 50, 4, 4, 16, 16, true],
    [7, 9, 4, 2, 10, 0, false],
    [7, 9, 3, 1, 12, 5, true],
  ];
  it.each(cases)('rows=%i pos=%i Hq=%i Hkv=%i d=%i window=%i f16=%s matches the CPU reference', async (rows, pos, nHeads, nKvHeads, d, window, f16) => {
    await check({ rows, pos, nHeads, nKvHeads, d, window, f16 });
  });

  it('small explicit tiles: many query and key tiles per workgroup row', async () => {
    const tiles: PrefillTiles = { dp4: 4, bq: 8, bk: 4, wg: 4, sr: 4, sk: 2, rq: 4, dv: 2 };
    await check({ rows: 13, pos: 19, nHeads: 4, nKvHeads: 2, d: 16, window: 0, f16: false, tiles });
    await check({ rows: 13, pos: 19, nHeads: 3, nKvHeads: 1, d: 16, window: 6, f16: true, tiles });
  });

  async function check(c: { rows: number; pos: number; nHeads: number; nKvHeads: number; d: number; window: number; f16: boolean; tiles?: PrefillTiles }) {
    const { rows, pos, nHeads, nKvHeads, d, window, f16 } = c;
    const capacity = pos + rows + 5;
    const seed = rows * 1000 + pos * 10 + d;
    const shape = { nHeads, nKvHeads, headDim: d, capacity, cacheF16: f16, window, tiles: c.tiles };
    const q = randn(seed, rows * nHeads * d, 2);
    const k = makeCache(gpu, seed + 1, nKvHeads, capacity, d, pos + rows, f16);
    const v = makeCache(gpu, seed + 2, nKvHeads, capacity, d, pos + rows, f16);
    const want = new Float32Array(rows * nHeads * d);
    attentionRef(want, q, k.values, v.values, shape, rows, pos);

    const op = await createAttentionPrefill(gpu, shape);
    const out = uploadStorage(gpu, new Float32Array(rows * nHeads * d));
    poison(gpu, out);
    const bound = op.bind({
      out,
      q: uploadStorage(gpu, q),
      kCache: k.buffer,
      vCache: v.buffer,
      step: createStep(gpu, { rows, pos, kvLen: pos + rows }),
    });
    await runPass(gpu, (pass) => bound.encode(pass, rows));
    // f16 caches: the reference sees the same rounded K/V, so only f32 arithmetic differs.
    expect(relError(await readF32(gpu, out, want.length), want)).toBeLessThan(f16 ? 2e-5 : 1e-5);
  }
});
