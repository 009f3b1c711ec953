/**
 * Distortion tables ε(b) and the threshold ladder they induce (rdkv.md §2, §3).
 *
 * An ε table is a `readonly number[]` of length 5 indexed like WIDTHS: epsilon[i] = ε(WIDTHS[i]),
 * the normalised MSE E[(x - x̂)²] / Var(x) of one unit stored at WIDTHS[i] bits. ε(0) = 1 (evicted),
 * ε(16) = 0 (full precision).
 */
import { quantizeMatrix, type Grouping } from './quantize';

/** The bit-widths a unit can get. 0 = evicted / dropped, 16 = full precision. */
export const WIDTHS = [0, 2, 4, 8, 16] as const;
export type Width = (typeof WIDTHS)[number];

/** Default calibrated table for V (per-token units), rdkv.md §2. */
export const EPS_V_DEFAULT: readonly number[] = Object.freeze([1, 0.31287, 0.013986, 4.86e-5, 0]);
/** Default calibrated table for K (per-channel units), rdkv.md §2. */
export const EPS_K_DEFAULT: readonly number[] = Object.freeze([1, 0.14894, 0.0062426, 2.18e-5, 0]);

/** Index of a width in WIDTHS (and so in an ε table); throws on a width not in WIDTHS. */
export function widthIndex(bits: number): number {
  const i = (WIDTHS as readonly number[]).indexOf(bits);
  if (i < 0) throw new Error(`rdkv: ${bits} is not a width in {${WIDTHS.join(', ')}}`);
  return i;
}

/** ε for a width from a table. */
export function epsOf(epsilon: readonly number[], bits: number): number {
  return epsilon[widthIndex(bits)];
}

/** Throws unless `epsilon` is a length-5 table of finite, non-negative numbers. */
export function validateEpsilon(epsilon: readonly number[]): void {
  if (epsilon.length !== WIDTHS.length) throw new Error(`rdkv: ε table needs ${WIDTHS.length} entries, got ${epsilon.length}`);
  for (const e of epsilon) {
    if (!Number.isFinite(e) || e < 0) throw new Error(`rdkv: ε entries must be finite and >= 0, got ${e}`);
  }
}

/**
 * The argmin of w·ε(b) + λ·b over b as a ladder of thresholds on r = w/λ.
 *
 * `widths` (m+1 entries, ascending, widths[0] = 0) are the vertices of the lower convex hull of the
 * points (b, ε(b)), cut where ε stops decreasing. `thresholds` (m entries, strictly ascending):
 * a unit moves from widths[j] to widths[j+1] when r > thresholds[j] = (widths[j+1]-widths[j]) /
 * (ε(widths[j]) - ε(widths[j+1])). So for λ > 0 a unit gets widths[#{j : w > λ·thresholds[j]}].
 * Widths off the hull are never the unique argmin and never appear. At an exact threshold the lower
 * width is taken. λ = 0 is special (every unit 16 bits, see allocate.ts).
 */
export interface Ladder {
  widths: number[];
  thresholds: number[];
}

export function thresholdLadder(epsilon: readonly number[]): Ladder {
  validateEpsilon(epsilon);
  const pts = WIDTHS.map((b, i) => [b, epsilon[i]] as const);
  const hull: (readonly [number, number])[] = [];
  for (const p of pts) {
    while (hull.length >= 2) {
      const a = hull[hull.length - 2];
      const o = hull[hull.length - 1];
      // cross((o - a), (p - a)) <= 0: o is not strictly below segment a–p, drop it.
      const cross = (o[0] - a[0]) * (p[1] - a[1]) - (o[1] - a[1]) * (p[0] - a[0]);
      if (cross <= 0) hull.pop();
      else break;
    }
    hull.push(p);
  }
  const widths = [hull[0][0]];
  const thresholds: number[] = [];
  for (let j = 1; j < hull.length; j++) {
    const drop = hull[j - 1][1] - hull[j][1];
    if (!(drop > 0)) break; // ε no longer decreases: more bits never pay for λ > 0
    thresholds.push((hull[j][0] - hull[j - 1][0]) / drop);
    widths.push(hull[j][0]);
  }
  return { widths, thresholds };
}

/**
 * Measured ε table of the rdkv.md §4 quantizer on actual data (the switchable improvement of §2).
 *
 * values: (rows, cols) row-major, e.g. one head's V (T, d) with grouping { kind: 'token' }, or its K
 * (T, d) (or the kept rows of it) with grouping { kind: 'channel' }. For b in {2, 4, 8}:
 *   ε(b) = Σ_groups Σ_x (x - x̂_b)² / Σ_groups Σ_x (x - mean_group)²
 * (pooled over groups, so near-constant groups do not blow the ratio up). ε(0) = 1 and ε(16) = 0 by
 * definition. When the data has no variance at all the `fallback` table is returned.
 */
export function measureEpsilon(
  values: Float32Array,
  rows: number,
  cols: number,
  grouping: Grouping,
  fallback: readonly number[] = EPS_V_DEFAULT,
): number[] {
  if (values.length !== rows * cols) throw new Error(`rdkv: values has ${values.length} entries, expected ${rows}·${cols}`);
  const denom = groupedVariance(values, rows, cols, grouping);
  if (!(denom > 0)) return [...fallback];
  const out = [1, 0, 0, 0, 0];
  for (const bits of [2, 4, 8]) {
    const q = quantizeMatrix(values, rows, cols, bits, grouping);
    const xh = q.dequantize();
    let err = 0;
    for (let i = 0; i < values.length; i++) {
      const e = values[i] - xh[i];
      err += e * e;
    }
    out[widthIndex(bits)] = err / denom;
  }
  return out;
}

/** Σ over groups of Σ (x - mean_group)², the groups as quantizeMatrix forms them. */
function groupedVariance(x: Float32Array, rows: number, cols: number, grouping: Grouping): number {
  let total = 0;
  const sum = (idx: (i: number) => number, n: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[idx(i)];
    const mean = s / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[idx(i)] - mean) ** 2;
    return v;
  };
  if (grouping.kind === 'token') {
    for (let r = 0; r < rows; r++) total += sum((i) => r * cols + i, cols);
  } else {
    const g = grouping.tokenGroup ?? rows;
    for (let r0 = 0; r0 < rows; r0 += g) {
      const n = Math.min(g, rows - r0);
      for (let c = 0; c < cols; c++) total += sum((i) => (r0 + i) * cols + c, n);
    }
  }
  return total;
}
