import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readU32, uploadStorage } from '../src/gpu/kernel';
import { createArgmax } from '../src/gpu/ops/argmax';
import { argmaxRef } from '../src/ref/argmax';
import { randInt, randn } from '../src/ref/random';
import { requireGpu, runPass } from './gpu';

describe('argmax kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  async function gpuArgmax(logits: Float32Array, n = logits.length, logitsOffset = 0): Promise<number> {
    const op = await createArgmax(gpu, { n });
    const out = uploadStorage(gpu, Uint32Array.of(0xdeadbeef));
    const bound = op.bind({ out, logits: uploadStorage(gpu, logits), logitsOffset });
    await runPass(gpu, (pass) => bound.encode(pass));
    return (await readU32(gpu, out, 1))[0];
  }

  it.each([1, 7, 4097, 50_001, 262_144])('n=%i matches the CPU reference', async (n) => {
    const logits = randn(n, n, 3);
    // Plant the maximum somewhere random, twice, so the first of the tie must win.
    const at = randInt(n + 1, 0, n - 1);
    const again = randInt(n + 2, at, n - 1);
    logits[at] = logits[again] = 50;
    const want = argmaxRef(logits);
    expect(want).toBe(at);
    expect(await gpuArgmax(logits)).toBe(want);
  });

  it('ignores NaN, handles infinities and signed zeros, and reads from an offset', async () => {
    expect(await gpuArgmax(Float32Array.of(1, NaN, 3, NaN, 2))).toBe(2);
    expect(await gpuArgmax(Float32Array.of(NaN, -Infinity, -Infinity))).toBe(1);
    expect(await gpuArgmax(Float32Array.of(-1, Infinity, 5, Infinity))).toBe(1);
    expect(await gpuArgmax(Float32Array.of(-2, -0, 0, -3))).toBe(1);
    expect(await gpuArgmax(Float32Array.of(NaN, NaN))).toBe(0);
    expect(await gpuArgmax(Float32Array.of(9, 9, 1, 4, 2), 3, 2)).toBe(1);
    expect(argmaxRef(Float32Array.of(-2, -0, 0, -3))).toBe(1);
  });
});
