import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readF32, readU32, uploadStorage } from '../src/gpu/kernel';
import { createRopeKv } from '../src/gpu/ops/rope-kv';
import { createStep } from '../src/gpu/step';
import { f16BitsToF32 } from '../src/ref/pack';
import { randn } from '../src/ref/random';
import { ropeKvRef } from '../src/ref/rope';
import { poison, relError, requireGpu, runPass } from './gpu';

/** Llama-style inverse frequencies 1 / base^(2i/d), in f32. */
function invFreqs(d: number, base = 10000): Float32Array {
  return Float32Array.from({ length: d / 2 }, (_, i) => 1 / base ** ((2 * i) / d));
}

/** Cache words as values: f32 words as is, f16 words unpacked (dim 2j low). */
function unpackCache(words: Uint32Array, f16: boolean): Float32Array {
  if (!f16) return new Float32Array(words.buffer.slice(0));
  const out = new Float32Array(words.length * 2);
  for (let i = 0; i < words.length; i++) {
    out[2 * i] = f16BitsToF32(words[i] & 0xffff);
    out[2 * i + 1] = f16BitsToF32(words[i] >>> 16);
  }
  return out;
}

describe('rope_kv kernel', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  // [rows, nHeads, nKvHeads, headDim, pos, cacheF16, slotBase]
  const cases: [number, number, number, number, number, boolean, number?][] = [
    [3, 4, 2, 8, 0, false],
    [5, 3, 1, 16, 5, false],
    [7, 4, 4, 64, 3000, false],
    [5, 3, 1, 16, 5, true],
    [3, 4, 2, 64, 3000, true],
    [2, 2, 1, 8, 200_001, false],
    // A compressed cache's zone C: position 1000 goes to slot 10.
    [4, 4, 2, 16, 1000, true, 990],
  ];
  // The last flag reads q, k and v from one fused (rows, q|k|v) projection buffer, as the engine does.
  const fusedCases = cases.map((c) => [...c.slice(0, 6), c[6] ?? 0, true] as [number, number, number, number, number, boolean, number, boolean]);
  it.each([...cases.map((c) => [...c.slice(0, 6), c[6] ?? 0, false] as [number, number, number, number, number, boolean, number, boolean]), fusedCases[1], fusedCases[6]])(
    'rows=%i Hq=%i Hkv=%i d=%i pos=%i f16=%s slotBase=%s fused=%s matches the CPU reference', async (rows, nHeads, nKvHeads, d, pos, f16, slotBase, fused) => {
    const capacity = pos - slotBase + rows + 3;
    const seed = rows * 101 + d * 7 + pos;
    const q = randn(seed, rows * nHeads * d, 2);
    const k = randn(seed + 1, rows * nKvHeads * d, 2);
    const v = randn(seed + 2, rows * nKvHeads * d);
    const invFreq = invFreqs(d);
    const shape = { nHeads, nKvHeads, headDim: d, capacity, cacheF16: f16, slotBase };

    const wantQ = q.slice();
    const wantK = new Float32Array(nKvHeads * capacity * d).fill(NaN);
    const wantV = wantK.slice();
    ropeKvRef(wantQ, wantK, wantV, k, v, invFreq, shape, rows, pos);

    const op = await createRopeKv(gpu, shape);
    const cacheWords = (nKvHeads * capacity * d) / (f16 ? 2 : 1);
    const qBuf = uploadStorage(gpu, new Float32Array(q.length));
    const kCache = uploadStorage(gpu, new Uint32Array(cacheWords));
    const vCache = uploadStorage(gpu, new Uint32Array(cacheWords));
    poison(gpu, qBuf);
    poison(gpu, kCache);
    poison(gpu, vCache);
    const [qw, kw] = [nHeads * d, nKvHeads * d];
    let sources;
    if (fused) {
      const n = qw + 2 * kw;
      const all = new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) {
        all.set(q.subarray(r * qw, (r + 1) * qw), r * n);
        all.set(k.subarray(r * kw, (r + 1) * kw), r * n + qw);
        all.set(v.subarray(r * kw, (r + 1) * kw), r * n + qw + kw);
      }
      const buffer = uploadStorage(gpu, all);
      sources = { qIn: { buffer, stride: n, offset: 0 }, k: { buffer, stride: n, offset: qw }, v: { buffer, stride: n, offset: qw + kw } };
    } else {
      sources = { qIn: uploadStorage(gpu, q), k: uploadStorage(gpu, k), v: uploadStorage(gpu, v) };
    }
    const bound = op.bind({
      q: qBuf,
      kCache,
      vCache,
      ...sources,
      invFreq: uploadStorage(gpu, invFreq),
      step: createStep(gpu, { rows, pos, kvLen: pos + rows }),
    });
    await runPass(gpu, (pass) => bound.encode(pass, rows));

    expect(relError(await readF32(gpu, qBuf, q.length), wantQ)).toBeLessThan(2e-6);
    const tol = f16 ? 2e-3 : 2e-6;
    for (const [buf, want] of [
      [kCache, wantK],
      [vCache, wantV],
    ] as const) {
      const words = await readU32(gpu, buf, cacheWords);
      const got = unpackCache(words, f16);
      // Written slots match; every other word still holds the poison.
      for (let h = 0; h < nKvHeads; h++) {
        const lo = (h * capacity + pos - slotBase) * d;
        const hi = lo + rows * d;
        expect(relError(got.subarray(lo, hi), want.subarray(lo, hi))).toBeLessThan(tol);
      }
      const written = (w: number) => {
        const t = Math.floor((w * (f16 ? 2 : 1)) / d) % capacity;
        return t >= pos - slotBase && t < pos - slotBase + rows;
      };
      let untouched = 0;
      let others = 0;
      for (let w = 0; w < cacheWords; w++) {
        if (written(w)) continue;
        others++;
        if (words[w] === 0x7fc00000) untouched++;
      }
      expect(untouched).toBe(others);
    }
  });
});
