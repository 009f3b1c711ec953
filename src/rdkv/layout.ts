/**
 * Compressed cache layout plan for one (layer, KV head) (rdkv.md §5). Everything lives in one u32
 * arena per head; every array is a Span (offset and length in u32 words inside that arena).
 *
 * Slots. Kept tokens (V width > 0) get slots 0..kept-1 in this order: zone A segment 2-bit, segment
 * 4-bit, segment 8-bit, then zone B (16-bit V); inside each, ascending original position.
 * keptPositions[slot] is the original prompt position (not needed by attention: RoPE is already in
 * K and zone C positions continue from T; it is for the heatmap and the reports).
 *
 * K. The first nQ slots have quantised K: nQ = kept normally (RDKV: zone B tokens' K is quantised
 * too), nQ = |zone A| when kFullInZoneB (baselines whose full-precision tokens keep f16 K). Stored
 * K channel width: allocated 16 → 8, 8 → 8, 4 → 4, 2 → 2, 0 → dropped. `perm` lists the original
 * channel of each stored channel: the 8-bit ones, then 4-bit, then 2-bit, ascending channel inside
 * each group; the query is permuted the same way (q'[j] = q[perm[j]]). Quantisation groups: per
 * stored channel over `tokenGroup` consecutive quantised slots (default all nQ).
 *
 * Arena, in order (shapes row-major; "u8×4" = four u8 per word, element i at bits [8(i%4), 8(i%4)+8);
 * "u16×2" likewise with 16-bit halves; f16 arrays are packed flat, element i in half i%2 of word i>>1):
 *   header          HEADER_FIELDS.length words (u32 each), see encodeHeader; absent in a plain layout
 *   kPerm           (dStored) u16×2
 *   kScales         (nTokenGroups, dStored) f32
 *   kZeros          (nTokenGroups, dStored) u8×4 ('integer' zero points) or f32 ('float', see quantize.ts)
 *   kCodes[b]       b = 8, 4, 2: (nQ, wordsPerRow(channels_b, b)) codes of the b-bit channels, in perm order
 *   vSegment[b]     b = 2, 4, 8: codes (count, wordsPerRow(d, b)), scales (count) f32, zeros (count) u8×4
 *                   ('integer') or f32 ('float')
 *   zoneB.v         (countB, d) f16
 *   zoneB.k         (countB, d) f16, only when kFullInZoneB
 *   positions       (kept) u32, only when storePositions
 * Zone C (tokens generated after compression, K and V at f16) follows at offset totalWords and is
 * described by capacity only; it is not part of the compressed bytes.
 *
 * A plain layout (no zone A, no quantised K: full cache, SnapKV, StreamingLLM, T <= B) has no header,
 * permutation, scales or zero points: just zone B's K and V at f16.
 */
import { wordsPerRow, type ZeroPoint } from './quantize';

export interface Span {
  offsetWords: number;
  words: number;
}

export const V_SEGMENT_WIDTHS = [2, 4, 8] as const;
export const K_GROUP_WIDTHS = [8, 4, 2] as const;

/** The u32 header fields, in order. */
export const HEADER_FIELDS = [
  'T',
  'kept',
  'nQ',
  'dStored',
  'tokenGroup',
  'countV2',
  'countV4',
  'countV8',
  'countB',
  'channelsK8',
  'channelsK4',
  'channelsK2',
  'flags', // bit 0: kFullInZoneB, bit 1: positions stored, bit 2: f32 ('float') zero points
  'offKPerm',
  'offKScales',
  'offKZeros',
  'offKCodes8',
  'offKCodes4',
  'offKCodes2',
  'offVCodes2',
  'offVScales2',
  'offVZeros2',
  'offVCodes4',
  'offVScales4',
  'offVZeros4',
  'offVCodes8',
  'offVScales8',
  'offVZeros8',
  'offZoneBV',
  'offZoneBK',
  'offPositions',
  'offZoneC',
] as const;

export interface LayoutInputs {
  /** (T) V width per prompt token, in {0, 2, 4, 8, 16}. */
  vBits: Uint8Array;
  /** (d) allocated K width per channel, in {0, 2, 4, 8, 16}; applies to the quantised-K slots. */
  kBits: Uint8Array;
  /** Zone B tokens keep f16 K instead of quantised K. Default false (RDKV). */
  kFullInZoneB?: boolean;
  /** Slots per K quantisation group; default all quantised slots (one group per channel). */
  tokenGroup?: number;
  /** Store keptPositions in the arena (counted as metadata). Default false. */
  storePositions?: boolean;
  /** Zone C capacity in tokens. Default 0. */
  zoneCCapacity?: number;
  /** Zero points: 'integer' (rdkv.md §4, u8) or 'float' (f32, unclamped). Default 'integer'. */
  zeroPoint?: ZeroPoint;
}

export interface VSegmentPlan {
  bits: 2 | 4 | 8;
  count: number;
  firstSlot: number;
  /** (count) original positions, ascending. */
  positions: Uint32Array;
  wordsPerRow: number;
  /** (count, wordsPerRow) packed codes. */
  codes: Span;
  /** (count) f32. */
  scales: Span;
  /** (count) u8×4, or f32 when zeroPoint is 'float'. */
  zeros: Span;
}

