import { describe, expect, it } from 'vitest';
import { SCALE_FLOOR, packCodes, quantParams, quantizeMatrix, roundHalfEven, unpackCodes, wordsPerRow } from '../src/rdkv/quantize';
import { randn, rng } from '../src/ref/random';

describe('rdkv quantizer', () => {
  it('rounds half to even, like WGSL round()', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, 2.4999, 2.5001, 7].map(roundHalfEven)).toEqual([0, 2, 2, 4, 0, -2, 2, 3, 7]);
  });

  /** (min, max) of every quantisation group, in the layout of q.scales. */
  function groupRanges(x: Float32Array, rows: number, cols: number, tokenGroup: number | undefined, token: boolean) {
    const tg = tokenGroup ?? rows;
    const n = token ? rows : Math.ceil(rows / tg) * cols;
    const mn = new Float64Array(n).fill(Infinity);
    const mx = new Float64Array(n).fill(-Infinity);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const p = token ? r : Math.floor(r / tg) * cols + c;
        mn[p] = Math.min(mn[p], x[r * cols + c]);
        mx[p] = Math.max(mx[p], x[r * cols + c]);
      }
    }
    return { mn, mx };
  }

  it.each([2, 4, 8, 16])('%i bits: |x - x̂| <= s/2 when the group range contains 0, else s/2 + dist(0, range)', (bits) => {
    const rows = 131; // the last 32-token group has 3 rows: some of its channels do not straddle 0
    const cols = 64;
    const x = randn(bits, rows * cols, 3);
    const L = 2 ** bits - 1;
    const slack = (L + 1) * 2 ** -22; // f32 rounding of x/s and of (q - z)·s, in units of s
    for (const grouping of [{ kind: 'token' as const }, { kind: 'channel' as const }, { kind: 'channel' as const, tokenGroup: 32 }]) {
      const q = quantizeMatrix(x, rows, cols, bits, grouping);
      const xh = q.dequantize();
      const { mn, mx } = groupRanges(x, rows, cols, 'tokenGroup' in grouping ? grouping.tokenGroup : undefined, grouping.kind === 'token');
      let straddling = 0;
      let bad = 0;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const p = grouping.kind === 'token' ? r : Math.floor(r / q.tokenGroup) * cols + c;
          const code = q.codes[r * cols + c];
          if (!(code >= 0 && code <= L)) bad++;
          const dist = mn[p] > 0 ? mn[p] : mx[p] < 0 ? -mx[p] : 0;
          if (dist === 0) straddling++;
          const err = Math.abs(x[r * cols + c] - xh[r * cols + c]);
          if (err > q.scales[p] * (0.5 + slack) + dist) bad++;
        }
      }
      expect(bad).toBe(0);
      expect(straddling).toBeGreaterThan(rows * cols * 0.9);
      for (let i = 0; i < q.scales.length; i++) expect(Math.fround(q.scales[i])).toBe(q.scales[i]);
    }
  });

  it('groups not containing 0 are clipped: |x - x̂| <= s/2 + dist(0, [min, max])', () => {
    const rows = 50;
    const cols = 32;
    const x = randn(5, rows * cols).map((v, i) => v + (i % 2 ? 6 : -6)); // rows all positive or all negative
    const q = quantizeMatrix(x, rows, cols, 4, { kind: 'channel' });
    const xh = q.dequantize();
    for (let c = 0; c < cols; c++) {
      let mn = Infinity;
      let mx = -Infinity;
      for (let r = 0; r < rows; r++) {
        mn = Math.min(mn, x[r * cols + c]);
        mx = Math.max(mx, x[r * cols + c]);
      }
      const dist = mn > 0 ? mn : mx < 0 ? -mx : 0;
      expect(dist).toBeGreaterThan(0);
      for (let r = 0; r < rows; r++) expect(Math.abs(x[r * cols + c] - xh[r * cols + c])).toBeLessThanOrEqual(q.scales[c] / 2 + dist + 1e-5);
    }
  });

  it('parameters follow rdkv.md §4 step by step in f32', () => {
    const { scale, zero } = quantParams(Math.fround(-1.3), Math.fround(2.2), 2);
    expect(scale).toBe(Math.fround(Math.fround(Math.fround(2.2) - Math.fround(-1.3)) / 3));
    expect(zero).toBe(roundHalfEven(Math.fround(Math.fround(1.3) / scale)));
    const flat = quantParams(0.25, 0.25, 8);
    expect(flat.scale).toBe(SCALE_FLOOR);
    expect(flat.zero).toBe(0);
    expect(() => quantParams(0, 1, 3)).toThrow();
  });

  it('channel groups of 128 tokens: one (s, z) per channel per group', () => {
    const rows = 300;
    const cols = 7;
    const x = randn(6, rows * cols);
    const q = quantizeMatrix(x, rows, cols, 4, { kind: 'channel', tokenGroup: 128 });
    expect(q.scales.length).toBe(3 * cols);
    for (let g = 0; g < 3; g++) {
      for (let c = 0; c < cols; c++) {
        let mn = Infinity;
        let mx = -Infinity;
        for (let r = g * 128; r < Math.min(rows, (g + 1) * 128); r++) {
          mn = Math.min(mn, x[r * cols + c]);
          mx = Math.max(mx, x[r * cols + c]);
        }
        const p = quantParams(mn, mx, 4);
        expect(q.scales[g * cols + c]).toBe(p.scale);
        expect(q.zeros[g * cols + c]).toBe(p.zero);
      }
    }
  });
});

