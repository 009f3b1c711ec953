import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import type { WeightDtype } from '../src/gpu/dtype';
import { readF32, uploadStorage } from '../src/gpu/kernel';
import { createLinear, MATMUL_LARGE, MATMUL_SMALL, matvecSubgroupsAvailable, type MatmulTile, type MatvecTuning } from '../src/gpu/ops/linear';
import { planRowSplit, type WeightPart } from '../src/gpu/split';
import { createStep } from '../src/gpu/step';
import { gluLinearRef, linearRef, normLinearRef } from '../src/ref/linear';
import { packWeights, roundTo } from '../src/ref/pack';
import { randn } from '../src/ref/random';
import { poison, relError, requireGpu, runPass } from './gpu';

interface Case {
  rows: number;
  k: number;
  n: number;
  dtype: WeightDtype;
  bias?: boolean;
  accumulate?: boolean;
  parts?: number[]; // row counts of each part of W
  colOffset?: number;
  outStride?: number;
  tile?: MatmulTile;
  threads?: number;
  /** Matvec only: the fused variants and the layout. */
  norm?: boolean;
  glu?: boolean;
  matvec?: MatvecTuning;
}

function name(c: Case): string {
  const opts = [
    c.norm && 'rmsnorm',
    c.glu && 'glu',
    c.bias && 'bias',
    c.accumulate && 'accumulate',
    c.parts && `parts ${c.parts.join('+')}`,
    c.tile && `tile ${c.tile.wgM}x${c.tile.wgN}`,
    c.threads && `threads ${c.threads}`,
    c.matvec && JSON.stringify(c.matvec),
  ];
  return `(${c.rows}, ${c.k})·(${c.n}, ${c.k}) ${c.dtype} ${opts.filter(Boolean).join(' ')}`;
}

