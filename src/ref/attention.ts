/**
 * CPU reference for wgsl/attention_prefill.wgsl and wgsl/attention_decode.wgsl: causal GQA softmax
 * attention of a chunk of queries over a [nKvHeads, capacity, headDim] cache (values, already rounded to
 * the cache's storage type). Computed in double.
 */

export interface AttentionRefShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  capacity: number;
  /** Sliding window W > 0: query at position p sees keys t with p − W < t ≤ p. 0 or absent: all t ≤ p. */
  window?: number;
  /** Score scale; default 1 / sqrt(headDim). */
  scale?: number;
}

/**
 * out, q: (rows, nHeads × headDim); query row r is at position pos + r and attends to cache slots
 * 0 .. pos + r (within the window). Query head h reads KV head floor(h / (nHeads / nKvHeads)).
 */
export function attentionRef(
  out: Float32Array,
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  shape: AttentionRefShape,
  rows: number,
  pos: number,
): void {
  const { nHeads, nKvHeads, headDim: d, capacity } = shape;
  const window = shape.window ?? 0;
  const scale = shape.scale ?? 1 / Math.sqrt(d);
  const group = nHeads / nKvHeads;
  const acc = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const p = pos + r;
    const lo = window > 0 ? Math.max(0, p - window + 1) : 0;
    const scores = new Float64Array(p + 1 - lo);
    for (let h = 0; h < nHeads; h++) {
      const kvBase = Math.floor(h / group) * capacity;
      const qo = (r * nHeads + h) * d;
      let max = -Infinity;
      for (let t = lo; t <= p; t++) {
        const ko = (kvBase + t) * d;
        let s = 0;
        for (let e = 0; e < d; e++) s += q[qo + e] * kCache[ko + e];
        scores[t - lo] = s * scale;
        max = Math.max(max, s * scale);
      }
      acc.fill(0);
      let sum = 0;
      for (let t = lo; t <= p; t++) {
        const w = Math.exp(scores[t - lo] - max);
        sum += w;
        const vo = (kvBase + t) * d;
        for (let e = 0; e < d; e++) acc[e] += w * vCache[vo + e];
      }
      for (let e = 0; e < d; e++) out[qo + e] = acc[e] / sum;
    }
  }
}
