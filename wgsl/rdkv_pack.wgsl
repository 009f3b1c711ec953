// RDKV pack: writes one KV head's compressed arena (src/rdkv/layout.ts) from the layer's full K/V cache,
// the same words as src/rdkv/cache.ts packHead (the CPU reference). Four phases (override PHASE), one
// dispatch each per head, in order:
//   PHASE 0  K partial extremes: per (token group tg, chunk of `chunk` quantised slots, stored channel j):
//            min/max of K[slot, perm[j]] -> scratch kpart (tg * n_sub + sub, j).
//            Grid (n_token_groups * n_sub, 1, 1); threads stride over channels, loop over the chunk's slots.
//   PHASE 1  K parameters: per (j, tg) a tree reduction over the n_sub partials, then (s, z) of the
//            channel's stored width -> scratch kparams (tg, j). Grid (d_stored, n_token_groups, 1).
//   PHASE 2  V parameters: per zone-A slot, (s, z) over its d values at the segment's width -> scratch
//            vparams (slot). Grid (ceil(count_a / WG), 1, 1).
//   PHASE 3  Words: one invocation per arena word from offKScales to the end of zone B (K scales, K zeros,
//            K codes 8/4/2, V segments 2/4/8 codes/scales/zeros, zone B V and K at f16), each computed from
//            the cache and the scratch parameters, so no two invocations touch one word. Grid: the word count
//            in WG blocks, folded into (x, y) (src/gpu/ops/grid.ts). The header, the channel permutation and
//            the stored positions do not depend on K/V: the CPU writes them.
// Quantizer (src/rdkv/quantize.ts, f32): s = max((max - min) / L, 1e-8), z = -min / s ('float' zero points)
//   or round(clamp(-min / s, 0, L)) ('integer'), code = round(clamp(x / s + z, 0, L)), L = 2^b - 1.
// Bindings: 0 arena array<u32> (all heads; this head from params.base) · 1 scratch array<vec2<f32>> ·
//   2 k_cache · 3 v_cache ([Hkv, capacity, d]: f32, or CACHE_F16 two f16 per word, dim 2j low) ·
//   4 idx array<u32> (at idx_base: kept slot -> prompt position (kept), then perm (d_stored)) · 5 params

override PHASE: u32 = 0u;
override HEAD_DIM: u32 = 64u;
override CACHE_F16: u32 = 0u;
override WG: u32 = 64u;

struct Params {
  head: u32,
  capacity: u32,
  base: u32, // arena word of this head's first word
  idx_base: u32,
  kpart: u32, // scratch (vec2) offsets of this head
  kparams: u32,
  vparams: u32,
  kept: u32,
  n_q: u32,
  d_stored: u32,
  token_group: u32,
  n_token_groups: u32,
  n_sub: u32,
  chunk: u32,
  float_zero: u32,
  count_a: u32,
  ch8: u32,
  ch4: u32,
  ch2: u32,
  count2: u32,
  count4: u32,
  count8: u32,
  count_b: u32,
  off_k_scales: u32, // arena offsets, relative to base
  off_k_zeros: u32,
  off_k_codes8: u32,
  off_k_codes4: u32,
  off_k_codes2: u32,
  off_v_codes2: u32,
  off_v_scales2: u32,
  off_v_zeros2: u32,
  off_v_codes4: u32,
  off_v_scales4: u32,
  off_v_zeros4: u32,
  off_v_codes8: u32,
  off_v_scales8: u32,
  off_v_zeros8: u32,
  off_zone_b_v: u32,
  off_zone_b_k: u32,
  end: u32, // end of zone B K (relative)
}

@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
@group(0) @binding(1) var<storage, read_write> scratch: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> k_cache: array<u32>;
@group(0) @binding(3) var<storage, read> v_cache: array<u32>;
@group(0) @binding(4) var<storage, read> idx: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> red: array<vec2<f32>, WG>;

fn raw_word(is_v: bool, i: u32) -> u32 {
  if (is_v) {
    return v_cache[i];
  }
  return k_cache[i];
}

fn cache_value(is_v: bool, t: u32, c: u32) -> f32 {
  let row = params.head * params.capacity + t;
  if (CACHE_F16 != 0u) {
    let i = row * (HEAD_DIM / 2u) + c / 2u;
    return unpack2x16float(raw_word(is_v, i))[c & 1u];
  }
  let i = row * HEAD_DIM + c;
  return bitcast<f32>(raw_word(is_v, i));
}

