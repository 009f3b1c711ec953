/**
 * What the engine reports per (layer, KV head) after compression, and layer/model summaries.
 */
import type { ByteBreakdown } from './bytes';
import { WIDTHS, type Width } from './epsilon';
import type { Distortion, HeadPlan, Policy } from './policies';

export type WidthHistogram = Record<Width, number>;

export interface HeadReport {
  layer: number;
  kvHead: number;
  policy: Policy;
  T: number;
  d: number;
  budgetTokens: number;
  /** (T) V width of every prompt token, 0 = evicted. */
  vBits: Uint8Array;
  /** (d) allocated K width of every channel. */
  kBits: Uint8Array;
  /** (d) stored K width of every channel (16 = f16, 0 = dropped). */
  kStoredBits: Uint8Array;
  /** (kept) original positions of the kept tokens, slot order. */
  keptPositions: Uint32Array;
  keptTokens: number;
  bytesBefore: number;
  /** Compressed bytes, metadata included. */
  bytesAfter: number;
  bytesMetadata: number;
  breakdown: ByteBreakdown;
  /** bytesAfter / bytesBefore. */
  retention: number;
  distortion: Distortion;
  withinBudget: boolean;
  vHistogram: WidthHistogram;
  kHistogram: WidthHistogram;
}

export interface LayerReport {
  layer: number;
  heads: HeadReport[];
}

export interface ReportSummary {
  heads: number;
  bytesBefore: number;
  bytesAfter: number;
  bytesMetadata: number;
  retention: number;
  /** Mean V width over every prompt token of every head (0 for evicted ones). */
  meanVBits: number;
  /** Fraction of prompt tokens (over heads) kept. */
  keptFraction: number;
  distortion: Distortion;
  vHistogram: WidthHistogram;
  kHistogram: WidthHistogram;
}

/** Counts of each width in {0, 2, 4, 8, 16}; throws on any other value. */
export function widthHistogram(bits: ArrayLike<number>): WidthHistogram {
  const h = { 0: 0, 2: 0, 4: 0, 8: 0, 16: 0 } as WidthHistogram;
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i] as Width;
    if (!(WIDTHS as readonly number[]).includes(b)) throw new Error(`rdkv: ${b} is not a width`);
    h[b]++;
  }
  return h;
}

export function headReport(layer: number, p: HeadPlan): HeadReport {
  return {
    layer,
    kvHead: p.kvHead,
    policy: p.policy,
    T: p.T,
    d: p.d,
    budgetTokens: p.budgetTokens,
    vBits: p.vBits,
    kBits: p.kBits,
    kStoredBits: p.kStoredBits,
    keptPositions: p.layout.keptPositions,
    keptTokens: p.layout.kept,
    bytesBefore: p.bytes.full,
    bytesAfter: p.bytes.total,
    bytesMetadata: p.bytes.metadata,
    breakdown: p.bytes,
    retention: p.bytes.retention,
    distortion: p.distortion,
    withinBudget: p.withinBudget,
    vHistogram: widthHistogram(p.vBits),
    kHistogram: widthHistogram(p.kStoredBits),
  };
}

export function layerReport(layer: number, plans: readonly HeadPlan[]): LayerReport {
  return { layer, heads: plans.map((p) => headReport(layer, p)) };
}

export function summarize(reports: readonly HeadReport[]): ReportSummary {
  const s: ReportSummary = {
    heads: reports.length,
    bytesBefore: 0,
    bytesAfter: 0,
    bytesMetadata: 0,
    retention: 1,
    meanVBits: 0,
    keptFraction: 0,
    distortion: { v: 0, k: 0, total: 0 },
    vHistogram: { 0: 0, 2: 0, 4: 0, 8: 0, 16: 0 },
    kHistogram: { 0: 0, 2: 0, 4: 0, 8: 0, 16: 0 },
  };
  let tokens = 0;
  let bitSum = 0;
  let kept = 0;
  for (const r of reports) {
    s.bytesBefore += r.bytesBefore;
    s.bytesAfter += r.bytesAfter;
    s.bytesMetadata += r.bytesMetadata;
    s.distortion.v += r.distortion.v;
    s.distortion.k += r.distortion.k;
    s.distortion.total += r.distortion.total;
    for (const w of WIDTHS) {
      s.vHistogram[w] += r.vHistogram[w];
      s.kHistogram[w] += r.kHistogram[w];
      bitSum += w * r.vHistogram[w];
    }
    tokens += r.T;
    kept += r.keptTokens;
  }
  s.retention = s.bytesBefore > 0 ? s.bytesAfter / s.bytesBefore : 1;
  s.meanVBits = tokens > 0 ? bitSum / tokens : 0;
  s.keptFraction = tokens > 0 ? kept / tokens : 0;
  return s;
}