export interface KGroupPlan {
  bits: 8 | 4 | 2;
  channels: number;
  /** Index of the group's first channel in perm order. */
  firstChannel: number;
  wordsPerRow: number;
  /** (nQ, wordsPerRow) packed codes. */
  codes: Span;
}

export interface HeadLayout {
  T: number;
  d: number;
  plain: boolean;
  kFullInZoneB: boolean;
  zeroPoint: ZeroPoint;
  kept: number;
  /** Slots [0, nQ) have quantised K. */
  nQ: number;
  tokenGroup: number;
  nTokenGroups: number;
  /** (kept) original position of each slot. */
  keptPositions: Uint32Array;
  header: Span;
  /** Zone A, widths 2, 4, 8 (empty segments included). */
  vSegments: VSegmentPlan[];
  zoneB: {
    count: number;
    firstSlot: number;
    /** (count) original positions, ascending. */
    positions: Uint32Array;
    /** (count, d) f16 V. */
    v: Span;
    /** (count, d) f16 K, 0 words unless kFullInZoneB. */
    k: Span;
  };
  k: {
    /** (d) stored width per original channel: 8, 4, 2 or 0 (dropped or no quantised slots). */
    storedBits: Uint8Array;
    dStored: number;
    /** (dStored) original channel of each stored channel. */
    perm: Uint16Array;
    permSpan: Span;
    /** (nTokenGroups, dStored) f32. */
    scales: Span;
    /** (nTokenGroups, dStored) u8×4, or f32 when zeroPoint is 'float'. */
    zeros: Span;
    /** Widths 8, 4, 2 (empty groups included). */
    groups: KGroupPlan[];
  };
  /** (kept) u32, 0 words unless storePositions. */
  positions: Span;
  /** Words of the compressed arena (zone C excluded). */
  totalWords: number;
  zoneC: { offsetWords: number; capacity: number; wordsPerToken: number };
}

/** How an allocated K width is stored: 16 → 8, others as is. */
export function storedKWidth(bits: number): number {
  return bits === 16 ? 8 : bits;
}

export function planLayout(inp: LayoutInputs): HeadLayout {
  const { vBits, kBits } = inp;
  const T = vBits.length;
  const d = kBits.length;
  if (d > 65535) throw new Error(`rdkv: head dim ${d} does not fit the u16 permutation`);
  const kFullInZoneB = inp.kFullInZoneB ?? false;
  const storePositions = inp.storePositions ?? false;
  const zeroPoint = inp.zeroPoint ?? 'integer';
  if (zeroPoint !== 'integer' && zeroPoint !== 'float') throw new Error(`rdkv: zeroPoint must be 'integer' or 'float', got ${String(zeroPoint)}`);
  const zeroWords = (n: number) => (zeroPoint === 'float' ? n : Math.ceil(n / 4));

  const byWidth = new Map<number, number[]>([
    [2, []],
    [4, []],
    [8, []],
    [16, []],
  ]);
  for (let t = 0; t < T; t++) {
    const b = vBits[t];
    if (b === 0) continue;
    const list = byWidth.get(b);
    if (!list) throw new Error(`rdkv: V width ${b} of token ${t} is not in {0, 2, 4, 8, 16}`);
    list.push(t);
  }
  for (let c = 0; c < d; c++) {
    if (![0, 2, 4, 8, 16].includes(kBits[c])) throw new Error(`rdkv: K width ${kBits[c]} of channel ${c} is not in {0, 2, 4, 8, 16}`);
  }
  const zoneBPos = Uint32Array.from(byWidth.get(16) ?? []);
  const nA = V_SEGMENT_WIDTHS.reduce((s, b) => s + (byWidth.get(b)?.length ?? 0), 0);
  const kept = nA + zoneBPos.length;
  const nQ = kFullInZoneB ? nA : kept;
  const plain = nA === 0 && nQ === 0;

  // K channels
  const storedBits = new Uint8Array(d);
  const permList: number[] = [];
  const groupChannels: number[] = [];
  if (nQ > 0) {
    for (let c = 0; c < d; c++) storedBits[c] = storedKWidth(kBits[c]);
    for (const b of K_GROUP_WIDTHS) {
      let n = 0;
      for (let c = 0; c < d; c++) {
        if (storedBits[c] === b) {
          permList.push(c);
          n++;
        }
      }
      groupChannels.push(n);
    }
  } else {
    for (const _ of K_GROUP_WIDTHS) groupChannels.push(0);
  }
  const dStored = permList.length;
  const tokenGroup = inp.tokenGroup ?? Math.max(nQ, 1);
  if (!Number.isInteger(tokenGroup) || tokenGroup < 1) throw new Error(`rdkv: tokenGroup must be a positive integer, got ${tokenGroup}`);
  const nTokenGroups = nQ > 0 && dStored > 0 ? Math.ceil(nQ / tokenGroup) : 0;

  let off = 0;
  const take = (words: number): Span => {
    const s = { offsetWords: off, words };
    off += words;
    return s;
  };
  const header = take(plain ? 0 : HEADER_FIELDS.length);
  const permSpan = take(Math.ceil(dStored / 2));
  const kScales = take(nTokenGroups * dStored);
  const kZeros = take(zeroWords(nTokenGroups * dStored));
  const groups: KGroupPlan[] = [];
  let firstChannel = 0;
  K_GROUP_WIDTHS.forEach((b, i) => {
    const channels = groupChannels[i];
    const wpr = wordsPerRow(channels, b);
    groups.push({ bits: b, channels, firstChannel, wordsPerRow: wpr, codes: take(nQ * wpr) });
    firstChannel += channels;
  });
  const vSegments: VSegmentPlan[] = [];
  let slot = 0;
  const keptPositions = new Uint32Array(kept);
  for (const b of V_SEGMENT_WIDTHS) {
    const positions = Uint32Array.from(byWidth.get(b) ?? []);
    const count = positions.length;
    const wpr = wordsPerRow(d, b);
    keptPositions.set(positions, slot);
    vSegments.push({
      bits: b,
      count,
      firstSlot: slot,
      positions,
      wordsPerRow: wpr,
      codes: take(count * wpr),
      scales: take(count),
      zeros: take(zeroWords(count)),
    });
    slot += count;
  }
  keptPositions.set(zoneBPos, slot);
  const zoneB = {
    count: zoneBPos.length,
    firstSlot: slot,
    positions: zoneBPos,
    v: take(Math.ceil((zoneBPos.length * d) / 2)),
    k: take(kFullInZoneB ? Math.ceil((zoneBPos.length * d) / 2) : 0),
  };
  const positions = take(storePositions ? kept : 0);
  const totalWords = off;
  return {
    T,
    d,
    plain,
    kFullInZoneB,
    zeroPoint,
    kept,
    nQ,
    tokenGroup,
    nTokenGroups,
    keptPositions,
    header,
    vSegments,
    zoneB,
    k: { storedBits, dStored, perm: Uint16Array.from(permList), permSpan, scales: kScales, zeros: kZeros, groups },
    positions,
    totalWords,
    zoneC: { offsetWords: totalWords, capacity: inp.zoneCCapacity ?? 0, wordsPerToken: 2 * Math.ceil(d / 2) },
  };
}

