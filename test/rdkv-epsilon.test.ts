import { describe, expect, it } from 'vitest';
import { EPS_K_DEFAULT, EPS_V_DEFAULT, measureEpsilon, thresholdLadder, validateEpsilon, widthIndex } from '../src/rdkv/epsilon';
import { quantizeMatrix } from '../src/rdkv/quantize';
import { randn } from '../src/ref/random';

describe('rdkv threshold ladder', () => {
  it('default V table: 0→2 above 2.911, 2→4 above 6.692, 4→8 above 287, 8→16 above 1.65e5', () => {
    const { widths, thresholds } = thresholdLadder(EPS_V_DEFAULT);
    expect(widths).toEqual([0, 2, 4, 8, 16]);
    expect(thresholds[0]).toBeCloseTo(2.911, 3);
    expect(thresholds[1]).toBeCloseTo(6.692, 3);
    expect(thresholds[2]).toBeCloseTo(287.0, 1);
    expect(thresholds[3] / 1.65e5).toBeCloseTo(1, 2);
  });

  it('default K table', () => {
    const { widths, thresholds } = thresholdLadder(EPS_K_DEFAULT);
    expect(widths).toEqual([0, 2, 4, 8, 16]);
    expect(thresholds[0]).toBeCloseTo(2 / (1 - 0.14894), 9);
    expect(thresholds[1]).toBeCloseTo(2 / (0.14894 - 0.0062426), 9);
    expect(thresholds[2]).toBeCloseTo(4 / (0.0062426 - 2.18e-5), 6);
    expect(thresholds[3]).toBeCloseTo(8 / 2.18e-5, 2);
  });

  it('skips widths off the lower convex hull and stops where ε stops decreasing', () => {
    // ε(4) above the chord from (2, 0.3) to (8, 0.01): 4 bits is never chosen
    const a = thresholdLadder([1, 0.3, 0.25, 0.01, 0]);
    expect(a.widths).toEqual([0, 2, 8, 16]);
    expect(a.thresholds[1]).toBeCloseTo(6 / 0.29, 9);
    // ε(8) = ε(16) = 0: 16 bits never pays for λ > 0
    const b = thresholdLadder([1, 0.3, 0.02, 0, 0]);
    expect(b.widths).toEqual([0, 2, 4, 8]);
    for (let i = 1; i < a.thresholds.length; i++) expect(a.thresholds[i]).toBeGreaterThan(a.thresholds[i - 1]);
  });

  it('rejects malformed tables', () => {
    expect(() => validateEpsilon([1, 0.3, 0.01, 0])).toThrow();
    expect(() => validateEpsilon([1, NaN, 0.01, 0.001, 0])).toThrow();
    expect(() => validateEpsilon([1, -0.1, 0.01, 0.001, 0])).toThrow();
    expect(() => widthIndex(3)).toThrow();
  });
});

describe('rdkv measured ε', () => {
  it('matches a direct computation of the normalised MSE (V per token)', () => {
    const rows = 37;
    const cols = 64;
    const x = randn(11, rows * cols, 1.7);
    const eps = measureEpsilon(x, rows, cols, { kind: 'token' });
    expect(eps[0]).toBe(1);
    expect(eps[4]).toBe(0);
    for (const b of [2, 4, 8]) {
      const xh = quantizeMatrix(x, rows, cols, b, { kind: 'token' }).dequantize();
      let err = 0;
      let vr = 0;
      for (let r = 0; r < rows; r++) {
        let m = 0;
        for (let c = 0; c < cols; c++) m += x[r * cols + c] / cols;
        for (let c = 0; c < cols; c++) {
          err += (x[r * cols + c] - xh[r * cols + c]) ** 2;
          vr += (x[r * cols + c] - m) ** 2;
        }
      }
      expect(eps[widthIndex(b)]).toBeCloseTo(err / vr, 10);
    }
    // Gaussian data lands near the calibrated table, strictly decreasing
    expect(eps[1]).toBeGreaterThan(0.1);
    expect(eps[1]).toBeLessThan(0.4);
    expect(eps[2]).toBeLessThan(eps[1] / 10);
    expect(eps[3]).toBeLessThan(eps[2] / 100);
    expect(thresholdLadder(eps).widths).toEqual([0, 2, 4, 8, 16]);
  });

  it('K per channel, with token groups', () => {
    const rows = 300;
    const cols = 16;
    const x = randn(12, rows * cols);
    const all = measureEpsilon(x, rows, cols, { kind: 'channel' }, EPS_K_DEFAULT);
    const grouped = measureEpsilon(x, rows, cols, { kind: 'channel', tokenGroup: 128 }, EPS_K_DEFAULT);
    // smaller groups have smaller ranges: less error
    for (let i = 1; i < 4; i++) expect(grouped[i]).toBeLessThan(all[i]);
  });

  it('falls back to the given table when the data has no variance', () => {
    const x = new Float32Array(4 * 8);
    for (let r = 0; r < 4; r++) x.fill(r + 1, r * 8, (r + 1) * 8); // each token constant
    expect(measureEpsilon(x, 4, 8, { kind: 'token' }, EPS_K_DEFAULT)).toEqual([...EPS_K_DEFAULT]);
  });
});
