// Decode attention, pass 2 of 2: merges the per-split partials of wgsl/attention_decode.wgsl.
//   M = max_s m_s,  out[h, :] = sum_s 2^(m_s - M) acc_s / sum_s 2^(m_s - M) l_s
// (an empty split has m = -1e30, l = 0, acc = 0, so its weight is 0).
// CPU reference: src/ref/attention.ts (attentionRef with rows = 1, pos = kv_len - 1).
// Grid: (Hq, 1, 1), WG threads per head, one dim each (strided).
// Bindings: 0 out (Hq*d) f32 · 1 scratch (layout in attention_decode.wgsl; [0] = n_splits) · 2 params
//   (attention_decode's)

override HEAD_DIM: u32 = 64u;
override WG: u32 = 64u;

struct Params {
  n_heads: u32,
  capacity: u32,
  window: u32,
  scale_log2: f32,
  max_splits: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> scratch: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let n = scratch[0];
  let slot0 = h * params.max_splits;
  var m = -3.0e38;
  for (var s = 0u; s < n; s++) {
    m = max(m, bitcast<f32>(scratch[4u + 2u * (slot0 + s)]));
  }
  var l = 0.0;
  for (var s = 0u; s < n; s++) {
    l += exp2(bitcast<f32>(scratch[4u + 2u * (slot0 + s)]) - m) * bitcast<f32>(scratch[5u + 2u * (slot0 + s)]);
  }
  let acc0 = 4u + 2u * params.n_heads * params.max_splits;
  for (var e = lid; e < HEAD_DIM; e += WG) {
    var o = 0.0;
    for (var s = 0u; s < n; s++) {
      let w = exp2(bitcast<f32>(scratch[4u + 2u * (slot0 + s)]) - m);
      o += w * bitcast<f32>(scratch[acc0 + (slot0 + s) * HEAD_DIM + e]);
    }
    out[h * HEAD_DIM + e] = o / l;
  }
}
