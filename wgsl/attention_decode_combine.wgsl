// Decode attention, pass 2 of 2: merges the per-split partials of wgsl/attention_decode.wgsl (an empty split has
// m = -1e30, l = 0, acc = 0). The merge is wgsl/decode_combine.wgsl (prepended by the wrapper); this file maps
// its accessors onto the scratch layout.
// CPU reference: src/ref/attention.ts (attentionRef with rows = 1, pos = kv_len - 1).
// Grid: (Hq, 1, 1), WG threads per head.
// Bindings: 0 out (Hq*d) f32 · 1 scratch (layout in attention_decode.wgsl; [0] = n_splits) · 2 params
//   (attention_decode's)

override HEAD_DIM: u32 = 64u;
override WG: u32 = 256u; // a power of two

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

fn split_count(h: u32) -> u32 {
  return scratch[0];
}

fn part_ml(h: u32, s: u32) -> vec2<f32> {
  let slot = h * params.max_splits + s;
  return vec2<f32>(bitcast<f32>(scratch[4u + 2u * slot]), bitcast<f32>(scratch[5u + 2u * slot]));
}

fn part_acc(h: u32, s: u32, e: u32) -> f32 {
  let acc0 = 4u + 2u * params.n_heads * params.max_splits;
  return bitcast<f32>(scratch[acc0 + (h * params.max_splits + s) * HEAD_DIM + e]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  combine(wid.x, lid);
}
