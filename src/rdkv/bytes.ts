/**
 * Byte accounting of one head's compressed cache, every byte of the layout.ts arena counted
 * (u32 padding included):
 *   codes        packed K and V codes, rows padded to whole u32 words
 *   scales       f32, 4 bytes per group (V: per kept zone-A token; K: per stored channel per token group)
 *   zeros        u8 zero points (widths <= 8 only reach the cache), packed four per u32 word; f32 (one
 *                word each) when the layout's zeroPoint is 'float'
 *   permutation  u16 per stored K channel, two per word
 *   header       HEADER_FIELDS u32 words (counts and word offsets of every array); none in a plain layout
 *   positions    u32 per kept token, only when stored (not needed by attention)
 *   fullPrecision zone B V (and K when kFullInZoneB) at f16
 * Full cache of the same context: K and V of T tokens at 16 bits, 2·T·d·2 bytes. retention =
 * total / full, metadata included. Zone C (decode-time tokens) is not counted.
 */
import { HEADER_FIELDS, type HeadLayout } from './layout';

export interface ByteBreakdown {
  header: number;
  kPermutation: number;
  kScales: number;
  kZeros: number;
  kCodes: number;
  vScales: number;
  vZeros: number;
  vCodes: number;
  zoneBV: number;
  zoneBK: number;
  positions: number;
  /** header + permutation + scales + zeros + positions. */
  metadata: number;
  /** kCodes + vCodes. */
  codes: number;
  /** zoneBV + zoneBK. */
  fullPrecision: number;
  /** Everything: 4·layout.totalWords. */
  total: number;
  /** Full cache of the same T tokens: 2·T·d·2. */
  full: number;
  /** total / full (1 for T = 0). */
  retention: number;
}

/** K and V of T tokens at 16 bits, one head. */
export function fullCacheBytes(T: number, d: number): number {
  return 2 * T * d * 2;
}

export function layoutBytes(l: HeadLayout): ByteBreakdown {
  const w = (n: number) => 4 * n;
  const header = w(l.header.words);
  const kPermutation = w(l.k.permSpan.words);
  const kScales = w(l.k.scales.words);
  const kZeros = w(l.k.zeros.words);
  const kCodes = l.k.groups.reduce((s, g) => s + w(g.codes.words), 0);
  const vScales = l.vSegments.reduce((s, g) => s + w(g.scales.words), 0);
  const vZeros = l.vSegments.reduce((s, g) => s + w(g.zeros.words), 0);
  const vCodes = l.vSegments.reduce((s, g) => s + w(g.codes.words), 0);
  const zoneBV = w(l.zoneB.v.words);
  const zoneBK = w(l.zoneB.k.words);
  const positions = w(l.positions.words);
  const metadata = header + kPermutation + kScales + kZeros + vScales + vZeros + positions;
  const codes = kCodes + vCodes;
  const fullPrecision = zoneBV + zoneBK;
  const total = metadata + codes + fullPrecision;
  if (total !== w(l.totalWords)) throw new Error(`rdkv: byte accounting (${total}) disagrees with the layout (${w(l.totalWords)})`);
  const full = fullCacheBytes(l.T, l.d);
  return {
    header,
    kPermutation,
    kScales,
    kZeros,
    kCodes,
    vScales,
    vZeros,
    vCodes,
    zoneBV,
    zoneBK,
    positions,
    metadata,
    codes,
    fullPrecision,
    total,
    full,
    retention: full > 0 ? total / full : 1,
  };
}

/** Header bytes of a non-plain layout. */
export const HEADER_BYTES = 4 * HEADER_FIELDS.length;