// The f16 bits of element c of token t (rounded from f32 when the cache is f32).
fn cache_half(is_v: bool, t: u32, c: u32) -> u32 {
  if (CACHE_F16 != 0u) {
    let i = (params.head * params.capacity + t) * (HEAD_DIM / 2u) + c / 2u;
    return (raw_word(is_v, i) >> (16u * (c & 1u))) & 0xffffu;
  }
  return pack2x16float(vec2<f32>(cache_value(is_v, t, c), 0.0)) & 0xffffu;
}

fn position(slot: u32) -> u32 {
  return idx[params.idx_base + slot];
}

fn perm(j: u32) -> u32 {
  return idx[params.idx_base + params.kept + j];
}

fn levels(bits: u32) -> f32 {
  return f32((1u << bits) - 1u);
}

// (s, z) of a group with extremes (mn, mx) at `bits` bits.
fn quant_params(mn: f32, mx: f32, bits: u32) -> vec2<f32> {
  let l = levels(bits);
  var s = (mx - mn) / l;
  if (!(s > 1e-8)) {
    s = 1e-8;
  }
  var z = -mn / s;
  if (params.float_zero == 0u) {
    z = round(clamp(z, 0.0, l));
  }
  return vec2<f32>(s, z);
}

fn quantize(x: f32, p: vec2<f32>, bits: u32) -> u32 {
  return u32(round(clamp(x / p.x + p.y, 0.0, levels(bits))));
}

fn k_bits(j: u32) -> u32 {
  if (j < params.ch8) {
    return 8u;
  }
  if (j < params.ch8 + params.ch4) {
    return 4u;
  }
  return 2u;
}

fn v_bits(slot: u32) -> u32 {
  if (slot < params.count2) {
    return 2u;
  }
  if (slot < params.count2 + params.count4) {
    return 4u;
  }
  return 8u;
}

fn merge_range(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(min(a.x, b.x), max(a.y, b.y));
}

// Word wi of row `row` of the packed K codes of width `bits` (channels ch from first channel fc).
fn k_code_word(rel: u32, bits: u32, fc: u32, ch: u32) -> u32 {
  let wpr = (ch * bits + 31u) / 32u;
  let slot = rel / wpr;
  let wi = rel % wpr;
  let t = position(slot);
  let tg = slot / params.token_group;
  let per = 32u / bits;
  var word = 0u;
  for (var e = 0u; e < per; e++) {
    let ci = wi * per + e;
    if (ci < ch) {
      let j = fc + ci;
      let p = scratch[params.kparams + tg * params.d_stored + j];
      word |= quantize(cache_value(false, t, perm(j)), p, bits) << (e * bits);
    }
  }
  return word;
}

fn v_code_word(rel: u32, bits: u32, first: u32) -> u32 {
  let wpr = (HEAD_DIM * bits + 31u) / 32u;
  let slot = first + rel / wpr;
  let wi = rel % wpr;
  let t = position(slot);
  let p = scratch[params.vparams + slot];
  let per = 32u / bits;
  var word = 0u;
  for (var e = 0u; e < per; e++) {
    let c = wi * per + e;
    if (c < HEAD_DIM) {
      word |= quantize(cache_value(true, t, c), p, bits) << (e * bits);
    }
  }
  return word;
}

// Word `rel` of a zero-point array of n entries whose entry e is scratch[first + e].y.
fn zero_word(rel: u32, first: u32, n: u32) -> u32 {
  if (params.float_zero != 0u) {
    return bitcast<u32>(scratch[first + rel].y);
  }
  var word = 0u;
  for (var u = 0u; u < 4u; u++) {
    let e = 4u * rel + u;
    if (e < n) {
      word |= u32(scratch[first + e].y) << (8u * u);
    }
  }
  return word;
}

// Word `rel` of a zone B f16 array (count_b, d), flat.
fn zone_b_word(rel: u32, is_v: bool) -> u32 {
  var word = 0u;
  let n = params.count_b * HEAD_DIM;
  for (var u = 0u; u < 2u; u++) {
    let e = 2u * rel + u;
    if (e < n) {
      let t = position(params.count_a + e / HEAD_DIM);
      word |= cache_half(is_v, t, e % HEAD_DIM) << (16u * u);
    }
  }
  return word;
}

