// Include (no entry point), prepended by src/gpu/ops/attention-decode.ts to wgsl/attention_decode.wgsl and
// wgsl/attention_decode_single.wgsl: the K/V cache row layout and its 16-byte-unit readers.
// A cache is [Hkv, capacity, d]: f32 words, or CACHE_F16 two f16 per word (dim 2j in the low half), bound as
// array<vec4<u32>> (a multiple of 16 bytes). A row is read in UPR 16-byte units of UD dims each: whole
// vec4<u32> words when ALIGNED (8 f16 or 4 f32 dims), else 4 dims gathered word by word (zero past HEAD_DIM).
// The kernel declares the bindings `k_cache` and `v_cache` (array<vec4<u32>>).

override HEAD_DIM: u32 = 64u;
override DP4: u32 = 16u; // ceil(HEAD_DIM / 4)
override CACHE_F16: u32 = 0u;
override ALIGNED: u32 = 1u; // a cache row is whole vec4<u32> words (f32: d % 4 == 0, f16: d % 8 == 0)
override ROW4: u32 = 16u; // when ALIGNED: vec4<u32> words per cache row (d / 4 for f32, d / 8 for f16)
override UPR: u32 = 16u; // 16-byte units per row: ROW4 when ALIGNED, else DP4 (4 dims each, gathered)
override UD: u32 = 4u; // dims per unit: 8 (aligned f16) or 4

const KB: u32 = 8u; // K units loaded together (a 64-dim f16 row is 8 units)

fn cache_vec4(is_v: bool, i: u32) -> vec4<u32> {
  if (is_v) {
    return v_cache[i];
  }
  return k_cache[i];
}

// Dims 4c .. 4c + 3 of cache row `row`, for rows that are not whole vec4<u32> words (zero past HEAD_DIM).
fn cache_dims_scalar(is_v: bool, row: u32, c: u32) -> vec4<f32> {
  var x = vec4<f32>();
  for (var i = 0u; i < 4u; i++) {
    let e = 4u * c + i;
    if (e < HEAD_DIM) {
      if (CACHE_F16 != 0u) {
        let w = row * (HEAD_DIM / 2u) + e / 2u;
        x[i] = unpack2x16float(cache_vec4(is_v, w >> 2u)[w & 3u])[e & 1u];
      } else {
        let w = row * HEAD_DIM + e;
        x[i] = bitcast<f32>(cache_vec4(is_v, w >> 2u)[w & 3u]);
      }
    }
  }
  return x;
}

// Unit u of cache row `row`, raw: a cache word when ALIGNED, else 4 gathered dims as f32 bits.
fn load_unit(is_v: bool, row: u32, u: u32) -> vec4<u32> {
  if (ALIGNED != 0u) {
    return cache_vec4(is_v, row * ROW4 + u);
  }
  return bitcast<vec4<u32>>(cache_dims_scalar(is_v, row, u));
}

// Units ub .. ub + KB - 1 of K row `row` (those below UPR), all loads issued before any is used.
fn load_k_units(row: u32, ub: u32) -> array<vec4<u32>, KB> {
  var raw: array<vec4<u32>, KB>;
  for (var i = 0u; i < KB; i++) {
    if (ub + i < UPR) {
      raw[i] = load_unit(false, row, ub + i);
    }
  }
  return raw;
}

// Dims 0..3 of a unit.
fn unit_lo(raw: vec4<u32>) -> vec4<f32> {
  if (UD == 8u) {
    return vec4<f32>(unpack2x16float(raw.x), unpack2x16float(raw.y));
  }
  return bitcast<vec4<f32>>(raw);
}

// Dims 4..7 of an 8-dim (f16) unit.
fn unit_hi(raw: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(unpack2x16float(raw.z), unpack2x16float(raw.w));
}
