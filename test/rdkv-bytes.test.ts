import { describe, expect, it } from 'vitest';
import { HEADER_BYTES, fullCacheBytes, layoutBytes } from '../src/rdkv/bytes';
import { planLayout } from '../src/rdkv/layout';

describe('rdkv byte accounting', () => {
  it('a small example counted by hand', () => {
    // T = 10 tokens, d = 16 channels
    const vBits = Uint8Array.of(0, 2, 2, 4, 8, 16, 16, 0, 4, 2); // 2-bit: 1,2,9  4-bit: 3,8  8-bit: 4  zone B: 5,6
    const kBits = Uint8Array.of(16, 8, 8, 4, 4, 4, 2, 2, 2, 2, 0, 0, 16, 4, 2, 0); // stored 8: 4 ch, 4: 4 ch, 2: 5 ch, dropped 3
    const b = layoutBytes(planLayout({ vBits, kBits }));
    expect(b.header).toBe(HEADER_BYTES);
    expect(HEADER_BYTES).toBe(128); // 32 u32 fields
    expect(b.kPermutation).toBe(28); // 13 u16 → 7 words
    expect(b.kScales).toBe(52); // 13 f32
    expect(b.kZeros).toBe(16); // 13 u8 → 4 words
    expect(b.kCodes).toBe(96); // 8 kept tokens × (1 word for 4×8 bits + 1 for 4×4 + 1 for 5×2)
    expect(b.vCodes).toBe(44); // 3 tokens × 1 word (16×2 bits) + 2 × 2 words + 1 × 4 words = 11 words
    expect(b.vScales).toBe(24); // 6 zone-A tokens × f32
    expect(b.vZeros).toBe(12); // one word per non-empty segment
    expect(b.zoneBV).toBe(64); // 2 tokens × 16 f16
    expect(b.zoneBK).toBe(0); // RDKV: zone B K is quantised with the rest
    expect(b.positions).toBe(0);
    expect(b.metadata).toBe(128 + 28 + 52 + 16 + 24 + 12);
    expect(b.codes).toBe(140);
    expect(b.total).toBe(464);
    expect(b.full).toBe(640); // 2·10·16·2
    expect(b.retention).toBeCloseTo(464 / 640, 12);
    // storing kept positions adds one u32 per kept token
    expect(layoutBytes(planLayout({ vBits, kBits, storePositions: true })).total).toBe(464 + 8 * 4);
  });

  it('full cache is 2·T·d·2 bytes', () => {
    expect(fullCacheBytes(4096, 128)).toBe(2 * 4096 * 128 * 2);
  });
});