fn arena_word(r: u32) -> u32 {
  let ntg = params.n_token_groups;
  let nk = ntg * params.d_stored;
  if (r < params.off_k_zeros) {
    return bitcast<u32>(scratch[params.kparams + r - params.off_k_scales].x);
  }
  if (r < params.off_k_codes8) {
    return zero_word(r - params.off_k_zeros, params.kparams, nk);
  }
  if (r < params.off_k_codes4) {
    return k_code_word(r - params.off_k_codes8, 8u, 0u, params.ch8);
  }
  if (r < params.off_k_codes2) {
    return k_code_word(r - params.off_k_codes4, 4u, params.ch8, params.ch4);
  }
  if (r < params.off_v_codes2) {
    return k_code_word(r - params.off_k_codes2, 2u, params.ch8 + params.ch4, params.ch2);
  }
  let f4 = params.count2;
  let f8 = params.count2 + params.count4;
  if (r < params.off_v_scales2) {
    return v_code_word(r - params.off_v_codes2, 2u, 0u);
  }
  if (r < params.off_v_zeros2) {
    return bitcast<u32>(scratch[params.vparams + r - params.off_v_scales2].x);
  }
  if (r < params.off_v_codes4) {
    return zero_word(r - params.off_v_zeros2, params.vparams, params.count2);
  }
  if (r < params.off_v_scales4) {
    return v_code_word(r - params.off_v_codes4, 4u, f4);
  }
  if (r < params.off_v_zeros4) {
    return bitcast<u32>(scratch[params.vparams + f4 + r - params.off_v_scales4].x);
  }
  if (r < params.off_v_codes8) {
    return zero_word(r - params.off_v_zeros4, params.vparams + f4, params.count4);
  }
  if (r < params.off_v_scales8) {
    return v_code_word(r - params.off_v_codes8, 8u, f8);
  }
  if (r < params.off_v_zeros8) {
    return bitcast<u32>(scratch[params.vparams + f8 + r - params.off_v_scales8].x);
  }
  if (r < params.off_zone_b_v) {
    return zero_word(r - params.off_v_zeros8, params.vparams + f8, params.count8);
  }
  if (r < params.off_zone_b_k) {
    return zone_b_word(r - params.off_zone_b_v, true);
  }
  return zone_b_word(r - params.off_zone_b_k, false);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let inf = 3.4e38; // above any cache value
  if (PHASE == 0u) {
    let tg = wid.x / params.n_sub;
    let sub = wid.x % params.n_sub;
    let s0 = tg * params.token_group + sub * params.chunk;
    let s1 = min(min(s0 + params.chunk, (tg + 1u) * params.token_group), params.n_q);
    for (var j = lid; j < params.d_stored; j += WG) {
      let c = perm(j);
      var r = vec2<f32>(inf, -inf);
      for (var s = s0; s < s1; s++) {
        let x = cache_value(false, position(s), c);
        r = merge_range(r, vec2<f32>(x, x));
      }
      scratch[params.kpart + wid.x * params.d_stored + j] = r;
    }
  } else if (PHASE == 1u) {
    let j = wid.x;
    let tg = wid.y;
    var r = vec2<f32>(inf, -inf);
    for (var sub = lid; sub < params.n_sub; sub += WG) {
      r = merge_range(r, scratch[params.kpart + (tg * params.n_sub + sub) * params.d_stored + j]);
    }
    red[lid] = r;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s) {
        red[lid] = merge_range(red[lid], red[lid + s]);
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      scratch[params.kparams + tg * params.d_stored + j] = quant_params(red[0].x, red[0].y, k_bits(j));
    }
  } else if (PHASE == 2u) {
    let slot = wid.x * WG + lid;
    if (slot < params.count_a) {
      let t = position(slot);
      var r = vec2<f32>(inf, -inf);
      for (var c = 0u; c < HEAD_DIM; c++) {
        let x = cache_value(true, t, c);
        r = merge_range(r, vec2<f32>(x, x));
      }
      scratch[params.vparams + slot] = quant_params(r.x, r.y, v_bits(slot));
    }
  } else {
    let r = params.off_k_scales + (wid.y * nwg.x + wid.x) * WG + lid;
    if (r < params.end) {
      arena[params.base + r] = arena_word(r);
    }
  }
}
