/**
 * CPU reference for wgsl/rope_kv.wgsl: rotate-half RoPE (as Hugging Face transformers) and the KV-cache
 * write. Angles follow transformers' float32 path: angle = fround(pos × invFreq[i]), then cos/sin of that
 * f32 value (computed here in double and rounded once).
 */

export interface RopeKvRefShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  capacity: number;
  /** Position stored in slot 0 (default 0). */
  slotBase?: number;
}

/** cos and sin of the f32 angle pos × invFreq[i], for i < headDim / 2. */
export function ropeCosSin(pos: number, invFreq: Float32Array): { cos: Float32Array; sin: Float32Array } {
  const cos = new Float32Array(invFreq.length);
  const sin = new Float32Array(invFreq.length);
  for (let i = 0; i < invFreq.length; i++) {
    const a = Math.fround(pos * invFreq[i]);
    cos[i] = Math.cos(a);
    sin[i] = Math.sin(a);
  }
  return { cos, sin };
}

/** Rotates each head of x (rows, nHeads × headDim) in place; row r is at position pos + r. */
export function ropeRef(x: Float32Array, rows: number, nHeads: number, headDim: number, pos: number, invFreq: Float32Array): void {
  const half = headDim / 2;
  for (let r = 0; r < rows; r++) {
    const { cos, sin } = ropeCosSin(pos + r, invFreq);
    for (let h = 0; h < nHeads; h++) {
      const base = (r * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const a = x[base + i];
        const b = x[base + i + half];
        x[base + i] = a * cos[i] - b * sin[i];
        x[base + i + half] = b * cos[i] + a * sin[i];
      }
    }
  }
}

/**
 * q (rows, nHeads × d) roped in place; roped k and raw v (rows, nKvHeads × d) written into the caches
 * kCache, vCache ([nKvHeads, capacity, d] values) at token slots pos .. pos + rows − 1. k is not modified.
 */
export function ropeKvRef(
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  k: Float32Array,
  v: Float32Array,
  invFreq: Float32Array,
  shape: RopeKvRefShape,
  rows: number,
  pos: number,
): void {
  const { nHeads, nKvHeads, headDim: d, capacity } = shape;
  ropeRef(q, rows, nHeads, d, pos, invFreq);
  const kr = k.slice(0, rows * nKvHeads * d);
  ropeRef(kr, rows, nKvHeads, d, pos, invFreq);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < nKvHeads; h++) {
      const dst = (h * capacity + pos + r - (shape.slotBase ?? 0)) * d;
      const src = (r * nKvHeads + h) * d;
      kCache.set(kr.subarray(src, src + d), dst);
      vCache.set(v.subarray(src, src + d), dst);
    }
  }
}
