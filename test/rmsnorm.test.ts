import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import type { WeightDtype } from '../src/gpu/dtype';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createRmsNorm } from '../src/gpu/ops/rmsnorm';
import { createStep } from '../src/gpu/step';
import { packWeights, roundTo } from '../src/ref/pack';
import { randn } from '../src/ref/random';
import { rmsnormRef } from '../src/ref/rmsnorm';
import { poison, relError, requireGpu, runPass } from './gpu';

describe('rmsnorm kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  const cases: [number, number, WeightDtype][] = [
    [1, 64, 'f32'],
    [7, 129, 'f32'],
    [5, 300, 'f16'],
    [3, 513, 'bf16'],
    // one decode row of the Llama-3.2-1B width (unrolled register path), and a row past ITEMS = 32 per thread
    // (8192 = 256 x 32 is the widest register row: 9001 takes the looped path)
    [1, 2048, 'bf16'],
    [2, 9001, 'f16'],
  ];
  it.each(cases)('rows=%i dim=%i %s matches the CPU reference', async (rows, dim, dtype) => {
    const x = randn(rows * 31 + dim, rows * dim, 2);
    const w = randn(dim + 7, dim);
    const wSeen = roundTo(w, dtype);
    const want = new Float32Array(rows * dim);
    rmsnormRef(want, x, wSeen, rows, dim, 1e-5);

    const op = await createRmsNorm(gpu, { dim, eps: 1e-5, weightDtype: dtype });
    const out = uploadStorage(gpu, new Float32Array(rows * dim));
    poison(gpu, out);
    const bound = op.bind({
      out,
      x: uploadStorage(gpu, x),
      weight: uploadStorage(gpu, packWeights(w, dtype)),
      step: createStep(gpu, { rows, pos: 0, kvLen: rows }),
    });
    await runPass(gpu, (pass) => bound.encode(pass, rows));
    const got = await readF32(gpu, out, rows * dim);
    expect(relError(got, want)).toBeLessThan(1e-5);
  });
});
