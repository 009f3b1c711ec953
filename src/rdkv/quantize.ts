/**
 * The rdkv.md §4 quantizer: uniform, asymmetric, round-to-nearest, computed in f32, with one
 * (scale s, zero point z) per group. Every intermediate is rounded to f32 (Math.fround) in the order
 * written below, so an f32 WGSL kernel doing the same operations produces the same codes:
 *
 *   L = 2^b - 1
 *   s = max(f32(f32(max - min) / L), f32(1e-8))
 *   z = roundEven(clamp(f32(-min / s), 0, L))
 *   q = roundEven(clamp(f32(f32(x / s) + z), 0, L))
 *   x̂ = f32((q - z) · s)
 *
 * roundEven is round-half-to-even, like WGSL's round(). Caveat for kernels: WGSL only promises
 * 2.5 ULP for f32 `/`, so a GPU code can differ by one from this reference where x/s + z lies within
 * a few ULP of a half-integer; compare codes with that allowance unless the kernel divides exactly.
 *
 * Error bound (exact arithmetic, f32 adds ~1e-6 relative): when the group's range contains 0
 * (min <= 0 <= max) every element satisfies |x - x̂| <= s/2. When it does not, z is clamped to 0 or L
 * and the elements beyond the representable range [(0-z)·s, (L-z)·s] are clipped, so
 * |x - x̂| <= s/2 + dist(0, [min, max]). (A constant group has s = 1e-8 and falls in the second case
 * unless it is all zeros.) This clipping is the rdkv.md quantizer as specified.
 *
 * Zero-point modes (`ZeroPoint`):
 *   'integer' (rdkv.md §4, as above): z rounded and clamped to [0, L], stored as u8 in the cache.
 *   'float'   (the engine's default): z = f32(-min / s), neither rounded nor clamped, stored as f32.
 *             Then x/s + z = (x - min)/s lies in [0, L] for every element of the group, nothing is
 *             clipped, and |x - x̂| <= s/2 (plus f32 rounding) whether or not the range contains 0 —
 *             the common case of post-RoPE K channels with a large mean. q and x̂ use the same formulas.
 *
 * Groupings of a (rows, cols) row-major matrix (rows = tokens, cols = channels):
 *   'token':   one group per row over its cols values (V). scales/zeros: (rows).
 *   'channel': one group per column over `tokenGroup` consecutive rows (K); tokenGroup defaults to
 *              all rows. scales/zeros: (ceil(rows / tokenGroup), cols) row-major.
 *
 * Packing: codes of b bits (b in {2, 4, 8, 16}) go 32/b to a u32 word, code i of a word at bits
 * [i·b, (i+1)·b). A (rows, len) code matrix is packed row by row, every row starting on a word
 * boundary: wordsPerRow = ceil(len·b / 32), unused high bits of a row's last word are 0.
 */

export type ZeroPoint = 'integer' | 'float';

export type Grouping = { kind: 'token' } | { kind: 'channel'; tokenGroup?: number };

/** Widths the quantizer supports (16-bit codes are supported here; the cache stores 16-bit units as f16). */
export const QUANT_WIDTHS = [2, 4, 8, 16] as const;

const fr = Math.fround;
/** The scale floor, as the f32 a kernel sees for the literal 1e-8. */
export const SCALE_FLOOR = Math.fround(1e-8);

function checkBits(bits: number): void {
  if (bits !== 2 && bits !== 4 && bits !== 8 && bits !== 16) throw new Error(`rdkv: quantizer width must be 2, 4, 8 or 16, got ${bits}`);
}

/** Round half to even (WGSL round()). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

/** (s, z) for a group with extremes min, max (both already f32 values). */
export function quantParams(min: number, max: number, bits: number, zeroPoint: ZeroPoint = 'integer'): { scale: number; zero: number } {
  checkBits(bits);
  const L = 2 ** bits - 1;
  let s = fr(fr(max - min) / L);
  if (!(s > SCALE_FLOOR)) s = SCALE_FLOOR;
  const zero = zeroPoint === 'float' ? fr(-min / s) : roundHalfEven(clamp(fr(-min / s), 0, L));
  return { scale: s, zero };
}

/** Code of one value. */
export function quantizeValue(x: number, scale: number, zero: number, bits: number): number {
  const L = 2 ** bits - 1;
  return roundHalfEven(clamp(fr(fr(x / scale) + zero), 0, L));
}

/** Dequantised value of one code. */
export function dequantizeValue(code: number, scale: number, zero: number): number {
  return fr((code - zero) * scale);
}

/** A quantised (rows, cols) matrix. */
export interface Quantized {
  bits: number;
  rows: number;
  cols: number;
  grouping: Grouping;
  /** (rows, cols) row-major codes in [0, 2^bits - 1]. */
  codes: Uint16Array;
  /** 'token': (rows); 'channel': (nTokenGroups, cols) row-major. f32 scales. */
  scales: Float32Array;
  zeroPoint: ZeroPoint;
  /** Same shape as scales; 'integer': zero points in [0, 2^bits - 1] (Uint16Array); 'float': f32 (Float32Array). */
  zeros: Uint16Array | Float32Array;
  /** Rows per token group ('channel'); rows for 'token' (unused). */
  tokenGroup: number;
  /** (rows, cols) row-major x̂. */
  dequantize(): Float32Array;
}

