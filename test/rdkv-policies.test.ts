import { describe, expect, it } from 'vitest';
import { allocateHead, budgetBytes, budgetTokens, vTargetBits } from '../src/rdkv/budget';
import { packHead, unpackHead } from '../src/rdkv/cache';
import { EPS_K_DEFAULT, EPS_V_DEFAULT } from '../src/rdkv/epsilon';
import { planLayout } from '../src/rdkv/layout';
import { layoutBytes } from '../src/rdkv/bytes';
import { POLICIES, planCompression, type LayerInputs } from '../src/rdkv/policies';
import { layerReport, summarize, widthHistogram } from '../src/rdkv/report';
import { scoreWindow } from '../src/rdkv/scoring';
import { f16BitsToF32, f32ToF16Bits } from '../src/ref/pack';
import { randn } from '../src/ref/random';

/** One layer's scores from random post-RoPE-like q/k, with a few "important" tokens made to stand out. */
function layer(seed: number, T: number, d: number, Hkv: number, Hq = 2 * Hkv, W = 32): LayerInputs {
  const q = randn(seed, W * Hq * d);
  const k = randn(seed + 1, Hkv * T * d);
  // align some keys with the window queries so attention is peaked, as in real prompts
  for (let h = 0; h < Hkv; h++) {
    for (let j = 0; j < 40; j++) {
      const t = (seed * 7919 + j * 104729 + h * 31) % T;
      for (let c = 0; c < d; c++) k[(h * T + t) * d + c] += 0.6 * q[((W - 1) * Hq + h * (Hq / Hkv)) * d + c];
    }
  }
  const { wV, wK } = scoreWindow({ q, k, W, Hq, Hkv, T, d });
  return { T, d, Hkv, wV, wK };
}

describe('rdkv budget', () => {
  it('B from tokens or from a retention fraction; default 1024', () => {
    expect(budgetTokens(undefined, 5000)).toBe(1024);
    expect(budgetTokens({ tokens: 512 }, 5000)).toBe(512);
    expect(budgetTokens({ retention: 0.25 }, 4096)).toBe(1024);
    expect(() => budgetTokens({ tokens: -1 }, 10)).toThrow();
    expect(() => budgetTokens({ retention: NaN }, 10)).toThrow();
    expect(budgetBytes(1024, 128)).toBe(2 * 1024 * 128 * 2);
  });

  it('V then K: b̄_V = 16B/T over tokens, b̄_K = 16B/|kept| over channels', () => {
    const L = layer(3, 3000, 64, 1);
    const B = 600;
    const hb = allocateHead(L.wV, L.wK, B);
    expect(hb.compressed).toBe(true);
    const meanV = hb.vBits.reduce((s, b) => s + b, 0) / L.T;
    expect(hb.vTarget).toBe(vTargetBits(L.T, B));
    expect(Math.abs(meanV - hb.vTarget)).toBeLessThanOrEqual(0.01 * hb.vTarget);
    expect(hb.kept).toBe(hb.vBits.filter((b) => b > 0).length);
    expect(hb.kTarget).toBeCloseTo((16 * B) / hb.kept, 12);
    const meanK = hb.kBits.reduce((s, b) => s + b, 0) / L.d;
    expect(meanK).toBeLessThanOrEqual(hb.kTarget * 1.01);
    expect(meanK).toBeGreaterThanOrEqual(hb.kTarget - 8 / L.d);
  });
});

