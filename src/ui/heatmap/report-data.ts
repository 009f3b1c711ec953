/** Derived views of a CacheReport: the V and K grids, per-token means, per-token widths, the summary. */
import { WIDTHS, type CacheReport } from '../../worker/api';
import type { WidthGrid } from './grid';

/** Throws when the arrays do not match the shape (a report from a mismatched engine). */
export function checkReport(r: CacheReport): void {
  const rows = r.nLayers * r.nKvHeads;
  const want = [
    ['vWidths', r.vWidths.length, rows * r.T],
    ['kWidths', r.kWidths.length, rows * r.headDim],
    ['predictedDistortion', r.predictedDistortion.length, rows],
  ] as const;
  for (const [name, got, expected] of want) {
    if (got !== expected) throw new RangeError(`cache report: ${name} has ${got} entries, expected ${expected}`);
  }
}

export const rowsOf = (r: CacheReport) => r.nLayers * r.nKvHeads;
export const vGrid = (r: CacheReport): WidthGrid => ({ rows: rowsOf(r), cols: r.T, data: r.vWidths });
export const kGrid = (r: CacheReport): WidthGrid => ({ rows: rowsOf(r), cols: r.headDim, data: r.kWidths });
export const rowLabel = (r: CacheReport, row: number) => `layer ${Math.floor(row / r.nKvHeads)}, head ${row % r.nKvHeads}`;

export interface TokenStats {
  /** Mean V width over all (layer, head). */
  mean: Float32Array;
  /** Fraction of (layer, head) that evicted the token. */
  evicted: Float32Array;
}

export function tokenStats(r: CacheReport): TokenStats {
  const rows = rowsOf(r);
  const sum = new Float64Array(r.T);
  const ev = new Uint32Array(r.T);
  for (let row = 0; row < rows; row++) {
    const base = row * r.T;
    for (let t = 0; t < r.T; t++) {
      const w = r.vWidths[base + t];
      sum[t] += w;
      if (w === 0) ev[t]++;
    }
  }
  const mean = new Float32Array(r.T);
  const evicted = new Float32Array(r.T);
  for (let t = 0; t < r.T; t++) {
    mean[t] = rows ? sum[t] / rows : 0;
    evicted[t] = rows ? ev[t] / rows : 0;
  }
  return { mean, evicted };
}

/** V widths of token t for every (layer, head), row order. */
export function widthsAtToken(r: CacheReport, t: number): Uint8Array {
  const rows = rowsOf(r);
  const out = new Uint8Array(rows);
  for (let row = 0; row < rows; row++) out[row] = r.vWidths[row * r.T + t];
  return out;
}

export interface ReportSummary {
  retention: number;
  fullBytes: number;
  compressedBytes: number;
  metadataBytes: number | null;
  meanDistortion: number;
  maxDistortion: number;
  /** Fraction of V cells at each width (WIDTHS order). */
  vShare: number[];
  /** Fraction of K cells at each width. */
  kShare: number[];
  meanVBits: number;
}

function shares(a: Uint8Array): number[] {
  const counts = new Map<number, number>(WIDTHS.map((w) => [w, 0]));
  for (let i = 0; i < a.length; i++) counts.set(a[i], (counts.get(a[i]) ?? 0) + 1);
  return WIDTHS.map((w) => (a.length ? (counts.get(w) ?? 0) / a.length : 0));
}

export function summarize(r: CacheReport): ReportSummary {
  let sum = 0;
  let max = 0;
  for (const d of r.predictedDistortion) {
    sum += d;
    max = Math.max(max, d);
  }
  let bits = 0;
  for (let i = 0; i < r.vWidths.length; i++) bits += r.vWidths[i];
  return {
    retention: r.retention,
    fullBytes: r.fullBytes,
    compressedBytes: r.compressedBytes,
    metadataBytes: r.metadataBytes ?? null,
    meanDistortion: r.predictedDistortion.length ? sum / r.predictedDistortion.length : 0,
    maxDistortion: max,
    vShare: shares(r.vWidths),
    kShare: shares(r.kWidths),
    meanVBits: r.vWidths.length ? bits / r.vWidths.length : 0,
  };
}
