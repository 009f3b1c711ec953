/**
 * Bit allocation by Lagrangian bisection (rdkv.md §3): a multiple-choice knapsack over the widths
 * {0, 2, 4, 8, 16}.
 *
 *   bits_u(λ) = argmin_b  w_u·ε(b) + λ·b,  for λ > 0 the ladder of epsilon.ts: widths[#{j : w_u > λ·θ_j}]
 *   bits_u(0) = 16 for every unit (the λ = 0 rule of §3; zero-weight units tie there and take 16)
 *
 * Procedure (the §3 rule, with tolerance 1%):
 *   1. target >= 16 (λ = 0 fits): every unit gets 16.
 *   2. λ_lo = 0, λ_hi = 0.375·max(w); double λ_hi until mean(λ_hi) <= target.
 *   3. At most 64 halvings: mid = (λ_lo + λ_hi)/2; stop with bits(mid) when |mean(mid) - target| <=
 *      0.01·target; else λ_lo = mid if mean(mid) > target, λ_hi = mid otherwise.
 *   4. No λ within tolerance (ties — e.g. all-equal weights, where one λ gives every unit the same
 *      width — or few units): start from bits(λ_hi) (mean <= target) and upgrade the units whose
 *      width differs at λ_lo to their λ_lo width, in order of weight descending, then index
 *      ascending, skipping an upgrade that would push the total above target·n. The result is the
 *      largest mean not above the target that this split reaches; tied units are split by index
 *      (lower index gets more bits). The bracket is then tight (or λ_lo = 0), so the result stays
 *      monotone in weight.
 *
 * All-zero weights are treated as all-equal (no information → uniform widths). Weights are sorted
 * once; mean(λ) is one binary search per ladder step.
 *
 * Guarantees: deterministic; w_a > w_b ⇒ bits_a >= bits_b; the mean is within 1% of the target
 * whenever some λ (or the tie split) gets there, and never above target·1.01.
 */
import { thresholdLadder } from './epsilon';

export const BISECTION_HALVINGS = 64;
export const TARGET_TOLERANCE = 0.01;

export interface AllocationDetail {
  /** (n) width of each unit, in {0, 2, 4, 8, 16}. */
  bits: Uint8Array;
  /** The λ used (λ_hi when the tie split ran). */
  lambda: number;
  /** How the result was reached. */
  outcome: 'empty' | 'all16' | 'bisection' | 'tie-split';
  /** Mean width of the result. */
  meanBits: number;
}

/**
 * weights: (n) unit weights, finite and >= 0. targetMeanBits: finite, >= 0. epsilon: ε table
 * indexed like WIDTHS. Returns (n) widths.
 */
export function allocateBits(weights: Float32Array, targetMeanBits: number, epsilon: readonly number[]): Uint8Array {
  return allocateBitsDetailed(weights, targetMeanBits, epsilon).bits;
}

export function allocateBitsDetailed(weights: Float32Array, targetMeanBits: number, epsilon: readonly number[]): AllocationDetail {
  const ladder = thresholdLadder(epsilon);
  if (!Number.isFinite(targetMeanBits) || targetMeanBits < 0) throw new Error(`rdkv: target mean bits must be finite and >= 0, got ${targetMeanBits}`);
  const n = weights.length;
  let maxW = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    if (!Number.isFinite(w) || w < 0) throw new Error(`rdkv: weight ${i} is ${w}; weights must be finite and >= 0`);
    if (w > maxW) maxW = w;
  }
  if (n === 0) return { bits: new Uint8Array(0), lambda: 0, outcome: 'empty', meanBits: 0 };
  if (targetMeanBits >= 16) return { bits: new Uint8Array(n).fill(16), lambda: 0, outcome: 'all16', meanBits: 16 };

  // Sorted once: order (n) unit indices by (weight asc, index asc); sorted (n) their weights.
  const w = maxW > 0 ? weights : new Float32Array(n).fill(1);
  if (maxW === 0) maxW = 1;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => w[a] - w[b] || a - b);
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) sorted[i] = w[order[i]];

  const { widths, thresholds } = ladder;
  const totalTarget = targetMeanBits * n;
  const tol = TARGET_TOLERANCE * totalTarget;

  /** Total bits at λ > 0: Σ_j #{w > λθ_j}·(widths[j+1] - widths[j]). */
  const totalAt = (lambda: number): number => {
    if (lambda === 0) return 16 * n;
    let total = 0;
    for (let j = 0; j < thresholds.length; j++) {
      const cut = lambda * thresholds[j];
      const above = n - upperBound(sorted, cut);
      if (above === 0) break;
      total += above * (widths[j + 1] - widths[j]);
    }
    return total;
  };
  const widthAt = (wu: number, lambda: number): number => {
    if (lambda === 0) return 16;
    let j = 0;
    while (j < thresholds.length && wu > lambda * thresholds[j]) j++;
    return widths[j];
  };
  const assign = (lambda: number): Uint8Array => {
    const bits = new Uint8Array(n);
    for (let i = 0; i < n; i++) bits[i] = widthAt(w[i], lambda);
    return bits;
  };

  let hi = 0.375 * maxW;
  while (totalAt(hi) > totalTarget) hi *= 2;
  let lo = 0;
  for (let it = 0; it < BISECTION_HALVINGS; it++) {
    const mid = (lo + hi) / 2;
    const t = totalAt(mid);
    if (Math.abs(t - totalTarget) <= tol) {
      return { bits: assign(mid), lambda: mid, outcome: 'bisection', meanBits: t / n };
    }
    if (t > totalTarget) lo = mid;
    else hi = mid;
  }
  {
    const t = totalAt(hi);
    if (Math.abs(t - totalTarget) <= tol) return { bits: assign(hi), lambda: hi, outcome: 'bisection', meanBits: t / n };
  }

  // Tie split: from bits(λ_hi) upgrade units toward bits(λ_lo), heaviest first, lower index first.
  const bits = assign(hi);
  let total = totalAt(hi);
  for (let k = n - 1; k >= 0; ) {
    // units of equal weight form a run in `sorted`; within it go by index ascending
    let k0 = k;
    while (k0 > 0 && sorted[k0 - 1] === sorted[k]) k0--;
    for (let r = k0; r <= k; r++) {
      const u = order[r];
      const up = widthAt(w[u], lo);
      const delta = up - bits[u];
      if (delta > 0 && total + delta <= totalTarget) {
        bits[u] = up;
        total += delta;
      }
    }
    k = k0 - 1;
  }
  return { bits, lambda: hi, outcome: 'tie-split', meanBits: total / n };
}

/** First index i with a[i] > x (a ascending). */
function upperBound(a: Float64Array, x: number): number {
  let l = 0;
  let r = a.length;
  while (l < r) {
    const m = (l + r) >>> 1;
    if (a[m] > x) r = m;
    else l = m + 1;
  }
  return l;
}