describe('rdkv policies', () => {
  it.each(POLICIES)('%s: T <= B is the identity (all 16 bits, nothing evicted, full bytes, exact f16 round trip)', (policy) => {
    const T = 200;
    const d = 32;
    const L = layer(5, T, d, 2);
    for (const budget of [{ tokens: 200 }, { tokens: 1024 }, { retention: 1 }]) {
      for (const p of planCompression(policy, L, budget)) {
        expect(p.compressed).toBe(false);
        expect(p.vBits.every((b) => b === 16)).toBe(true);
        expect(p.kStoredBits.every((b) => b === 16)).toBe(true);
        expect(p.layout.plain).toBe(true);
        expect(p.bytes.total).toBe(p.bytes.full);
        expect(p.bytes.metadata).toBe(0);
        expect(p.distortion.total).toBe(0);
      }
    }
    const [p] = planCompression(policy, L);
    const k = randn(8, T * d);
    const v = randn(9, T * d);
    const back = unpackHead(p.layout, packHead(p.layout, k, v));
    const f16 = (x: number) => f16BitsToF32(f32ToF16Bits(x));
    expect(Array.from(back.k)).toEqual(Array.from(k, f16));
    expect(Array.from(back.v)).toEqual(Array.from(v, f16));
  });

  describe('equal memory at B = 1024, T = 4096, d = 128', () => {
    const T = 4096;
    const d = 128;
    const Hkv = 2;
    const L = layer(11, T, d, Hkv);
    const budget = { tokens: 1024 };
    const bb = budgetBytes(1024, d);
    const plans = Object.fromEntries(POLICIES.map((p) => [p, planCompression(p, L, budget)]));
    const fitted = planCompression('rdkv', L, budget, { fitMetadata: true });

    it('snapkv and streaming: exactly B tokens at f16, no metadata', () => {
      for (const p of [...plans.snapkv, ...plans.streaming]) {
        expect(p.bytes.total).toBe(bb);
        expect(p.bytes.metadata).toBe(0);
        expect(p.vBits.filter((b) => b === 16).length).toBe(1024);
        expect(p.vBits.filter((b) => b === 0).length).toBe(T - 1024);
      }
      const s = plans.streaming[0].vBits;
      expect(Array.from(s.subarray(0, 4)).every((b) => b === 16)).toBe(true);
      expect(Array.from(s.subarray(4, T - 1020)).every((b) => b === 0)).toBe(true);
      // snapkv keeps the top-B pooled scores
      const w = L.wV.subarray(0, T);
      const kept = plans.snapkv[0].vBits;
      let minKept = Infinity;
      let maxDropped = -Infinity;
      for (let t = 0; t < T; t++) {
        if (kept[t]) minKept = Math.min(minKept, w[t]);
        else maxDropped = Math.max(maxDropped, w[t]);
      }
      expect(minKept).toBeGreaterThanOrEqual(maxDropped);
    });

    it('rdkv: code bytes within 1% of the budget, metadata on top (stated tolerance: 1% + metadata)', () => {
      for (const p of plans.rdkv) {
        expect(p.bytes.codes + p.bytes.fullPrecision).toBeLessThanOrEqual(bb * 1.01);
        expect(p.bytes.total).toBeLessThanOrEqual(bb * 1.01 + p.bytes.metadata);
        expect(p.bytes.total).toBeGreaterThan(bb * 0.9);
        expect(p.bytes.metadata / bb).toBeLessThan(0.05);
      }
    });

    it('rdkv with fitMetadata: total bytes incl. metadata within [0.97, 1]·budget', () => {
      for (const p of fitted) {
        expect(p.bytes.total).toBeLessThanOrEqual(bb);
        expect(p.bytes.total).toBeGreaterThanOrEqual(0.97 * bb);
        expect(p.withinBudget).toBe(true);
        expect(p.effectiveTokens).toBeLessThan(1024);
      }
    });

    it('uniform: the largest width that fits, recent window at f16', () => {
      for (const p of plans.uniform) {
        expect(p.withinBudget).toBe(true);
        const b = p.uniformBits as number;
        expect(p.vBits.subarray(T - 32).every((x) => x === 16)).toBe(true);
        expect(p.vBits.subarray(0, T - 32).every((x) => x === b)).toBe(true);
        expect(p.layout.kFullInZoneB).toBe(true);
        const up = b * 2;
        const vUp = new Uint8Array(T).fill(up);
        vUp.fill(16, T - 32);
        expect(layoutBytes(planLayout({ vBits: vUp, kBits: new Uint8Array(d).fill(up), kFullInZoneB: true })).total).toBeGreaterThan(bb);
      }
      expect(plans.uniform[0].uniformBits).toBe(2);
    });

    it('predicted distortion (V and K terms compared separately: their scales differ): rdkv lowest', () => {
      for (let h = 0; h < Hkv; h++) {
        const r = fitted[h].distortion;
        expect(r.v).toBeLessThan(plans.snapkv[h].distortion.v);
        expect(r.v).toBeLessThan(plans.streaming[h].distortion.v);
        expect(r.v).toBeLessThan(plans.uniform[h].distortion.v);
        expect(r.k).toBeLessThan(plans.uniform[h].distortion.k);
        expect(plans.snapkv[h].distortion.k).toBe(0); // its kept K is full precision
        expect(plans.full[h].distortion.total).toBe(0);
      }
    });

    it('a retention fraction of 1/4 is the same budget here', () => {
      const viaRetention = planCompression('rdkv', L, { retention: 0.25 });
      expect(Array.from(viaRetention[1].vBits)).toEqual(Array.from(plans.rdkv[1].vBits));
    });

    it('uniform that cannot fit reports it', () => {
      const [p] = planCompression('uniform', L, { tokens: 64 });
      expect(p.uniformBits).toBe(2);
      expect(p.withinBudget).toBe(false);
    });

    it('reports: widths, bytes before/after, retention, histograms', () => {
      const rep = layerReport(3, plans.rdkv);
      expect(rep.heads.length).toBe(Hkv);
      for (const h of rep.heads) {
        expect(h.layer).toBe(3);
        expect(h.vBits.length).toBe(T);
        expect(h.kBits.length).toBe(d);
        expect(h.bytesBefore).toBe(2 * T * d * 2);
        expect(h.retention).toBeCloseTo(h.bytesAfter / h.bytesBefore, 12);
        const hist = h.vHistogram;
        expect(hist[0] + hist[2] + hist[4] + hist[8] + hist[16]).toBe(T);
        expect(T - hist[0]).toBe(h.keptTokens);
        expect(h.kHistogram[16]).toBe(0); // 16-bit K channels are stored at 8
      }
      const s = summarize(rep.heads);
      expect(s.bytesBefore).toBe(Hkv * 2 * T * d * 2);
      expect(s.retention).toBeCloseTo(s.bytesAfter / s.bytesBefore, 12);
      expect(s.meanVBits).toBeCloseTo(16 * 1024 / T, 1);
    });
  });

  it('per-head measured ε tables are accepted', () => {
    const L = layer(13, 600, 32, 2);
    const eps = [
      { v: EPS_V_DEFAULT, k: EPS_K_DEFAULT },
      { v: [1, 0.2, 0.01, 4e-5, 0], k: [1, 0.1, 0.005, 2e-5, 0] },
    ];
    const plans = planCompression('rdkv', { ...L, epsilon: eps }, { tokens: 150 });
    expect(plans.length).toBe(2);
    expect(() => planCompression('rdkv', { ...L, epsilon: [eps[0]] }, { tokens: 150 })).toThrow();
  });

  it('width histogram', () => {
    expect(widthHistogram(Uint8Array.of(0, 2, 2, 16, 8, 8, 8))).toEqual({ 0: 1, 2: 2, 4: 0, 8: 3, 16: 1 });
    expect(() => widthHistogram([3])).toThrow();
  });
});