/** Quantises x: (rows, cols) row-major with the given grouping. */
export function quantizeMatrix(x: Float32Array, rows: number, cols: number, bits: number, grouping: Grouping, zeroPoint: ZeroPoint = 'integer'): Quantized {
  checkBits(bits);
  if (x.length !== rows * cols) throw new Error(`rdkv: matrix has ${x.length} entries, expected ${rows}·${cols}`);
  const codes = new Uint16Array(rows * cols); // (rows, cols) row-major
  let scales: Float32Array;
  let zeros: Uint16Array | Float32Array;
  const makeZeros = (n: number) => (zeroPoint === 'float' ? new Float32Array(n) : new Uint16Array(n));
  let tokenGroup = rows;
  // param index of element (r, c)
  let paramOf: (r: number, c: number) => number;
  if (grouping.kind === 'token') {
    scales = new Float32Array(rows);
    zeros = makeZeros(rows);
    for (let r = 0; r < rows; r++) {
      let mn = Infinity;
      let mx = -Infinity;
      for (let c = 0; c < cols; c++) {
        const v = x[r * cols + c];
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      const p = quantParams(mn, mx, bits, zeroPoint);
      scales[r] = p.scale;
      zeros[r] = p.zero;
    }
    paramOf = (r) => r;
  } else {
    tokenGroup = grouping.tokenGroup ?? rows;
    if (!(tokenGroup >= 1) || !Number.isInteger(tokenGroup)) throw new Error(`rdkv: tokenGroup must be a positive integer, got ${tokenGroup}`);
    const nG = rows === 0 ? 0 : Math.ceil(rows / tokenGroup);
    scales = new Float32Array(nG * cols);
    zeros = makeZeros(nG * cols);
    for (let g = 0; g < nG; g++) {
      const r1 = Math.min(rows, (g + 1) * tokenGroup);
      for (let c = 0; c < cols; c++) {
        let mn = Infinity;
        let mx = -Infinity;
        for (let r = g * tokenGroup; r < r1; r++) {
          const v = x[r * cols + c];
          if (v < mn) mn = v;
          if (v > mx) mx = v;
        }
        const p = quantParams(mn, mx, bits, zeroPoint);
        scales[g * cols + c] = p.scale;
        zeros[g * cols + c] = p.zero;
      }
    }
    const tg = tokenGroup;
    paramOf = (r, c) => Math.floor(r / tg) * cols + c;
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const pi = paramOf(r, c);
      codes[r * cols + c] = quantizeValue(x[r * cols + c], scales[pi], zeros[pi], bits);
    }
  }
  return {
    bits,
    rows,
    cols,
    grouping,
    zeroPoint,
    codes,
    scales,
    zeros,
    tokenGroup,
    dequantize() {
      const out = new Float32Array(rows * cols); // (rows, cols) row-major
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const pi = paramOf(r, c);
          out[r * cols + c] = dequantizeValue(codes[r * cols + c], scales[pi], zeros[pi]);
        }
      }
      return out;
    },
  };
}

/** u32 words one packed row of `len` codes of `bits` bits takes. */
export function wordsPerRow(len: number, bits: number): number {
  return Math.ceil((len * bits) / 32);
}

/** Packs codes (rows, len) row-major into (rows, wordsPerRow(len, bits)) u32 words. */
export function packCodes(codes: ArrayLike<number>, rows: number, len: number, bits: number): Uint32Array {
  checkBits(bits);
  const wpr = wordsPerRow(len, bits);
  const per = 32 / bits;
  const mask = 2 ** bits - 1;
  const out = new Uint32Array(rows * wpr); // (rows, wpr)
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < len; i++) {
      const code = codes[r * len + i];
      if (code !== (code & mask)) throw new Error(`rdkv: code ${code} does not fit ${bits} bits`);
      const w = r * wpr + Math.floor(i / per);
      out[w] = (out[w] | (code << ((i % per) * bits))) >>> 0;
    }
  }
  return out;
}

/** Inverse of packCodes: (rows, len) row-major codes. `offset` is the word index of the first row. */
export function unpackCodes(words: Uint32Array, rows: number, len: number, bits: number, offset = 0): Uint16Array {
  checkBits(bits);
  const wpr = wordsPerRow(len, bits);
  const per = 32 / bits;
  const mask = 2 ** bits - 1;
  const out = new Uint16Array(rows * len);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < len; i++) {
      const w = words[offset + r * wpr + Math.floor(i / per)];
      out[r * len + i] = (w >>> ((i % per) * bits)) & mask;
    }
  }
  return out;
}
