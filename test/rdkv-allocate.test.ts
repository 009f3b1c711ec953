import { describe, expect, it } from 'vitest';
import { allocateBits, allocateBitsDetailed } from '../src/rdkv/allocate';
import { EPS_K_DEFAULT, EPS_V_DEFAULT, WIDTHS, epsOf } from '../src/rdkv/epsilon';
import { randn, rng } from '../src/ref/random';

/** Heavy-tailed positive weights, like pooled attention: exp of a Gaussian. (n) */
function weights(seed: number, n: number, spread = 2.5): Float32Array {
  return randn(seed, n, spread).map(Math.exp);
}

function mean(bits: Uint8Array): number {
  let s = 0;
  for (const b of bits) s += b;
  return bits.length ? s / bits.length : 0;
}

/** Number of units violating w_a > w_b ⇒ bits_a >= bits_b, scanning in weight order. */
function monotoneViolations(w: Float32Array, bits: Uint8Array): number {
  const idx = Array.from(w.keys()).sort((a, b) => w[a] - w[b]);
  let maxBelow = 0; // max width among units of strictly smaller weight
  let runMax = 0; // max width in the current run of equal weights
  let bad = 0;
  for (let i = 0; i < idx.length; i++) {
    if (i > 0 && w[idx[i]] > w[idx[i - 1]]) {
      maxBelow = Math.max(maxBelow, runMax);
      runMax = 0;
    }
    if (bits[idx[i]] < maxBelow) bad++;
    runMax = Math.max(runMax, bits[idx[i]]);
  }
  return bad;
}

function expectMonotone(w: Float32Array, bits: Uint8Array): void {
  expect(monotoneViolations(w, bits)).toBe(0);
}

