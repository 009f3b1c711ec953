// RoPE (rotate-half, as Hugging Face transformers) on q in place and on k, then the KV-cache write:
//   for i < d/2, angle = f32(pos) * inv_freq[i] (an f32 product, as torch computes it in float32),
//   x'[i] = x[i] cos - x[i + d/2] sin,  x'[i + d/2] = x[i + d/2] cos + x[i] sin,
//   K[kvh, pos - slot_base, :] = rope(k[row, kvh, :]),  V[kvh, pos - slot_base, :] = v[row, kvh, :],
//   pos = step.pos + row (slot_base is 0 for a plain cache, T for a compressed cache's zone C).
// cos/sin are computed here with an exact range reduction and polynomials (absolute error ~2e-7 for any
// angle below 2^24), not with the built-ins, whose accuracy is unspecified outside [-pi, pi].
// CPU reference: src/ref/rope.ts (ropeKvRef).
// Grid: (ceil((Hq + 2 Hkv) * d/2 / WG), step.rows, 1). One invocation per item of a row: a (head, i) pair
//   of q, a packed word (two dims) of roped k, or a packed word of v.
// Bindings: 0 q_out (rows, Hq*d) f32, the roped q · 1 k_cache · 2 v_cache ([Hkv, capacity, d]: f32 one
//   value per word, or CACHE_F16 two per word, dim 2j in the low half of word j) · 3 k · 4 v · 8 q_in:
//   the projections, read only, row r of x at x[r * x_stride + x_off ...] (one fused q|k|v buffer bound
//   three times, or three buffers) · 5 inv_freq (d/2) f32 · 6 params · 7 step

override WG: u32 = 64u;
override CACHE_F16: u32 = 0u;

struct Params {
  n_heads: u32,
  n_kv_heads: u32,
  head_dim: u32,
  capacity: u32,
  slot_base: u32, // cache slot of position slot_base is 0 (a compressed cache's zone C starts at T)
  q_stride: u32,
  q_off: u32,
  k_stride: u32,
  k_off: u32,
  v_stride: u32,
  v_off: u32,
}

@group(0) @binding(0) var<storage, read_write> q_out: array<f32>;
@group(0) @binding(1) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(2) var<storage, read_write> v_cache: array<u32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(8) var<storage, read> q_in: array<f32>;
@group(0) @binding(7) var<uniform> step: Step;

// 2/pi in 12-bit digits: 2/pi = sum_k TWO_OVER_PI_12[k] * 2^(-12 (k + 1)) (60 bits; the rest adds < 2^-36).
const TWO_OVER_PI_12 = array<u32, 5>(0xa2fu, 0x983u, 0x6e4u, 0xe44u, 0x152u);
const PIO2_HI: f32 = 1.5707963705062866;
const PIO2_LO: f32 = -4.3711390001862426e-8;

// 2^-e as an exact f32, for 0 <= e <= 126.
fn pow2_neg(e: u32) -> f32 {
  return bitcast<f32>((127u - e) << 23u);
}

// Quarter turns y = a * 2/pi as (y mod 2^32 integer part, 32-bit fixed-point fraction).
// a = m * 2^-s with m a 24-bit integer, split m = mh * 2^12 + ml; every product mh * digit and ml * digit
// has at most 24 bits, so each term below is an exact f32, and its integer and fraction parts are exact.
// Fractions are truncated to 32 bits (error < 2^-32 per term) and summed in integers with carry.
fn quarter_turns(a: f32) -> vec2<u32> {
  let bits = bitcast<u32>(a);
  let m = (bits & 0x7fffffu) | 0x800000u;
  let s = 150u - (bits >> 23u);
  let mh = m >> 12u;
  let ml = m & 0xfffu;
  var whole = 0u;
  var frac = 0u;
  for (var j = 0u; j < 10u; j++) {
    let digit = j >> 1u;
    let hi_half = (j & 1u) == 0u;
    let prod = select(ml, mh, hi_half) * TWO_OVER_PI_12[digit];
    let t = f32(prod) * pow2_neg(s + 12u * digit + select(12u, 0u, hi_half));
    let ip = floor(t);
    let fx = u32((t - ip) * 4294967296.0);
    whole += u32(ip);
    frac += fx;
    whole += select(0u, 1u, frac < fx);
  }
  return vec2<u32>(whole, frac);
}

