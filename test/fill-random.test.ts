import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import type { WeightDtype } from '../src/gpu/dtype';
import { createStorage, readU32 } from '../src/gpu/kernel';
import { createFillRandom } from '../src/gpu/ops/fill-random';
import { fillRandomRef } from '../src/ref/fill-random';
import { poison, requireGpu, runPass } from './gpu';

describe('fill_random kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });
  it.each<[WeightDtype, number]>([
    ['f32', 1000],
    ['bf16', 777],
  ])('%s words match the CPU reference bit for bit', async (dtype, words) => {
    const out = createStorage(gpu, words * 4);
    poison(gpu, out);
    const fill = await createFillRandom(gpu, dtype);
    await runPass(gpu, (pass) => fill.encode(pass, out, words, 1234, 0.05));
    const got = await readU32(gpu, out, words);
    expect(Array.from(got)).toEqual(Array.from(fillRandomRef(words, 1234, 0.05, dtype)));
  });
});
