// Include (no entry point), prepended by src/gpu/ops/rdkv-attention-decode.ts to both RDKV decode kernels
// (wgsl/rdkv_attention_decode.wgsl and wgsl/rdkv_attention_decode_vec4.wgsl): their bindings, the header field
// indices of the heads table, the header load and the arena accessors. Each kernel sets `base` (its KV head's
// arena base word) and `float_zero` (header flag bit 2) before using the accessors.
// Bindings: 0 part_acc (Hkv, n_split, G, d) f32 · 1 part_ml (Hkv, n_split, G) vec2 (m, l) · 2 q (Hq*d) f32 ·
//   3 arena array<u32> (the layer's heads) · 4 heads array<u32> (Hkv, HSTRIDE): the 32 header fields of
//   src/rdkv/layout.ts (HEADER_FIELDS, also for plain layouts) then the head's arena base word ·
//   5 zc_k · 6 zc_v (zone C [Hkv, cap_c, d], f32 or ZC_F16 two f16 per word, dim 2j low) · 7 params · 8 step

const NEG: f32 = -1e30;
const HSTRIDE: u32 = 36u;
// header field indices (src/rdkv/layout.ts HEADER_FIELDS)
const F_KEPT: u32 = 1u;
const F_NQ: u32 = 2u;
const F_DSTORED: u32 = 3u;
const F_TOKEN_GROUP: u32 = 4u;
const F_COUNT2: u32 = 5u;
const F_COUNTB: u32 = 8u;
const F_CH8: u32 = 9u;
const F_FLAGS: u32 = 12u;
const F_OFF_PERM: u32 = 13u;
const F_OFF_KSCALES: u32 = 14u;
const F_OFF_KZEROS: u32 = 15u;
const F_OFF_KCODES8: u32 = 16u;
const F_OFF_VCODES2: u32 = 19u;
const F_OFF_ZONEBV: u32 = 28u;
const F_OFF_ZONEBK: u32 = 29u;
const F_BASE: u32 = 32u;

struct Params {
  n_heads: u32,
  t_len: u32, // T: zone C length is step.kv_len - T
  cap_c: u32,
  n_split: u32,
  max_kept: u32,
  scale_log2: f32,
}

@group(0) @binding(0) var<storage, read_write> part_acc: array<f32>;
@group(0) @binding(1) var<storage, read_write> part_ml: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> arena: array<u32>;
@group(0) @binding(4) var<storage, read> heads: array<u32>;
@group(0) @binding(5) var<storage, read> zc_k: array<u32>;
@group(0) @binding(6) var<storage, read> zc_v: array<u32>;
@group(0) @binding(7) var<uniform> params: Params;
@group(0) @binding(8) var<uniform> step: Step;

var<workgroup> hdr_s: array<u32, 33>; // this KV head's header fields and arena base (F_BASE), loaded once
var<private> base: u32; // arena base word of this KV head
var<private> float_zero: bool;

// KV head kvh's header fields and arena base into hdr_s (the kernel's WG threads; a barrier must follow).
fn load_header(kvh: u32, lid: u32) {
  for (var i = lid; i <= F_BASE; i += WG) {
    hdr_s[i] = heads[kvh * HSTRIDE + i];
  }
}

fn aw(off: u32) -> u32 {
  return arena[base + off];
}

fn af(off: u32) -> f32 {
  return bitcast<f32>(arena[base + off]);
}

// Zero point e of an array at offset off (f32 words, or u8 x4).
fn zero_at(off: u32, e: u32) -> f32 {
  if (float_zero) {
    return af(off + e);
  }
  return f32(extractBits(aw(off + e / 4u), 8u * (e & 3u), 8u));
}
