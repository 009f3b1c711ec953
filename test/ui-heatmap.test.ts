import { describe, expect, it } from 'vitest';
import { cellAt, clampView, fitView, GridPainter, zoomAt, type GridView } from '../src/ui/heatmap/grid';
import { LUT, meanWidthColor, WIDTH_COLORS } from '../src/ui/heatmap/palette';
import { checkReport, summarize, tokenStats, widthsAtToken } from '../src/ui/heatmap/report-data';
import type { CacheReport } from '../src/worker/api';

function pixel(out: Uint8ClampedArray, w: number, x: number, y: number): number[] {
  const o = (y * w + x) * 4;
  return [out[o], out[o + 1], out[o + 2]];
}

/** 2 layers × 2 heads, T tokens; width of (row, t) = WIDTHS[(row + t) % 5]. */
export function syntheticReport(T: number, headDim = 8): CacheReport {
  const W = [0, 2, 4, 8, 16];
  const rows = 4;
  const v = new Uint8Array(rows * T);
  for (let r = 0; r < rows; r++) for (let t = 0; t < T; t++) v[r * T + t] = W[(r + t) % 5];
  const k = new Uint8Array(rows * headDim);
  for (let i = 0; i < k.length; i++) k[i] = W[i % 5];
  return {
    policy: 'rdkv', nLayers: 2, nKvHeads: 2, T, headDim, vWidths: v, kWidths: k,
    fullBytes: 2 * rows * T * headDim * 2, compressedBytes: rows * T * headDim, retention: 0.25,
    predictedDistortion: Float32Array.from([0.01, 0.02, 0.03, 0.04]),
  };
}

describe('heatmap painter', () => {
  it('paints each cell in its width colour when zoomed in (0 is red)', () => {
    const r = syntheticReport(10);
    const p = new GridPainter({ rows: 4, cols: 10, data: r.vWidths });
    const w = 40, h = 16;
    const out = new Uint8ClampedArray(w * h * 4);
    const view: GridView = { col0: 0, colsPerPx: 0.25, row0: 0, rowPx: 4 }; // 4 px per cell
    p.paint(view, out, w, h);
    for (let row = 0; row < 4; row++) {
      for (let t = 0; t < 10; t++) {
        const width = r.vWidths[row * 10 + t];
        expect(pixel(out, w, t * 4 + 1, row * 4 + 2)).toEqual([...WIDTH_COLORS[width]]);
      }
    }
    expect(pixel(out, w, 0, 0)).toEqual([...WIDTH_COLORS[0]]); // row 0, token 0 is evicted
  });

  it('averages colours when zoomed out, through the pyramid for wide spans', () => {
    const cols = 1 << 14;
    const data = new Uint8Array(cols);
    data.fill(16, 0, cols / 2); // left half full precision, right half evicted
    const p = new GridPainter({ rows: 1, cols, data });
    const w = 64;
    const out = new Uint8ClampedArray(w * 4);
    p.paint(fitView({ rows: 1, cols }, w, 1), out, w, 1);
    expect(pixel(out, w, 0, 0)).toEqual([...WIDTH_COLORS[16]]);
    expect(pixel(out, w, 63, 0)).toEqual([...WIDTH_COLORS[0]]);
    // A pixel that straddles both halves mixes them.
    const mid = new Uint8ClampedArray(4);
    p.paint({ col0: cols / 2 - 128, colsPerPx: 256, row0: 0, rowPx: 1 }, mid, 1, 1);
    const want = [0, 1, 2].map((i) => Math.round((WIDTH_COLORS[16][i] + WIDTH_COLORS[0][i]) / 2));
    for (let i = 0; i < 3; i++) expect(Math.abs(mid[i] - want[i])).toBeLessThanOrEqual(1);
  });

  it('paints 128K tokens × 256 rows quickly once the pyramid exists', () => {
    const T = 131072, rows = 256;
    const data = new Uint8Array(T * rows);
    for (let i = 0; i < data.length; i++) data[i] = [0, 2, 4, 8, 16][i % 5];
    const p = new GridPainter({ rows, cols: T, data });
    const out = new Uint8ClampedArray(1000 * 256 * 4);
    p.paint(fitView({ rows, cols: T }, 1000, 1), out, 1000, 256);
    const t0 = performance.now();
    for (let z = 0; z < 10; z++) p.paint({ col0: z * 1000, colsPerPx: T / 1000 / (z + 1), row0: 0, rowPx: 1 }, out, 1000, 256);
    expect((performance.now() - t0) / 10).toBeLessThan(60);
  });

  it('maps pixels to cells, zooms at an anchor and clamps the view', () => {
    const g = { rows: 8, cols: 1000 };
    const v = fitView(g, 100, 5);
    expect(v.colsPerPx).toBe(10);
    expect(cellAt(v, g, 55, 12)).toEqual({ row: 2, col: 550 });
    expect(cellAt(v, g, 100, 0)).toBeNull();
    const z = zoomAt(v, 4, 50);
    expect(z.colsPerPx).toBe(2.5);
    expect(z.col0 + 50 * z.colsPerPx).toBeCloseTo(500); // the anchor column stays under the cursor
    const c = clampView({ ...z, col0: -100 }, g, 100, 40);
    expect(c.col0).toBe(0);
    expect(clampView({ ...z, colsPerPx: 1e6 }, g, 100, 40).colsPerPx).toBe(10);
    expect(clampView({ ...z, col0: 5000 }, g, 100, 40).col0).toBe(1000 - 250);
  });

  it('lut covers every width', () => {
    for (const w of [0, 2, 4, 8, 16]) expect([...LUT.subarray(w * 3, w * 3 + 3)]).toEqual([...WIDTH_COLORS[w]]);
    expect(meanWidthColor(0)).toEqual(WIDTH_COLORS[0]);
    expect(meanWidthColor(16)).toEqual(WIDTH_COLORS[16]);
  });
});

describe('report data', () => {
  it('per-token mean, evicted fraction, widths per head, summary', () => {
    const r = syntheticReport(5);
    checkReport(r);
    const s = tokenStats(r);
    // token 0: rows 0..3 → widths 0,2,4,8
    expect(s.mean[0]).toBeCloseTo(3.5);
    expect(s.evicted[0]).toBeCloseTo(0.25);
    expect([...widthsAtToken(r, 1)]).toEqual([2, 4, 8, 16]);
    const sum = summarize(r);
    expect(sum.meanDistortion).toBeCloseTo(0.025);
    expect(sum.vShare.reduce((a, b) => a + b)).toBeCloseTo(1);
    expect(sum.vShare[0]).toBeCloseTo(0.2);
    expect(() => checkReport({ ...r, T: 6 })).toThrow(/vWidths/);
  });
});