describe('linear kernels', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  /** Runs case c (twice with `repeat`, returning both outputs) and compares with the CPU reference. */
  async function check(c: Case, repeat = false): Promise<Float32Array[]> {
    const { rows, k, n, dtype } = c;
    const seed = rows * 1000 + k * 7 + n + (c.norm ? 11 : 0) + (c.glu ? 13 : 0);
    const outStride = c.outStride ?? n;
    const colOffset = c.colOffset ?? 0;
    const wRows = c.glu ? 2 * n : n;
    const x = randn(seed, rows * k, c.norm ? 3 : 1);
    const w = randn(seed + 1, wRows * k, 0.5);
    const bias = c.bias ? randn(seed + 2, wRows) : undefined;
    const prior = randn(seed + 3, rows * outStride);
    const normWeight = c.norm ? randn(seed + 4, k) : undefined;
    const eps = 1e-5;

    const want = c.accumulate ? prior.slice() : new Float32Array(rows * outStride);
    const refShape = { rows, inFeatures: k, outFeatures: n, outStride, colOffset, accumulate: c.accumulate };
    const wSeen = roundTo(w, dtype);
    if (c.glu) gluLinearRef(want, x, wSeen, bias, refShape, normWeight && { weight: normWeight, eps });
    else if (normWeight) normLinearRef(want, x, normWeight, eps, wSeen, bias, refShape);
    else linearRef(want, x, wSeen, bias, refShape);

    const fused = c.norm || c.glu;
    const op = await createLinear(gpu, {
      inFeatures: k,
      outFeatures: n,
      dtype,
      hasBias: !!bias,
      accumulate: !!c.accumulate,
      outStride,
      colOffset,
      maxRows: rows,
      matmulTile: fused ? undefined : (c.tile ?? MATMUL_SMALL),
      matvec: { ...c.matvec, ...(c.threads ? { threads: c.threads } : {}) },
      rmsNorm: c.norm ? { eps } : undefined,
      glu: c.glu,
    });
    const counts = c.parts ?? [wRows];
    const parts: WeightPart[] = [];
    let rowStart = 0;
    for (const rowCount of counts) {
      const rowsOfW = w.subarray(rowStart * k, (rowStart + rowCount) * k);
      parts.push({ buffer: uploadStorage(gpu, packWeights(rowsOfW, dtype)), rowStart, rowCount });
      rowStart += rowCount;
    }
    const out = uploadStorage(gpu, prior);
    const bound = op.bind({
      out,
      x: uploadStorage(gpu, x),
      parts,
      bias: bias && uploadStorage(gpu, bias),
      step: createStep(gpu, { rows, pos: 0, kvLen: rows }),
      normWeight: normWeight && uploadStorage(gpu, normWeight),
    });
    const results: Float32Array[] = [];
    for (let run = 0; run < (repeat ? 2 : 1); run++) {
      if (c.accumulate) gpu.device.queue.writeBuffer(out, 0, prior.buffer, prior.byteOffset, prior.byteLength);
      else poison(gpu, out);
      await runPass(gpu, (pass) => bound.encode(pass, rows));
      const got = await readF32(gpu, out, rows * outStride);
      results.push(got.slice());
      if (!c.accumulate) {
        // Columns outside [colOffset, colOffset + n) stay poisoned: compare only the written ones.
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < outStride; j++) {
            if (j < colOffset || j >= colOffset + n) {
              expect(Number.isNaN(got[r * outStride + j])).toBe(true);
              got[r * outStride + j] = want[r * outStride + j] = 0;
            }
          }
        }
      }
      expect(relError(got, want)).toBeLessThan(1e-5);
    }
    return results;
  }

  // Each distinct (dtype, vec4 or scalar path, tile / group width) is a pipeline build, ~1 s on
  // SwiftShader: the cases cover every path with as few builds as possible.
  const matvec: Case[] = [
    { rows: 1, k: 64, n: 96, dtype: 'f32' },
    { rows: 1, k: 64, n: 96, dtype: 'bf16', bias: true },
    { rows: 1, k: 64, n: 96, dtype: 'f16', accumulate: true },
    { rows: 3, k: 130, n: 70, dtype: 'f32', bias: true, accumulate: true },
    { rows: 3, k: 130, n: 70, dtype: 'bf16', parts: [30, 25, 15], colOffset: 5, outStride: 80 },
    { rows: 2, k: 130, n: 70, dtype: 'f16', bias: true },
    { rows: 1, k: 1040, n: 37, dtype: 'bf16', bias: true, threads: 64 },
  ];
  it.each(matvec.map((c) => [name(c), c] as const))('matvec %s', async (_, c) => {
    await check(c);
  });

  // The layout and reduction paths: subgroup reduction with one or several subgroups per group (SwiftShader's
  // subgroups are 4 wide) and the workgroup-memory rounds (fan-in 16 then the rest); groups of 1..8 rows;
  // several load batches per invocation (threads 4 over a 65-word scalar row); workgroups of 64.
  const layouts: Case[] = [
    { rows: 1, k: 64, n: 96, dtype: 'bf16', matvec: { subgroups: false, threads: 4, rows: 1 } },
    { rows: 1, k: 512, n: 37, dtype: 'bf16', bias: true, matvec: { subgroups: false, threads: 64, rows: 8 } },
    { rows: 2, k: 1032, n: 21, dtype: 'f16', accumulate: true, matvec: { subgroups: false, threads: 256, rows: 2 } },
    { rows: 1, k: 1032, n: 21, dtype: 'f32', matvec: { subgroups: false, threads: 128, rows: 4, wg: 128 } },
    { rows: 3, k: 130, n: 70, dtype: 'bf16', bias: true, matvec: { subgroups: false, threads: 4, rows: 8 } },
    { rows: 1, k: 512, n: 37, dtype: 'bf16', bias: true, matvec: { subgroups: true, threads: 4, rows: 8 } },
    { rows: 1, k: 1040, n: 37, dtype: 'bf16', matvec: { subgroups: true, threads: 16, rows: 2, wg: 64 } },
    { rows: 2, k: 2048, n: 19, dtype: 'bf16', accumulate: true, matvec: { subgroups: true } },
  ];
  // Cases asking for subgroups need the feature and the subgroup_id builtin (SwiftShader has both).
  const usable = (c: Case) => !c.matvec?.subgroups || matvecSubgroupsAvailable(gpu);
  it.each(layouts.map((c) => [name(c), c] as const))('matvec layout %s', async (_, c) => {
    expect(usable(c)).toBe(true);
    await check(c);
  });

  // Decode fusions: the RMSNorm before the projection, and the SwiGLU gate over a [gate; up] weight.
  const fused: Case[] = [
    { rows: 1, k: 64, n: 96, dtype: 'bf16', norm: true, matvec: { subgroups: true } },
    { rows: 1, k: 64, n: 96, dtype: 'bf16', norm: true, matvec: { subgroups: false } },
    { rows: 3, k: 130, n: 70, dtype: 'f32', norm: true, bias: true, accumulate: true, parts: [30, 25, 15] },
    { rows: 2, k: 130, n: 70, dtype: 'f16', norm: true, colOffset: 5, outStride: 80, matvec: { subgroups: false, threads: 8, rows: 3 } },
    { rows: 1, k: 2048, n: 40, dtype: 'bf16', norm: true, matvec: { threads: 128, subgroups: false } },
    { rows: 1, k: 64, n: 48, dtype: 'bf16', glu: true, matvec: { subgroups: true } },
    { rows: 1, k: 64, n: 48, dtype: 'bf16', glu: true, norm: true, matvec: { subgroups: false } },
    { rows: 2, k: 130, n: 37, dtype: 'f32', glu: true, norm: true, bias: true, colOffset: 3, outStride: 41, matvec: { subgroups: true, threads: 8, rows: 6 } },
    { rows: 1, k: 1040, n: 37, dtype: 'f16', glu: true, matvec: { subgroups: false, threads: 64, rows: 2 } },
  ];
  it.each(fused.map((c) => [name(c), c] as const))('fused matvec %s', async (_, c) => {
    expect(usable(c)).toBe(true);
    await check(c);
  });

  // The looped kernel (wgsl/matvec_loop.wgsl): vec4 and scalar rows, every dtype, bias, accumulate, parts,
  // several rows, group widths, the SwiGLU epilogue; and the default choice of it for many weight rows.
  const looped: Case[] = [
    { rows: 1, k: 64, n: 96, dtype: 'bf16', bias: true, matvec: { loop: true } },
    { rows: 3, k: 130, n: 70, dtype: 'f32', bias: true, accumulate: true, matvec: { loop: true } },
    { rows: 2, k: 130, n: 70, dtype: 'f16', parts: [30, 25, 15], colOffset: 5, outStride: 80, matvec: { loop: true, threads: 8 } },
    { rows: 1, k: 1040, n: 37, dtype: 'bf16', accumulate: true, matvec: { loop: true, threads: 32, wg: 64 } },
    { rows: 1, k: 64, n: 48, dtype: 'bf16', glu: true, matvec: { loop: true } },
    { rows: 2, k: 130, n: 37, dtype: 'f32', glu: true, bias: true, colOffset: 3, outStride: 41, matvec: { loop: true, threads: 16 } },
    { rows: 1, k: 64, n: 8193, dtype: 'bf16' },
    { rows: 1, k: 64, n: 4099, dtype: 'bf16', glu: true },
  ];
  it.each(looped.map((c) => [name(c), c] as const))('looped matvec %s', async (_, c) => {
    await check(c);
  });

  it('picks the looped kernel by default for many weight rows without a norm fold', async () => {
    const base = { inFeatures: 2048, dtype: 'bf16' as const, hasBias: false, accumulate: false, maxRows: 1 };
    expect((await createLinear(gpu, { ...base, outFeatures: 8192, glu: true })).layout.loop).toBe(true);
    expect((await createLinear(gpu, { ...base, outFeatures: 8192 })).layout).toMatchObject({ loop: true, threads: 128 });
    expect((await createLinear(gpu, { ...base, outFeatures: 8192, rmsNorm: { eps: 1e-5 } })).layout.loop).toBe(false);
    expect((await createLinear(gpu, { ...base, outFeatures: 3072 })).layout).toMatchObject({ loop: false, threads: 64, rows: 2, unitsPerThread: 4 });
    const down = (await createLinear(gpu, { ...base, inFeatures: 8192, outFeatures: 2048 })).layout;
    expect(down).toMatchObject({ loop: false, threads: 256, rows: 4, unitsPerThread: 4, subgroups: false });
    await expect(createLinear(gpu, { ...base, outFeatures: 64, rmsNorm: { eps: 1e-5 }, matvec: { loop: true } })).rejects.toThrow(/does not fold the norm/);
  });

  it('gives bit-identical results run to run (fixed summation order)', async () => {
    for (const subgroups of [false, true]) {
      const [a, b] = await check({ rows: 2, k: 512, n: 77, dtype: 'bf16', norm: true, matvec: { subgroups, threads: 32 } }, true);
      expect(Array.from(b)).toEqual(Array.from(a));
    }
  });

  it('rejects the fused variants where they do not apply', async () => {
    const base = { inFeatures: 64, outFeatures: 8, dtype: 'f32' as const, hasBias: false, accumulate: false };
    await expect(createLinear(gpu, { ...base, rmsNorm: { eps: 1e-5 } })).rejects.toThrow(/matvec-only/);
    await expect(createLinear(gpu, { ...base, glu: true, accumulate: true, maxRows: 1 })).rejects.toThrow(/does not accumulate/);
    await expect(createLinear(gpu, { ...base, glu: true, maxRows: 1, matvec: { rows: 3 } })).rejects.toThrow(/even/);
    const op = await createLinear(gpu, { ...base, glu: true, maxRows: 1 });
    const buffer = uploadStorage(gpu, new Float32Array(16 * 64));
    const b = { out: buffer, x: buffer, step: createStep(gpu, { rows: 1, pos: 0, kvLen: 1 }) };
    expect(() => op.bind({ ...b, parts: [{ buffer, rowStart: 0, rowCount: 8 }] })).toThrow(/cover 8 rows/);
    const split = [
      { buffer, rowStart: 0, rowCount: 8 },
      { buffer, rowStart: 8, rowCount: 8 },
    ];
    expect(() => op.bind({ ...b, parts: split })).toThrow(/one part/);
    const normed = await createLinear(gpu, { ...base, rmsNorm: { eps: 1e-5 }, maxRows: 1 });
    expect(() => normed.bind({ ...b, parts: [{ buffer, rowStart: 0, rowCount: 8 }] })).toThrow(/normWeight/);
  });

  const matmul: Case[] = [
    { rows: 37, k: 96, n: 65, dtype: 'f32', bias: true },
    { rows: 37, k: 96, n: 65, dtype: 'bf16', accumulate: true, parts: [33, 32], colOffset: 3, outStride: 70 },
    { rows: 9, k: 130, n: 70, dtype: 'f16', bias: true, parts: [40, 30] },
    { rows: 19, k: 130, n: 30, dtype: 'f32', accumulate: true },
    { rows: 70, k: 40, n: 131, dtype: 'bf16', bias: true, tile: MATMUL_LARGE, parts: [100, 31], colOffset: 1, outStride: 140 },
  ];
  it.each(matmul.map((c) => [name(c), c] as const))('matmul %s', async (_, c) => {
    await check(c);
  });

  it('one bound op takes the matvec path for few rows and the matmul path for more', async () => {
    const [k, n] = [96, 65];
    const w = randn(5, n * k);
    const op = await createLinear(gpu, { inFeatures: k, outFeatures: n, dtype: 'f32', hasBias: false, accumulate: false });
    const parts = [{ buffer: uploadStorage(gpu, w), rowStart: 0, rowCount: n }];
    for (const rows of [2, 6]) {
      const x = randn(rows, rows * k);
      const want = new Float32Array(rows * n);
      linearRef(want, x, w, undefined, { rows, inFeatures: k, outFeatures: n });
      const out = uploadStorage(gpu, new Float32Array(rows * n));
      poison(gpu, out);
      const bound = op.bind({ out, x: uploadStorage(gpu, x), parts, step: createStep(gpu, { rows, pos: 0, kvLen: rows }) });
      await runPass(gpu, (pass) => bound.encode(pass, rows));
      expect(relError(await readF32(gpu, out, rows * n), want)).toBeLessThan(1e-5);
    }
  });

  it('rejects odd inFeatures for 16-bit weights', async () => {
    await expect(createLinear(gpu, { inFeatures: 5, outFeatures: 3, dtype: 'bf16', hasBias: false, accumulate: false })).rejects.toThrow(
      /even inFeatures/,
    );
  });

  it('rejects parts that do not cover W', async () => {
    const op = await createLinear(gpu, { inFeatures: 8, outFeatures: 6, dtype: 'f32', hasBias: false, accumulate: false, maxRows: 1 });
    const buffer = uploadStorage(gpu, new Float32Array(6 * 8));
    const b = { out: buffer, x: buffer, step: createStep(gpu, { rows: 1, pos: 0, kvLen: 1 }) };
    expect(() => op.bind({ ...b, parts: [{ buffer, rowStart: 0, rowCount: 5 }] })).toThrow(/cover 5 rows/);
    expect(() => op.bind({ ...b, parts: [{ buffer, rowStart: 1, rowCount: 6 }] })).toThrow(/starting at 0/);
  });
});

describe('planRowSplit', () => {
  it('balances parts under the byte limit and covers every row once', () => {
    const parts = planRowSplit(152_000, 4096, 512 * 1024 * 1024);
    expect(parts.length).toBe(2);
    expect(parts[0]).toEqual({ rowStart: 0, rowCount: 76_000 });
    expect(parts[1]).toEqual({ rowStart: 76_000, rowCount: 76_000 });
    const odd = planRowSplit(10, 3, 10);
    expect(odd.map((p) => p.rowCount)).toEqual([3, 3, 2, 2]);
    expect(planRowSplit(5, 8, 1 << 20)).toEqual([{ rowStart: 0, rowCount: 5 }]);
    expect(() => planRowSplit(4, 100, 50)).toThrow(/larger than/);
  });
});
