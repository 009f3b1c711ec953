import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import type { WeightDtype } from '../src/gpu/dtype';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createEmbedding } from '../src/gpu/ops/embedding';
import type { WeightPart } from '../src/gpu/split';
import { createStep } from '../src/gpu/step';
import { embeddingRef } from '../src/ref/embedding';
import { packWeights, roundTo } from '../src/ref/pack';
import { randInt, randn } from '../src/ref/random';
import { poison, relError, requireGpu, runPass } from './gpu';

describe('embedding kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  const cases: [number, number, WeightDtype, number[]][] = [
    [5, 37, 'f32', [50]],
    [9, 66, 'bf16', [20, 17, 13]],
    [7, 530, 'f16', [30, 20]],
  ];
  it.each(cases)('rows=%i dim=%i %s parts %j matches the CPU reference', async (rows, dim, dtype, counts) => {
    const vocab = counts.reduce((a, b) => a + b);
    const table = randn(dim * 3 + rows, vocab * dim);
    // Ids at part boundaries and at random.
    const ids = Uint32Array.from({ length: rows }, (_, r) => (r < 3 ? [0, counts[0] - 1, vocab - 1][r] : randInt(r * 17 + dim, 0, vocab - 1)));
    const want = new Float32Array(rows * dim);
    embeddingRef(want, ids, roundTo(table, dtype), rows, dim);

    const parts: WeightPart[] = [];
    let rowStart = 0;
    for (const rowCount of counts) {
      const rowsOf = table.subarray(rowStart * dim, (rowStart + rowCount) * dim);
      parts.push({ buffer: uploadStorage(gpu, packWeights(rowsOf, dtype)), rowStart, rowCount });
      rowStart += rowCount;
    }
    const op = await createEmbedding(gpu, { dim, dtype });
    const out = uploadStorage(gpu, new Float32Array(rows * dim));
    poison(gpu, out);
    const bound = op.bind({ out, ids: uploadStorage(gpu, ids), parts, step: createStep(gpu, { rows, pos: 0, kvLen: rows }) });
    await runPass(gpu, (pass) => bound.encode(pass, rows));
    expect(relError(await readF32(gpu, out, rows * dim), want)).toBe(0);
  });

  it('leaves rows whose id is in no part unwritten', async () => {
    const dim = 8;
    const table = randn(3, 10 * dim);
    const op = await createEmbedding(gpu, { dim, dtype: 'f32' });
    const out = uploadStorage(gpu, new Float32Array(2 * dim));
    poison(gpu, out);
    const bound = op.bind({
      out,
      ids: uploadStorage(gpu, Uint32Array.of(4, 12)),
      parts: [{ buffer: uploadStorage(gpu, table), rowStart: 0, rowCount: 10 }],
      step: createStep(gpu, { rows: 2, pos: 0, kvLen: 2 }),
    });
    await runPass(gpu, (pass) => bound.encode(pass, 2));
    const got = await readF32(gpu, out, 2 * dim);
    expect(Array.from(got.subarray(0, dim))).toEqual(Array.from(table.subarray(4 * dim, 5 * dim)));
    expect(got.subarray(dim).every(Number.isNaN)).toBe(true);
  });

  it('rejects an odd dim for 16-bit tables', async () => {
    await expect(createEmbedding(gpu, { dim: 7, dtype: 'f16' })).rejects.toThrow(/even dim/);
  });
});
