import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readU32, uploadStorage } from '../src/gpu/kernel';
import { createCopy } from '../src/gpu/ops/copy';
import { rng } from '../src/ref/random';
import { requireGpu, runPass } from './gpu';

describe('copy kernel (the benchmarks\' copy-bandwidth measure)', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  // [16-byte units, workgroups (undefined: the wrapper's grid)]: one unit; a partial workgroup; grids small enough
  // that the unrolled rounds run, with and without a remainder after them.
  it.each([
    [1, undefined],
    [300, undefined],
    [4096, 1],
    [4097 + 3 * 256, 1],
    [10_000, 3],
  ])('copies %i units (grid %s) exactly and nothing past them', async (units, workgroups) => {
    const random = rng(units);
    const words = Uint32Array.from({ length: 4 * units + 8 }, () => Math.floor(random() * 2 ** 32));
    const src = uploadStorage(gpu, words);
    const dst = uploadStorage(gpu, new Uint32Array(words.length).fill(0xdeadbeef));
    const op = (await createCopy(gpu)).bind(dst, src, 16 * units, workgroups);
    await runPass(gpu, (p) => op.encode(p));
    const got = await readU32(gpu, dst, words.length);
    expect(got.subarray(0, 4 * units)).toEqual(words.subarray(0, 4 * units));
    expect([...got.subarray(4 * units)]).toEqual(new Array(8).fill(0xdeadbeef));
    src.destroy();
    dst.destroy();
  });

  it('refuses sizes that are not whole units or exceed the buffers', async () => {
    const copy = await createCopy(gpu);
    const a = uploadStorage(gpu, new Uint32Array(8));
    expect(() => copy.bind(a, a, 24)).toThrow(/multiple of 16/);
    expect(() => copy.bind(a, a, 64)).toThrow(/exceed the buffers/);
    expect(() => copy.bind(a, a, 16, 0)).toThrow(/workgroups/);
    a.destroy();
  });
});
