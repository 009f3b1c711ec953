import { describe, expect, it } from 'vitest';
import type { Llama3RopeScaling } from '../src/model/config';
import { inverseFrequencies } from '../src/model/rope-freqs';

function relErr(got: ArrayLike<number>, want: readonly number[]): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.abs(want[i]));
  return worst;
}

function llama3(factor: number, low: number, high: number, original: number): Llama3RopeScaling {
  return { type: 'llama3', factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: original };
}

describe('inverseFrequencies', () => {
  it.each([
    [64, 10000],
    [128, 500000],
    [80, 1000000],
    [6, 10000],
  ])('head dim %i, base %i: 1 / base^(2i/d) to float32 precision', (d, base) => {
    const got = inverseFrequencies({ headDim: d, ropeTheta: base, ropeScaling: null });
    const want = Array.from({ length: d / 2 }, (_, i) => 1 / Math.pow(base, (2 * i) / d));
    // Three float32 roundings (exponent, power, reciprocal) stay within a few 1e-7.
    expect(relErr(got, want)).toBeLessThan(5e-7);
    expect(got[0]).toBe(1);
  });

  it('is exactly the float32 rounding of 1, 0.1, 0.01, 0.001 for d=8, base 10000', () => {
    const got = inverseFrequencies({ headDim: 8, ropeTheta: 10000, ropeScaling: null });
    expect(Array.from(got)).toEqual([1, 0.1, 0.01, 0.001].map(Math.fround));
  });

  // d=8, base 10000: inv = [1, 0.1, 0.01, 0.001], wavelengths 2π/inv = [6.283, 62.83, 628.3, 6283].
  it('llama3: high band kept, medium band blended, low band divided by factor', () => {
    // factor 4, low 1, high 8, original 64: low-frequency wavelength 64/1 = 64, high-frequency 64/8 = 8.
    //   6.283 < 8            → kept:      1
    //   8 <= 62.83 <= 64     → medium:    s = (64/62.83 - 1)/(8 - 1) = (3.2/π - 1)/7 = 0.0026559479697
    //                                     (1 - s)·0.1/4 + s·0.1 = 0.025 + 0.075·s = 0.0251991960977
    //   628.3, 6283 > 64     → /4:        0.0025, 0.00025
    const got = inverseFrequencies({ headDim: 8, ropeTheta: 10000, ropeScaling: llama3(4, 1, 8, 64) });
    expect(relErr(got, [1, 0.02519919609773, 0.0025, 0.00025])).toBeLessThan(1e-6);
  });

  it('llama3: the first frequency in the medium band', () => {
    // factor 8, low 1, high 4, original 16: wavelengths 16 and 4.
    //   4 <= 6.283 <= 16     → s = (16/2π - 1)/3 = (8/π - 1)/3 = 0.5154930298234
    //                          (1 - s)·1/8 + s·1 = 0.125 + 0.875·s = 0.5760564010955
    //   62.83, 628.3, 6283   → /8: 0.0125, 0.00125, 0.000125
    const got = inverseFrequencies({ headDim: 8, ropeTheta: 10000, ropeScaling: llama3(8, 1, 4, 16) });
    expect(relErr(got, [0.57605640109551, 0.0125, 0.00125, 0.000125])).toBeLessThan(1e-6);
  });

  it('llama3 at Llama 3.1 settings matches the formula in float64', () => {
    const s = llama3(8, 1, 4, 8192);
    const got = inverseFrequencies({ headDim: 128, ropeTheta: 500000, ropeScaling: s });
    const want = Array.from({ length: 64 }, (_, i) => {
      const inv = 1 / Math.pow(500000, (2 * i) / 128);
      const wavelen = (2 * Math.PI) / inv;
      if (wavelen < 8192 / 4) return inv;
      if (wavelen > 8192 / 1) return inv / 8;
      const smooth = (8192 / wavelen - 1) / (4 - 1);
      return ((1 - smooth) * inv) / 8 + smooth * inv;
    });
    expect(relErr(got, want)).toBeLessThan(1e-6);
    // All three bands occur at these settings.
    expect(got[0]).toBe(1);
    expect(got[63]).toBeCloseTo(want[63], 12);
  });
});