// (cos a, sin a) for 0 <= a < 2^24.
fn cos_sin(a: f32) -> vec2<f32> {
  var r = a;
  var n = 0u;
  if (a >= 0.5) {
    let y = quarter_turns(a);
    var f: f32;
    if (y.y >= 0x80000000u) {
      n = y.x + 1u;
      f = f32(bitcast<i32>(y.y)) * 2.3283064365386963e-10;
    } else {
      n = y.x;
      f = f32(y.y) * 2.3283064365386963e-10;
    }
    r = f * PIO2_HI + f * PIO2_LO;
  }
  // |r| <= pi/4: Taylor series to r^9 (sin) and r^10 (cos), truncation error < 2e-9.
  let z = r * r;
  let sn = r + r * z * (-1.6666666666666666e-1 + z * (8.3333333333333333e-3 + z * (-1.9841269841269841e-4 + z * 2.7557319223985891e-6)));
  let cs = 1.0 - 0.5 * z + z * z * (4.1666666666666667e-2 + z * (-1.3888888888888889e-3 + z * (2.4801587301587302e-5 + z * -2.7557319223985891e-7)));
  switch (n & 3u) {
    case 0u: { return vec2<f32>(cs, sn); }
    case 1u: { return vec2<f32>(-sn, cs); }
    case 2u: { return vec2<f32>(-cs, -sn); }
    default: { return vec2<f32>(sn, -cs); }
  }
}

// Dim e of the rotated head starting at base in k.
fn roped_k(base: u32, e: u32, half: u32, pos: f32) -> f32 {
  let i = select(e, e - half, e >= half);
  let cs = cos_sin(pos * inv_freq[i]);
  if (e < half) {
    return k[base + e] * cs.x - k[base + e + half] * cs.y;
  }
  return k[base + e] * cs.x + k[base + e - half] * cs.y;
}

fn store_pair(is_k: bool, token: u32, j: u32, a: f32, b: f32) {
  let d = params.head_dim;
  if (CACHE_F16 != 0u) {
    let w = pack2x16float(vec2<f32>(a, b));
    if (is_k) { k_cache[token * (d / 2u) + j] = w; } else { v_cache[token * (d / 2u) + j] = w; }
  } else {
    let i = token * d + 2u * j;
    if (is_k) {
      k_cache[i] = bitcast<u32>(a);
      k_cache[i + 1u] = bitcast<u32>(b);
    } else {
      v_cache[i] = bitcast<u32>(a);
      v_cache[i + 1u] = bitcast<u32>(b);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.y;
  if (row >= step.rows) {
    return;
  }
  let d = params.head_dim;
  let half = d / 2u;
  let nq = params.n_heads * half;
  let nk = params.n_kv_heads * half;
  let p = step.pos + row;
  let pos = f32(p);
  var item = gid.x;
  if (item < nq) {
    let h = item / half;
    let i = item % half;
    let cs = cos_sin(pos * inv_freq[i]);
    let src = row * params.q_stride + params.q_off + h * d;
    let x = q_in[src + i];
    let y = q_in[src + i + half];
    let base = (row * params.n_heads + h) * d;
    q_out[base + i] = x * cs.x - y * cs.y;
    q_out[base + i + half] = y * cs.x + x * cs.y;
    return;
  }
  item -= nq;
  let is_k = item < nk;
  if (!is_k) {
    item -= nk;
    if (item >= nk) {
      return;
    }
  }
  let kvh = item / half;
  let j = item % half;
  let token = kvh * params.capacity + (p - params.slot_base);
  if (is_k) {
    let base = row * params.k_stride + params.k_off + kvh * d;
    store_pair(true, token, j, roped_k(base, 2u * j, half, pos), roped_k(base, 2u * j + 1u, half, pos));
  } else {
    let base = row * params.v_stride + params.v_off + kvh * d;
    store_pair(false, token, j, v[base + 2u * j], v[base + 2u * j + 1u]);
  }
}
