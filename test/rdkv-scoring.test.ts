import { describe, expect, it } from 'vitest';
import { avgPoolReflect, scoreWindow, visibleCounts } from '../src/rdkv/scoring';
import { randn } from '../src/ref/random';

/** Direct, unoptimised computation of rdkv.md §1 for one layer, written independently of scoring.ts. */
function naiveScores(
  q: Float32Array, // (W, Hq, d)
  k: Float32Array, // (Hkv, T, d)
  W: number,
  Hq: number,
  Hkv: number,
  T: number,
  d: number,
  pos: number[],
  form: 'squared' | 'norm',
) {
  const g = Hq / Hkv;
  const wV: number[][] = [];
  const wK: number[][] = [];
  for (let h = 0; h < Hkv; h++) {
    const raw = new Array<number>(T).fill(0);
    for (let i = 0; i < W; i++) {
      for (let hq = h * g; hq < (h + 1) * g; hq++) {
        const logits: number[] = [];
        for (let t = 0; t < T; t++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += q[(i * Hq + hq) * d + c] * k[(h * T + t) * d + c];
          logits.push(t <= pos[i] ? s / Math.sqrt(d) : -Infinity);
        }
        const z = logits.reduce((a, s) => a + Math.exp(s), 0);
        logits.forEach((s, t) => (raw[t] += Math.exp(s) / z));
      }
    }
    const vis = Array.from({ length: T }, (_, t) => pos.filter((p) => p >= t).length);
    const norm = raw.map((a, t) => (vis[t] ? a / vis[t] : 0));
    const padded = [norm[2], norm[1], ...norm, norm[T - 2], norm[T - 3]];
    wV.push(norm.map((_, t) => (padded[t] + padded[t + 1] + padded[t + 2] + padded[t + 3] + padded[t + 4]) / 5));
    const kc: number[] = [];
    for (let c = 0; c < d; c++) {
      const qs: number[] = [];
      for (let i = 0; i < W; i++) for (let hq = h * g; hq < (h + 1) * g; hq++) qs.push(q[(i * Hq + hq) * d + c]);
      const ks = Array.from({ length: T }, (_, t) => k[(h * T + t) * d + c]);
      const sq = (a: number[]) => a.reduce((s, x) => s + x * x, 0);
      kc.push(form === 'squared' ? (sq(qs) / qs.length) * (sq(ks) / ks.length) : (Math.sqrt(sq(qs)) * Math.sqrt(sq(ks))) / Math.sqrt(d));
    }
    wK.push(kc);
  }
  return { wV, wK };
}

function maxRel(got: Float32Array, want: number[]): number {
  let m = 0;
  want.forEach((w, i) => (m = Math.max(m, Math.abs(got[i] - w) / Math.max(Math.abs(w), 1e-30))));
  return m;
}

describe('rdkv window scoring', () => {
  it.each([
    [5, 4, 2, 23, 8],
    [8, 6, 3, 17, 5],
    [3, 2, 2, 9, 4],
  ])('W=%i Hq=%i Hkv=%i T=%i d=%i matches a direct computation', (W, Hq, Hkv, T, d) => {
    const q = randn(W * 100 + T, W * Hq * d, 1.5);
    const k = randn(T * 10 + d, Hkv * T * d, 1.5);
    const pos = Array.from({ length: W }, (_, i) => T - W + i);
    for (const form of ['squared', 'norm'] as const) {
      const got = scoreWindow({ q, k, W, Hq, Hkv, T, d }, { kForm: form });
      const want = naiveScores(q, k, W, Hq, Hkv, T, d, pos, form);
      expect(got.wV.length).toBe(Hkv * T);
      expect(got.wK.length).toBe(Hkv * d);
      expect(maxRel(got.wV, want.wV.flat())).toBeLessThan(1e-5);
      expect(maxRel(got.wK, want.wK.flat())).toBeLessThan(1e-5);
    }
  });

  it('explicit window positions (not the last W) use the same causal mask', () => {
    const [W, Hq, Hkv, T, d] = [4, 2, 1, 15, 6];
    const q = randn(1, W * Hq * d);
    const k = randn(2, T * d);
    const pos = [3, 7, 8, 12];
    const got = scoreWindow({ q, k, W, Hq, Hkv, T, d, qPositions: pos });
    expect(maxRel(got.wV, naiveScores(q, k, W, Hq, Hkv, T, d, pos, 'squared').wV.flat())).toBeLessThan(1e-5);
  });

  it('visibility normalisation inside the window', () => {
    const T = 12;
    const pos = [8, 9, 10, 11];
    expect(Array.from(visibleCounts(T, pos))).toEqual([4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 2, 1]);
    // Unpooled, the last token is seen by one query per head: w_V = Σ_g' A for that query alone.
    const [W, Hq, Hkv, d] = [4, 2, 1, 8];
    const q = randn(3, W * Hq * d);
    const k = randn(4, T * d);
    const { wV } = scoreWindow({ q, k, W, Hq, Hkv, T, d }, { poolKernel: 1 });
    let want = 0;
    for (let hq = 0; hq < Hq; hq++) {
      const qi = q.subarray((3 * Hq + hq) * d, (3 * Hq + hq + 1) * d);
      const logits = Array.from({ length: T }, (_, t) => qi.reduce((s, x, c) => s + x * k[t * d + c], 0) / Math.sqrt(d));
      const z = logits.reduce((a, s) => a + Math.exp(s), 0);
      want += Math.exp(logits[T - 1]) / z;
    }
    expect(wV[T - 1]).toBeCloseTo(want, 6);
    // every query's attention sums to 1: Σ_t visible(t)·w_V[t] = W·g
    const vis = visibleCounts(T, pos);
    expect(wV.reduce((s, x, t) => s + x * vis[t], 0)).toBeCloseTo(W * Hq, 5);
  });

  it('pooling: kernel 5, reflect padding at both edges', () => {
    const x = new Float64Array([1, 2, 4, 8, 16, 32, 64]);
    const p = avgPoolReflect(x, 5);
    expect(p[0]).toBeCloseTo((4 + 2 + 1 + 2 + 4) / 5, 12);
    expect(p[1]).toBeCloseTo((2 + 1 + 2 + 4 + 8) / 5, 12);
    expect(p[3]).toBeCloseTo((2 + 4 + 8 + 16 + 32) / 5, 12);
    expect(p[5]).toBeCloseTo((8 + 16 + 32 + 64 + 32) / 5, 12);
    expect(p[6]).toBeCloseTo((16 + 32 + 64 + 32 + 16) / 5, 12);
    // shorter than the pad: reflection repeats; one element stays as is
    expect(Array.from(avgPoolReflect(new Float64Array([3, 5]), 5))).toEqual([(3 + 5 + 3 + 5 + 3) / 5, (5 + 3 + 5 + 3 + 5) / 5]);
    expect(Array.from(avgPoolReflect(new Float64Array([7]), 5))).toEqual([7]);
    expect(Array.from(avgPoolReflect(x, 1))).toEqual(Array.from(x));
    expect(() => avgPoolReflect(x, 4)).toThrow();
  });

  it('rejects inconsistent shapes', () => {
    expect(() => scoreWindow({ q: new Float32Array(10), k: new Float32Array(10), W: 2, Hq: 3, Hkv: 2, T: 5, d: 1 })).toThrow();
    expect(() => scoreWindow({ q: randn(1, 8), k: randn(2, 8), W: 2, Hq: 1, Hkv: 1, T: 2, d: 4, qPositions: [0, 2] })).toThrow();
  });
});
