// RDKV fused decode attention, combine pass: merges the n_split partial softmaxes of
// wgsl/rdkv_attention_decode.wgsl per query head h (KV head h / G, head hi = h % G in its group):
//   M = max_s m_s,  out[h, c] = sum_s exp2(m_s - M) acc_s[c] / sum_s exp2(m_s - M) l_s   (0 when no token)
//   (splits with l = 0 hold no token and are skipped).
// CPU reference: src/ref/rdkv-attention.ts (rdkvAttentionRef).
// Grid: (Hq, 1, 1). WG threads per head: M by a tree over the splits; then thread (c, sp) sums dim c over
//   splits sp, sp + NP, ... (NP = WG / min(WG, d) split phases, 4 splits in flight per thread), and the NP
//   partial sums (and l) are added through workgroup memory. Nothing loops serially over all splits.
// Bindings: 0 out (Hq*d) f32 · 1 part_acc (Hkv, n_split, G, d) · 2 part_ml (Hkv, n_split, G) vec2 ·
//   3 params (the Params of rdkv_attention_decode.wgsl)

override HEAD_DIM: u32 = 64u;
override G: u32 = 1u;
override WG: u32 = 256u; // a power of two

struct Params {
  n_heads: u32,
  t_len: u32,
  cap_c: u32,
  n_split: u32,
  max_kept: u32,
  scale_log2: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> part_acc: array<f32>;
@group(0) @binding(2) var<storage, read> part_ml: array<vec2<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> red: array<f32, WG>;
var<workgroup> red_l: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let n = params.n_split;
  // part (kvh, split, hi) = (kvh * n_split + split) * G + hi
  let first = (h / G) * n * G + h % G;

  var m = -1e30;
  for (var s = lid; s < n; s += WG) {
    let ml = part_ml[first + s * G];
    if (ml.y > 0.0) {
      m = max(m, ml.x);
    }
  }
  red[lid] = m;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      red[lid] = max(red[lid], red[lid + st]);
    }
    workgroupBarrier();
  }
  let big_m = red[0];
  workgroupBarrier();

  let dt = min(WG, HEAD_DIM);
  let np = WG / dt;
  let sp = lid / dt;
  let c0 = lid % dt;
  for (var cb = 0u; cb < HEAD_DIM; cb += dt) {
    let c = cb + c0;
    var o = 0.0;
    var l = 0.0;
    if (sp < np && c < HEAD_DIM) {
      for (var s = sp; s < n; s += 4u * np) {
        var wt: array<f32, 4>;
        var a: array<f32, 4>;
        var ls: array<f32, 4>;
        for (var i = 0u; i < 4u; i++) {
          let si = s + i * np;
          if (si < n) {
            let part = first + si * G;
            let ml = part_ml[part];
            a[i] = part_acc[part * HEAD_DIM + c];
            if (ml.y > 0.0) {
              wt[i] = exp2(ml.x - big_m);
              ls[i] = ml.y;
            }
          }
        }
        for (var i = 0u; i < 4u; i++) {
          o += wt[i] * a[i];
          l += wt[i] * ls[i];
        }
      }
    }
    red[lid] = o;
    red_l[lid] = l;
    workgroupBarrier();
    if (sp == 0u && c < HEAD_DIM) {
      var os = 0.0;
      var lsum = 0.0;
      for (var p = 0u; p < np; p++) {
        os += red[p * dt + c0];
        lsum += red_l[p * dt + c0];
      }
      out[h * HEAD_DIM + c] = select(0.0, os / lsum, lsum > 0.0);
    }
    workgroupBarrier();
  }
}