describe('rdkv code packing', () => {
  it('code i of a word at bits [i·b, (i+1)·b)', () => {
    expect(Array.from(packCodes([1, 2, 3], 1, 3, 2))).toEqual([1 | (2 << 2) | (3 << 4)]);
    expect(Array.from(packCodes([0xa, 0xb], 1, 2, 4))).toEqual([0xba]);
    expect(Array.from(packCodes([0x11, 0x22, 0x33, 0xff, 0x44], 1, 5, 8))).toEqual([0xff332211, 0x44]);
    expect(Array.from(packCodes([0xffff, 1], 1, 2, 16))).toEqual([0x1ffff]);
    expect(() => packCodes([4], 1, 1, 2)).toThrow();
  });

  it.each([2, 4, 8, 16])('%i bits: round trip, rows padded to whole words', (bits) => {
    const r = rng(bits);
    for (const [rows, len] of [
      [3, 64],
      [5, 13],
      [1, 1],
      [4, 33],
    ]) {
      const codes = Uint16Array.from({ length: rows * len }, () => Math.floor(r() * 2 ** bits));
      const words = packCodes(codes, rows, len, bits);
      expect(words.length).toBe(rows * wordsPerRow(len, bits));
      expect(Array.from(unpackCodes(words, rows, len, bits))).toEqual(Array.from(codes));
      // with an offset inside a larger buffer
      const big = new Uint32Array(words.length + 9);
      big.set(words, 5);
      expect(Array.from(unpackCodes(big, rows, len, bits, 5))).toEqual(Array.from(codes));
    }
  });
});

describe("rdkv quantizer, 'float' zero points", () => {
  it.each([2, 4, 8])('%i bits: |x - x̂| <= s/2 for groups that do not span zero', (bits) => {
    const rows = 70;
    const cols = 24;
    // every channel offset far from 0 (post-RoPE K with a large mean), alternating sign
    const x = randn(40 + bits, rows * cols, 1.5).map((v, i) => v + ((i % cols) % 2 ? 9 : -7));
    for (const grouping of [{ kind: 'channel' as const }, { kind: 'channel' as const, tokenGroup: 16 }, { kind: 'token' as const }]) {
      const q = quantizeMatrix(x, rows, cols, bits, grouping, 'float');
      expect(q.zeros).toBeInstanceOf(Float32Array);
      const xh = q.dequantize();
      let bad = 0;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const p = grouping.kind === 'token' ? r : Math.floor(r / q.tokenGroup) * cols + c;
          const s = q.scales[p];
          // f32 rounding of x/s + z and of (q - z)·s, relative to the magnitude of z
          const slack = 4 * 2 ** -24 * (Math.abs(q.zeros[p]) + 2 ** bits);
          if (Math.abs(x[r * cols + c] - xh[r * cols + c]) > s * (0.5 + slack)) bad++;
        }
      }
      expect(bad).toBe(0);
      // the integer mode clips these groups
      if (grouping.kind === 'channel') {
        const qi = quantizeMatrix(x, rows, cols, bits, grouping);
        const xi = qi.dequantize();
        let worst = 0;
        for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - xi[i]));
        expect(worst).toBeGreaterThan(1);
      }
    }
  });

  it('z = f32(-min / s), neither rounded nor clamped', () => {
    const { scale, zero } = quantParams(Math.fround(3.3), Math.fround(5.1), 4, 'float');
    expect(zero).toBe(Math.fround(-Math.fround(3.3) / scale));
    expect(zero).toBeLessThan(0);
  });
});
