import { describe, expect, it } from 'vitest';
import { layoutBytes } from '../src/rdkv/bytes';
import { packHead, unpackHead } from '../src/rdkv/cache';
import { HEADER_FIELDS, encodeHeader, layoutSpans, planLayout, type HeadLayout } from '../src/rdkv/layout';
import { quantParams } from '../src/rdkv/quantize';
import { f16BitsToF32, f32ToF16Bits } from '../src/ref/pack';
import { randn, rng } from '../src/ref/random';

function randomBits(seed: number, n: number, choices: number[]): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => choices[Math.floor(r() * choices.length)]);
}

function expectConsistent(l: HeadLayout): void {
  // spans tile [0, totalWords) in arena order without gaps or overlaps
  let off = 0;
  for (const [name, s] of layoutSpans(l)) {
    expect(s.offsetWords, name).toBe(off);
    expect(s.words, name).toBeGreaterThanOrEqual(0);
    off += s.words;
  }
  expect(off).toBe(l.totalWords);
  expect(l.zoneC.offsetWords).toBe(l.totalWords);
  expect(layoutBytes(l).total).toBe(4 * l.totalWords);
}

describe('rdkv cache layout', () => {
  const T = 97;
  const d = 24;
  const vBits = randomBits(1, T, [0, 0, 2, 4, 8, 16]);
  const kBits = randomBits(2, d, [0, 2, 4, 8, 16]);

  it('slots: zone A segments 2, 4, 8 then zone B, original order inside each', () => {
    const l = planLayout({ vBits, kBits });
    expectConsistent(l);
    const want: number[] = [];
    for (const b of [2, 4, 8, 16]) for (let t = 0; t < T; t++) if (vBits[t] === b) want.push(t);
    expect(Array.from(l.keptPositions)).toEqual(want);
    expect(l.kept).toBe(want.length);
    expect(l.nQ).toBe(l.kept);
    let slot = 0;
    for (const s of l.vSegments) {
      expect(s.firstSlot).toBe(slot);
      expect(Array.from(s.positions).every((t) => vBits[t] === s.bits)).toBe(true);
      expect(s.wordsPerRow).toBe(Math.ceil((d * s.bits) / 32));
      expect(s.codes.words).toBe(s.count * s.wordsPerRow);
      expect(s.scales.words).toBe(s.count);
      expect(s.zeros.words).toBe(Math.ceil(s.count / 4));
      slot += s.count;
    }
    expect(l.zoneB.firstSlot).toBe(slot);
    expect(l.zoneB.v.words).toBe((l.zoneB.count * d) / 2);
    expect(l.zoneB.k.words).toBe(0);
  });

  it('K permutation groups stored widths 8 (from 16 and 8), 4, 2; 0-bit channels dropped', () => {
    const l = planLayout({ vBits, kBits });
    const want: number[] = [];
    for (const g of [[16, 8], [4], [2]]) for (let c = 0; c < d; c++) if (g.includes(kBits[c])) want.push(c);
    expect(Array.from(l.k.perm)).toEqual(want);
    expect(l.k.dStored).toBe(want.length);
    for (let c = 0; c < d; c++) expect(l.k.storedBits[c]).toBe(kBits[c] === 16 ? 8 : kBits[c]);
    let first = 0;
    for (const g of l.k.groups) {
      expect(g.firstChannel).toBe(first);
      expect(Array.from(l.k.perm.subarray(first, first + g.channels)).every((c) => l.k.storedBits[c] === g.bits)).toBe(true);
      expect(g.codes.words).toBe(l.nQ * Math.ceil((g.channels * g.bits) / 32));
      first += g.channels;
    }
    expect(l.k.scales.words).toBe(l.k.dStored);
    expect(l.k.zeros.words).toBe(Math.ceil(l.k.dStored / 4));
  });

  it('header carries counts and the word offset of every array', () => {
    const l = planLayout({ vBits, kBits, storePositions: true, zoneCCapacity: 64 });
    expectConsistent(l);
    const h = encodeHeader(l);
    expect(h.length).toBe(HEADER_FIELDS.length);
    const f = (name: (typeof HEADER_FIELDS)[number]) => h[HEADER_FIELDS.indexOf(name)];
    expect(f('T')).toBe(T);
    expect(f('kept')).toBe(l.kept);
    expect(f('countV4')).toBe(l.vSegments[1].count);
    expect(f('channelsK2')).toBe(l.k.groups[2].channels);
    expect(f('offVCodes8')).toBe(l.vSegments[2].codes.offsetWords);
    expect(f('offPositions')).toBe(l.positions.offsetWords);
    expect(f('offZoneC')).toBe(l.totalWords);
    expect(f('flags')).toBe(2);
    expect(l.positions.words).toBe(l.kept);
    expect(l.zoneC).toEqual({ offsetWords: l.totalWords, capacity: 64, wordsPerToken: d });
  });

  it('K token groups: (ceil(nQ / G), dStored) scales and zeros', () => {
    const l = planLayout({ vBits, kBits, tokenGroup: 16 });
    expectConsistent(l);
    expect(l.nTokenGroups).toBe(Math.ceil(l.nQ / 16));
    expect(l.k.scales.words).toBe(l.nTokenGroups * l.k.dStored);
    expect(l.k.zeros.words).toBe(Math.ceil((l.nTokenGroups * l.k.dStored) / 4));
  });

  it('plain layout (everything 16 bits, K at f16): no metadata at all', () => {
    const l = planLayout({ vBits: new Uint8Array(T).fill(16), kBits: new Uint8Array(d).fill(16), kFullInZoneB: true });
    expectConsistent(l);
    expect(l.plain).toBe(true);
    expect(l.totalWords).toBe(T * d);
    expect(layoutBytes(l).metadata).toBe(0);
    expect(encodeHeader(l).length).toBe(0);
  });

  it('rejects widths outside {0, 2, 4, 8, 16}', () => {
    expect(() => planLayout({ vBits: Uint8Array.of(3), kBits: Uint8Array.of(8) })).toThrow();
    expect(() => planLayout({ vBits: Uint8Array.of(2), kBits: Uint8Array.of(1) })).toThrow();
  });
});