/** The header words (HEADER_FIELDS order). Empty for a plain layout. */
export function encodeHeader(l: HeadLayout): Uint32Array {
  if (l.plain) return new Uint32Array(0);
  const [s2, s4, s8] = l.vSegments;
  const [g8, g4, g2] = l.k.groups;
  const values: Record<(typeof HEADER_FIELDS)[number], number> = {
    T: l.T,
    kept: l.kept,
    nQ: l.nQ,
    dStored: l.k.dStored,
    tokenGroup: l.tokenGroup,
    countV2: s2.count,
    countV4: s4.count,
    countV8: s8.count,
    countB: l.zoneB.count,
    channelsK8: g8.channels,
    channelsK4: g4.channels,
    channelsK2: g2.channels,
    flags: (l.kFullInZoneB ? 1 : 0) | (l.positions.words > 0 ? 2 : 0) | (l.zeroPoint === 'float' ? 4 : 0),
    offKPerm: l.k.permSpan.offsetWords,
    offKScales: l.k.scales.offsetWords,
    offKZeros: l.k.zeros.offsetWords,
    offKCodes8: g8.codes.offsetWords,
    offKCodes4: g4.codes.offsetWords,
    offKCodes2: g2.codes.offsetWords,
    offVCodes2: s2.codes.offsetWords,
    offVScales2: s2.scales.offsetWords,
    offVZeros2: s2.zeros.offsetWords,
    offVCodes4: s4.codes.offsetWords,
    offVScales4: s4.scales.offsetWords,
    offVZeros4: s4.zeros.offsetWords,
    offVCodes8: s8.codes.offsetWords,
    offVScales8: s8.scales.offsetWords,
    offVZeros8: s8.zeros.offsetWords,
    offZoneBV: l.zoneB.v.offsetWords,
    offZoneBK: l.zoneB.k.offsetWords,
    offPositions: l.positions.offsetWords,
    offZoneC: l.zoneC.offsetWords,
  };
  return Uint32Array.from(HEADER_FIELDS.map((f) => values[f]));
}

/** Every span of a layout with a name, in arena order (for tests and debugging). */
export function layoutSpans(l: HeadLayout): [string, Span][] {
  const out: [string, Span][] = [
    ['header', l.header],
    ['kPerm', l.k.permSpan],
    ['kScales', l.k.scales],
    ['kZeros', l.k.zeros],
  ];
  for (const g of l.k.groups) out.push([`kCodes${g.bits}`, g.codes]);
  for (const s of l.vSegments) out.push([`vCodes${s.bits}`, s.codes], [`vScales${s.bits}`, s.scales], [`vZeros${s.bits}`, s.zeros]);
  out.push(['zoneBV', l.zoneB.v], ['zoneBK', l.zoneB.k], ['positions', l.positions]);
  return out;
}
