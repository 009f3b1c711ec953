// RDKV fused decode attention, combine pass: merges the n_split partial softmaxes of
// wgsl/rdkv_attention_decode.wgsl per query head h (KV head h / G, head hi = h % G in its group); splits with
// l = 0 hold no token and are skipped, and a head with no token gets 0. The merge is wgsl/decode_combine.wgsl
// (prepended by the wrapper); this file maps its accessors onto the partial buffers.
// CPU reference: src/ref/rdkv-attention.ts (rdkvAttentionRef).
// Grid: (Hq, 1, 1), WG threads per head.
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
@group(0) @binding(1) var<storage, read> part_acc_buf: array<f32>;
@group(0) @binding(2) var<storage, read> part_ml_buf: array<vec2<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

fn split_count(h: u32) -> u32 {
  return params.n_split;
}

// part (kvh, split, hi) = (kvh * n_split + split) * G + hi
fn part_index(h: u32, s: u32) -> u32 {
  return ((h / G) * params.n_split + s) * G + h % G;
}

fn part_ml(h: u32, s: u32) -> vec2<f32> {
  return part_ml_buf[part_index(h, s)];
}

fn part_acc(h: u32, s: u32, e: u32) -> f32 {
  return part_acc_buf[part_index(h, s) * HEAD_DIM + e];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  combine(wid.x, lid);
}