describe('rdkv allocateBits', () => {
  const sizes = [1000, 4096, 20000];
  it.each(sizes)('n=%i: mean within 1 percent of the target, monotone, Lagrangian-optimal per unit', (n) => {
    const r = rng(n);
    for (let k = 0; k < 12; k++) {
      const target = 0.3 + 15 * r();
      const w = weights(n * 100 + k, n);
      const det = allocateBitsDetailed(w, target, EPS_V_DEFAULT);
      expect(det.outcome).toBe('bisection');
      expect(Math.abs(mean(det.bits) - target)).toBeLessThanOrEqual(0.01 * target);
      expect(det.meanBits).toBeCloseTo(mean(det.bits), 12);
      expectMonotone(w, det.bits);
      // each unit's width is the argmin of w·ε(b) + λ·b at the returned λ
      let notArgmin = 0;
      for (let u = 0; u < n; u++) {
        const cost = (b: number) => w[u] * epsOf(EPS_V_DEFAULT, b) + det.lambda * b;
        const best = Math.min(...WIDTHS.map(cost));
        if (cost(det.bits[u]) > best * (1 + 1e-12)) notArgmin++;
      }
      expect(notArgmin).toBe(0);
    }
  });

  it.each([1, 2, 7, 64, 128, 129])('n=%i (small): mean within 1 percent or the closest the granularity allows from below', (n) => {
    const r = rng(77 + n);
    for (let k = 0; k < 20; k++) {
      const target = 0.3 + 15 * r();
      const w = weights(n * 31 + k, n);
      const det = allocateBitsDetailed(w, target, EPS_K_DEFAULT);
      const m = mean(det.bits);
      expect(m).toBeLessThanOrEqual(target * 1.01);
      // a unit moves by at most one hull step (<= 8 bits) between adjacent λ
      expect(m).toBeGreaterThanOrEqual(Math.min(target * 0.99, target - 8 / n));
      if (det.outcome === 'tie-split') expect(m).toBeLessThanOrEqual(target);
      expectMonotone(w, det.bits);
    }
  });

  it('monotone with many tied weights (tie split)', () => {
    const n = 3000;
    const r = rng(5);
    const w = new Float32Array(n).map(() => [0.01, 0.5, 3, 40, 900, 1e6][Math.floor(r() * 6)]);
    for (const target of [0.7, 1.9, 3.3, 5.5, 9.1, 13.7]) {
      const det = allocateBitsDetailed(w, target, EPS_V_DEFAULT);
      expectMonotone(w, det.bits);
      expect(Math.abs(mean(det.bits) - target)).toBeLessThanOrEqual(0.01 * target);
    }
  });

  it('is deterministic', () => {
    const w = weights(9, 5000);
    const a = allocateBits(w, 3.7, EPS_V_DEFAULT);
    const b = allocateBits(w.slice(), 3.7, EPS_V_DEFAULT);
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('empty input', () => {
    expect(allocateBits(new Float32Array(0), 4, EPS_V_DEFAULT).length).toBe(0);
  });

  it('all-equal weights: two adjacent widths, split by index, largest mean not above the target', () => {
    const n = 1000;
    const w = new Float32Array(n).fill(0.37);
    for (const [target, lo, hi] of [
      [3, 2, 4],
      [5, 4, 8],
      [12, 8, 16],
      [1, 0, 2],
    ]) {
      const bits = allocateBits(w, target, EPS_V_DEFAULT);
      const nHi = bits.filter((b) => b === hi).length;
      expect(bits.every((b) => b === lo || b === hi)).toBe(true);
      // the higher width goes to a prefix of indices
      expect(Array.from(bits.subarray(0, nHi)).every((b) => b === hi)).toBe(true);
      expect(mean(bits)).toBeLessThanOrEqual(target);
      expect(mean(bits) + (hi - lo) / n).toBeGreaterThan(target);
    }
    // a target exactly on a width: everyone gets it
    expect(Array.from(new Set(allocateBits(w, 4, EPS_V_DEFAULT)))).toEqual([4]);
  });

  it('all-zero weights behave as all-equal ones', () => {
    const zero = allocateBits(new Float32Array(100), 5, EPS_V_DEFAULT);
    const equal = allocateBits(new Float32Array(100).fill(2), 5, EPS_V_DEFAULT);
    expect(Array.from(zero)).toEqual(Array.from(equal));
  });

  it('NaN, negative or infinite weights and bad targets are errors', () => {
    const w = weights(3, 10);
    for (const bad of [NaN, -1e-9, Infinity]) {
      const x = w.slice();
      x[4] = bad;
      expect(() => allocateBits(x, 4, EPS_V_DEFAULT)).toThrow(/weight 4/);
    }
    expect(() => allocateBits(w, -1, EPS_V_DEFAULT)).toThrow();
    expect(() => allocateBits(w, NaN, EPS_V_DEFAULT)).toThrow();
    expect(() => allocateBits(w, 4, [1, 0.3, 0])).toThrow();
  });

  it('λ = 0 fits (target >= 16): every unit 16 bits, zero weights included', () => {
    const w = weights(4, 50);
    w[3] = 0;
    expect(allocateBits(w, 16, EPS_V_DEFAULT).every((b) => b === 16)).toBe(true);
    expect(allocateBits(w, 40, EPS_V_DEFAULT).every((b) => b === 16)).toBe(true);
  });

  it('target 0: every unit evicted', () => {
    expect(allocateBits(weights(6, 300), 0, EPS_V_DEFAULT).every((b) => b === 0)).toBe(true);
  });

  it('zero-weight units get the fewest bits', () => {
    const w = weights(8, 2000);
    for (let i = 0; i < 2000; i += 10) w[i] = 0;
    const bits = allocateBits(w, 4, EPS_V_DEFAULT);
    for (let i = 0; i < 2000; i += 10) expect(bits[i]).toBe(0);
  });

  it('sorts once: 128K units in well under a second', () => {
    const w = weights(10, 131072);
    const t0 = performance.now();
    allocateBits(w, 0.125, EPS_V_DEFAULT);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
