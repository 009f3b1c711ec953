// RDKV fused decode attention, combine pass: merges the n_split partial softmaxes of
// wgsl/rdkv_attention_decode.wgsl per query head h (KV head h / G, head hi = h % G in its group):
//   M = max_s m_s,  out[h, c] = sum_s exp2(m_s - M) acc_s[c] / sum_s exp2(m_s - M) l_s   (0 when no token)
// CPU reference: src/ref/rdkv-attention.ts (rdkvAttentionRef).
// Grid: (Hq, 1, 1), WG threads striding over the head's d dims.
// Bindings: 0 out (Hq*d) f32 · 1 part_acc (Hkv, n_split, G, d) · 2 part_ml (Hkv, n_split, G) vec2 ·
//   3 params (the Params of rdkv_attention_decode.wgsl)

override HEAD_DIM: u32 = 64u;
override G: u32 = 1u;
override WG: u32 = 64u;

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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let n_split = params.n_split;
  // part (kvh, split, hi) = (kvh * n_split + split) * G + hi
  let first = (h / G) * n_split * G + h % G;
  var m = -1e30;
  for (var s = 0u; s < n_split; s++) {
    let ml = part_ml[first + s * G];
    if (ml.y > 0.0) {
      m = max(m, ml.x);
    }
  }
  var l = 0.0;
  for (var s = 0u; s < n_split; s++) {
    let ml = part_ml[first + s * G];
    if (ml.y > 0.0) {
      l += ml.y * exp2(ml.x - m);
    }
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var c = lid; c < HEAD_DIM; c += WG) {
    var acc = 0.0;
    for (var s = 0u; s < n_split; s++) {
      let ml = part_ml[first + s * G];
      if (ml.y > 0.0) {
        acc += part_acc[(first + s * G) * HEAD_DIM + c] * exp2(ml.x - m);
      }
    }
    out[h * HEAD_DIM + c] = acc * inv;
  }
}
