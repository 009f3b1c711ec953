/**
 * CPU reference for wgsl/rdkv_attention_decode.wgsl (and its vec4 form, wgsl/rdkv_attention_decode_vec4.wgsl)
 * + wgsl/rdkv_attention_combine.wgsl: one query token's
 * GQA softmax attention over a compressed layer. Each KV head's arena is dequantised by src/rdkv/cache.ts
 * unpackHead; the keys and values are [the kept tokens in slot order (zone A segments, zone B), then zone C
 * tokens 0 .. nC − 1]; one softmax over all of them, computed in double. A head with no token at all
 * gives 0.
 */
import { unpackHead } from '../rdkv/cache';
import type { HeadLayout } from '../rdkv/layout';

export interface RdkvAttentionRefInput {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** (Hkv) layouts and their arenas (layout.totalWords words each). */
  layouts: readonly HeadLayout[];
  arenas: readonly Uint32Array[];
  /** Zone C: [Hkv, capacity, d] values as stored (already rounded to f16 when the zone is f16). */
  zoneC?: { k: Float32Array; v: Float32Array; capacity: number };
  /** Zone C tokens per head. */
  nC: number;
  /** Default 1 / sqrt(headDim). */
  scale?: number;
}

/** out, q: (nHeads × headDim). Query head h reads KV head floor(h / (nHeads / nKvHeads)). */
export function rdkvAttentionRef(out: Float32Array, q: Float32Array, inp: RdkvAttentionRefInput): void {
  const { nHeads, nKvHeads, headDim: d, nC } = inp;
  const scale = inp.scale ?? 1 / Math.sqrt(d);
  const g = nHeads / nKvHeads;
  for (let kvh = 0; kvh < nKvHeads; kvh++) {
    const l = inp.layouts[kvh];
    const { k, v } = unpackHead(l, inp.arenas[kvh]); // (kept, d) slot order
    const n = l.kept + nC;
    const keyOf = (u: number, c: number) => (u < l.kept ? k[u * d + c] : zc(inp, 'k', kvh, u - l.kept, c));
    const valOf = (u: number, c: number) => (u < l.kept ? v[u * d + c] : zc(inp, 'v', kvh, u - l.kept, c));
    const scores = new Float64Array(n);
    for (let hi = 0; hi < g; hi++) {
      const h = kvh * g + hi;
      let max = -Infinity;
      for (let u = 0; u < n; u++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += q[h * d + c] * keyOf(u, c);
        scores[u] = s * scale;
        max = Math.max(max, scores[u]);
      }
      const acc = new Float64Array(d);
      let sum = 0;
      for (let u = 0; u < n; u++) {
        const w = Math.exp(scores[u] - max);
        sum += w;
        for (let c = 0; c < d; c++) acc[c] += w * valOf(u, c);
      }
      for (let c = 0; c < d; c++) out[h * d + c] = sum > 0 ? acc[c] / sum : 0;
    }
  }
}

function zc(inp: RdkvAttentionRefInput, which: 'k' | 'v', kvh: number, j: number, c: number): number {
  const z = inp.zoneC;
  if (!z) throw new Error('rdkvAttentionRef: zone C tokens without zone C data');
  return z[which][(kvh * z.capacity + j) * inp.headDim + c];
}
