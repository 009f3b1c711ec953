import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createSiluMul } from '../src/gpu/ops/silu-mul';
import { createStep } from '../src/gpu/step';
import { randn } from '../src/ref/random';
import { siluMulRef } from '../src/ref/silu-mul';
import { poison, relError, requireGpu, runPass } from './gpu';

describe('silu_mul kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  it.each([
    [1, 64],
    [7, 300],
    [3, 1001],
  ])('rows=%i features=%i matches the CPU reference', async (rows, features) => {
    const n = rows * features;
    const a = randn(rows + features, n, 4); // wide enough to reach exp overflow territory rarely
    a[0] = -100;
    a[n - 1] = 90;
    const b = randn(rows * 3 + features, n);
    const want = new Float32Array(n);
    siluMulRef(want, a, b, n);

    const op = await createSiluMul(gpu, { features });
    const out = uploadStorage(gpu, new Float32Array(n));
    poison(gpu, out);
    const bound = op.bind({ out, a: uploadStorage(gpu, a), b: uploadStorage(gpu, b), step: createStep(gpu, { rows, pos: 0, kvLen: rows }) });
    await runPass(gpu, (pass) => bound.encode(pass, rows));
    expect(relError(await readF32(gpu, out, n), want)).toBeLessThan(1e-5);
  });

  it('reads gate and up as two halves of one (rows, 2 * features) buffer', async () => {
    const rows = 5;
    const features = 77;
    const gateUp = randn(11, rows * 2 * features, 2);
    const a = new Float32Array(rows * features);
    const b = new Float32Array(rows * features);
    for (let r = 0; r < rows; r++) {
      a.set(gateUp.subarray(r * 2 * features, r * 2 * features + features), r * features);
      b.set(gateUp.subarray(r * 2 * features + features, (r + 1) * 2 * features), r * features);
    }
    const want = new Float32Array(rows * features);
    siluMulRef(want, a, b, rows * features);

    const op = await createSiluMul(gpu, { features, inStride: 2 * features, bOffset: features });
    const out = uploadStorage(gpu, new Float32Array(rows * features));
    poison(gpu, out);
    const both = uploadStorage(gpu, gateUp);
    const bound = op.bind({ out, a: both, b: both, step: createStep(gpu, { rows, pos: 0, kvLen: rows }) });
    await runPass(gpu, (pass) => bound.encode(pass, rows));
    expect(relError(await readF32(gpu, out, rows * features), want)).toBeLessThan(1e-5);
  });
});