describe('rdkv packed cache (CPU reference)', () => {
  const T = 83;
  const d = 32;
  const k = randn(21, T * d, 2);
  const v = randn(22, T * d);
  const vBits = randomBits(3, T, [0, 2, 4, 8, 16]);
  const kBits = randomBits(4, d, [0, 2, 4, 8, 16]);
  const f16 = (x: number) => f16BitsToF32(f32ToF16Bits(x));

  it.each([
    [false, undefined],
    [false, 16],
    [true, undefined],
  ])('kFullInZoneB=%s tokenGroup=%s: round trip within the quantiser bound', (kFullInZoneB, tokenGroup) => {
    const l = planLayout({ vBits, kBits, kFullInZoneB, tokenGroup, storePositions: true });
    const arena = packHead(l, k, v);
    expect(arena.length).toBe(l.totalWords);
    expect(Array.from(arena.subarray(l.header.offsetWords, l.header.offsetWords + l.header.words))).toEqual(Array.from(encodeHeader(l)));
    expect(Array.from(arena.subarray(l.positions.offsetWords, l.positions.offsetWords + l.kept))).toEqual(Array.from(l.keptPositions));
    const back = unpackHead(l, arena);
    let bad = 0;
    for (let s = 0; s < l.kept; s++) {
      const t = l.keptPositions[s];
      // V: zone B at f16, zone A within s/2 of its token's range
      const row = v.subarray(t * d, (t + 1) * d);
      if (vBits[t] === 16) {
        for (let c = 0; c < d; c++) if (back.v[s * d + c] !== f16(row[c])) bad++;
      } else {
        const { scale } = quantParams(Math.min(...row), Math.max(...row), vBits[t]);
        for (let c = 0; c < d; c++) if (Math.abs(back.v[s * d + c] - row[c]) > scale * 0.5001) bad++;
      }
      for (let c = 0; c < d; c++) {
        const x = k[t * d + c];
        const got = back.k[s * d + c];
        if (s >= l.nQ) {
          if (got !== f16(x)) bad++;
        } else if (kBits[c] === 0) {
          if (got !== 0) bad++;
        } else {
          // the channel's group: quantised slots [g·G, (g+1)·G)
          const G = l.tokenGroup;
          const g0 = Math.floor(s / G) * G;
          const vals = Array.from({ length: Math.min(G, l.nQ - g0) }, (_, i) => k[l.keptPositions[g0 + i] * d + c]);
          const mn = Math.min(...vals);
          const mx = Math.max(...vals);
          const dist = mn > 0 ? mn : mx < 0 ? -mx : 0;
          const { scale } = quantParams(mn, mx, kBits[c] === 16 ? 8 : kBits[c]);
          if (Math.abs(got - x) > scale * 0.5001 + dist) bad++;
        }
      }
    }
    expect(bad).toBe(0);
  });
});
