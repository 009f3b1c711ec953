import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, readU32, uploadStorage } from '../src/gpu/kernel';
import { bf16HiddenBytes, createHiddenBf16 } from '../src/gpu/ops/hidden-bf16';
import { createStep } from '../src/gpu/step';
import { bf16BitsToF32, f32ToBf16Bits } from '../src/ref/pack';
import { randn } from '../src/ref/random';
import { requireGpu, runPass } from './gpu';

describe('hidden_bf16 kernel (a compressed prefill\'s residual stream at 16 bits)', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  // [rows, features]: odd element counts (a half-filled last word), one row, a chunk larger than one grid pass.
  it.each([
    [1, 7],
    [3, 64],
    [5, 33],
    [300, 4099],
  ])('rows=%i features=%i: pack rounds like the CPU reference (nearest even, NaN, inf), unpack widens back', async (rows, features) => {
    const n = rows * features;
    const x = randn(rows * 7 + features, n, 3);
    // Values at rounding ties and edges: a tie to even down and up, NaN, infinities, the largest finite, -0.
    const u = new Uint32Array(x.buffer);
    const special = [0x3f808000, 0x3f818000, 0x7fc00001, 0x7f800000, 0xff800000, 0x7f7fffff, 0x80000000];
    special.forEach((bits, i) => i < n && (u[i] = bits));
    const want = new Uint32Array(Math.ceil(n / 2));
    for (let i = 0; i < n; i++) want[i >> 1] |= f32ToBf16Bits(x[i]) << ((i & 1) * 16);

    const hidden = createHiddenBf16(gpu, features);
    const xs = uploadStorage(gpu, x);
    const packed = uploadStorage(gpu, new Uint32Array(bf16HiddenBytes(rows, features) / 4).fill(0xdeadbeef));
    const step = createStep(gpu, { rows, pos: 0, kvLen: rows });
    const h = await hidden;
    await runPass(gpu, (p) => h.pack({ x: xs, packed, step }).encode(p, rows));
    expect(await readU32(gpu, packed, want.length)).toEqual(want);

    const back = uploadStorage(gpu, new Float32Array(n + 4).fill(12345));
    await runPass(gpu, (p) => h.unpack({ x: back, packed, step }).encode(p, rows));
    const got = await readF32(gpu, back, n + 4);
    const widened = Array.from({ length: n }, (_, i) => bf16BitsToF32((want[i >> 1] >>> ((i & 1) * 16)) & 0xffff));
    expect(Array.from(got.subarray(0, n))).toEqual(widened);
    expect(Array.from(got.subarray(n))).toEqual([12345, 12345, 12345, 12345]);
    for (const b of [xs, packed, step, back]) b.destroy();
    h.destroy();
  });

  it('refuses rows that overflow its buffers', async () => {
    const h = await createHiddenBf16(gpu, 8);
    const x = uploadStorage(gpu, new Float32Array(16));
    const packed = uploadStorage(gpu, new Uint32Array(4));
    const step = createStep(gpu, { rows: 2, pos: 0, kvLen: 2 });
    expect(() => h.pack({ x, packed, step }).encode({} as GPUComputePassEncoder, 3)).toThrow(/overflow x/);
    expect(() => h.unpack({ x, packed, step }).encode({} as GPUComputePassEncoder, 2)).toThrow(/overflow the packed buffer/);
    await expect(createHiddenBf16(gpu, 0)).rejects.toThrow(/positive whole number/);
    for (const b of [x, packed, step]) b.destroy();
    h.destroy();
  });
});
