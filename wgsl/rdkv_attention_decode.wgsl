// RDKV fused decode attention, split-K pass (rdkv.md §5), one query token over a compressed layer:
//   for query head h of KV head kvh (G = Hq / Hkv heads share the workgroup, so packed words are read once):
//   tokens u = 0 .. kept - 1 in slot order (zone A segments 2/4/8-bit, then zone B), then zone C
//   u = kept .. kept + n_c - 1 (n_c = step.kv_len - T: decode tokens appended after compression).
//   score_u = sum_j code_{u,j} qs_j - bias   (quantised K, slots < nQ; qs_j = q'[perm j] s_j,
//                                             bias = sum_j z_j qs_j, q' = q * scale * log2 e)
//           = q' . k_u                        (zone B K at f16 when kFullInZoneB; zone C K f32 / f16)
//   With K token groups (n_token_groups > 1) s_j, z_j change per group: score = sum_j (code - z) s q'[perm j].
//   Per split (a contiguous range of u), an online softmax in base 2: m, l and acc = sum_u p_u v_u, where
//   v_u is dequantised per zone-A segment ((code - z_u) s_u, per-token s, z), read from zone B (f16) or zone C.
// CPU reference: src/ref/rdkv-attention.ts (rdkvAttentionRef). Combined by wgsl/rdkv_attention_combine.wgsl.
// The previous version of this kernel is wgsl/rdkv_attention_decode_legacy.wgsl (RdkvDecodeShape.legacy).
//
// Register diet (bench/NOTES.md, session 4): every per-thread array has a size known when the wrapper
// compiles the text (G, VB, SPT below are `const`s the wrapper rewrites), and is only ever indexed inside
// loops with small bodies and constant trip counts, so nothing needs dynamic indexing (which would put the
// array in local memory). Query heads are packed in quads (vec4, GV = ceil(G / 4) of them) in workgroup
// memory, so one read serves four heads.
//
// Grid: (n_split, Hkv, 1). Split span S = ceil((max_kept + n_c) / n_split) tokens, taken in chunks of up to NK
//   (best one chunk per split, NK <= WG):
//   0. (PREFETCH) the first chunk's K row starts and V rows of this thread are requested right after the
//      header, so they travel while the query set-up waits on the permutation, scales and zero points;
//   1. scores: thread lid scores tokens lid, lid + WG, ... (SPT of them), kept in registers; each thread
//      sums the bias itself from zqs (no barrier); the chunk max per head by wg_max (subgroup or tree helper,
//      prepended by the wrapper); the running (m, acc, l) rescaled once per chunk; probabilities -> `sc`;
//   2. values: thread (w, r) owns dims 8w .. 8w + 7 (TPT = ceil(d / 8) threads a token) and tokens r, r + KP,
//      ... (KP = WG / TPT), VB of them in flight as one vec4<u32> each (zone A: the 1-2 code words, scale,
//      zero point; f16: the 4 words); a chunk's first VB rows are requested before its scores. Zone C at f32
//      (8 words a row) is taken by a separate loop after the others;
//   then all G heads' KP partial accumulators go through workgroup memory at once (one barrier).
// Bindings: 0 part_acc (Hkv, n_split, G, d) f32 · 1 part_ml (Hkv, n_split, G) vec2 (m, l) · 2 q (Hq*d) f32 ·
//   3 arena array<u32> (the layer's heads) · 4 heads array<u32> (Hkv, HSTRIDE): the 32 header fields of
//   src/rdkv/layout.ts (HEADER_FIELDS, also for plain layouts) then the head's arena base word ·
//   5 zc_k · 6 zc_v (zone C [Hkv, cap_c, d], f32 or ZC_F16 two f16 per word, dim 2j low) · 7 params · 8 step

override HEAD_DIM: u32 = 64u; // even
override NK: u32 = 64u; // tokens per chunk (probabilities held in workgroup memory)
override WG: u32 = 64u; // >= TPT
override TPT: u32 = 8u; // ceil(HEAD_DIM / 8): threads per token in the value phase
override RED_N: u32 = 2084u; // max(G * WG, G * (8 * KP * TPT + KP + 1))
override ZC_F16: u32 = 0u;

// Rewritten by the wrapper (src/gpu/ops/rdkv-attention-decode.ts, setConst) before compiling:
const G: u32 = 4u; // query heads per KV head
const VB: u32 = 8u; // value rows in flight per thread
const SPT: u32 = 1u; // ceil(NK / WG): tokens a thread scores per chunk
const PREFETCH: bool = true; // the first chunk's K and V loads before the query set-up

const MAX_G: u32 = G; // the wg_max helpers' array size
const GV: u32 = (G + 3u) / 4u; // head quads
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

// (channel, quad) -> heads 4 quad .. 4 quad + 3 (0 past G)
var<workgroup> qo4: array<vec4<f32>, GV * HEAD_DIM>; // q * scale * log2 e, original channel order
var<workgroup> qs4: array<vec4<f32>, GV * HEAD_DIM>; // stored-channel order: q' * s_j (one token group) or q' (several)
var<workgroup> zqs4: array<vec4<f32>, GV * HEAD_DIM>; // z_j qs_j, summed into the bias
var<workgroup> sc4: array<vec4<f32>, GV * NK>; // (token, quad) probabilities of the chunk
var<workgroup> red: array<f32, RED_N>; // wg_max, then the (G, KP, TPT, 8) partial sums, (G, KP) l and (G) m

var<workgroup> hdr_s: array<u32, 33>; // this KV head's header fields and arena base (F_BASE), loaded once

// This KV head's header, in registers (read from hdr_s once).
var<private> base: u32; // arena base word of this KV head
var<private> float_zero: bool;
var<private> count_a: u32;
var<private> kept: u32;
var<private> n_q: u32;
var<private> se0: u32; // slot after the 2-bit segment
var<private> se1: u32; // slot after the 4-bit segment
var<private> ch8: u32;
var<private> ch4: u32;
var<private> ch2: u32;
var<private> wpr8: u32;
var<private> wpr4: u32;
var<private> wpr2: u32;
var<private> off8: u32;
var<private> off4: u32;
var<private> off2: u32;
var<private> k_scales: u32;
var<private> k_zeros: u32;
var<private> vc2: u32; // V segment codes, scales, zeros offsets per width
var<private> vs2: u32;
var<private> vz2: u32;
var<private> vc4: u32;
var<private> vs4: u32;
var<private> vz4: u32;
var<private> vc8: u32;
var<private> vs8: u32;
var<private> vz8: u32;
var<private> zb_v: u32;
var<private> zb_k: u32;

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
  return f32((aw(off + e / 4u) >> (8u * (e & 3u))) & 0xffu);
}

// The first word of each K width group's row of token u (quantised slots only), requested together.
fn k_first(u: u32) -> vec3<u32> {
  var f = vec3<u32>();
  if (u < n_q) {
    if (ch8 > 0u) { f.x = aw(off8 + u * wpr8); }
    if (ch4 > 0u) { f.y = aw(off4 + u * wpr4); }
    if (ch2 > 0u) { f.z = aw(off2 + u * wpr2); }
  }
  return f;
}

// s += sum over the channels of one K width group of code * qs (first word w0 already loaded), per head quad.
// The loops run to constant bounds (the widest row of this width) with guards, so they unroll.
fn score_group(s: ptr<function, array<vec4<f32>, GV>>, bits: u32, ch: u32, fc: u32, row: u32, w0: u32, tg: u32, several: bool, d_stored: u32) {
  let wpr = (ch * bits + 31u) / 32u;
  let per = 32u / bits;
  let mask = (1u << bits) - 1u;
  for (var wi = 0u; wi < (HEAD_DIM * bits + 31u) / 32u; wi++) {
    if (wi >= wpr) {
      break;
    }
    var w = w0;
    if (wi > 0u) {
      w = aw(row + wi);
    }
    let n = min(per, ch - wi * per);
    for (var e = 0u; e < per; e++) {
      if (e >= n) {
        break;
      }
      let j = fc + wi * per + e;
      var x = f32((w >> (e * bits)) & mask);
      if (several) {
        let pj = tg * d_stored + j;
        x = (x - zero_at(k_zeros, pj)) * af(k_scales + pj);
      }
      for (var g = 0u; g < GV; g++) {
        (*s)[g] += x * qs4[j * GV + g];
      }
    }
  }
}

// The scores of token u for the head quads (bias4: the per-quad bias of one token group).
fn score(kvh: u32, u: u32, f: vec3<u32>, bias4: array<vec4<f32>, GV>, several: bool, tg_size: u32, d_stored: u32) -> array<vec4<f32>, GV> {
  var s: array<vec4<f32>, GV>;
  for (var g = 0u; g < GV; g++) {
    s[g] = vec4<f32>();
  }
  if (u < n_q) {
    let tg = u / tg_size;
    score_group(&s, 8u, ch8, 0u, off8 + u * wpr8, f.x, tg, several, d_stored);
    score_group(&s, 4u, ch4, ch8, off4 + u * wpr4, f.y, tg, several, d_stored);
    score_group(&s, 2u, ch2, ch8 + ch4, off2 + u * wpr2, f.z, tg, several, d_stored);
    for (var g = 0u; g < GV; g++) {
      s[g] -= bias4[g];
    }
  } else if (u < kept) {
    // zone B K at f16: the row's words, two dims each (constant trip count: all loads issued up front)
    let o = zb_k + (u - count_a) * (HEAD_DIM / 2u);
    for (var c = 0u; c < HEAD_DIM / 2u; c++) {
      let x = unpack2x16float(aw(o + c));
      for (var g = 0u; g < GV; g++) {
        s[g] += x.x * qo4[(2u * c) * GV + g] + x.y * qo4[(2u * c + 1u) * GV + g];
      }
    }
  } else if (ZC_F16 != 0u) {
    let o = (kvh * params.cap_c + u - kept) * (HEAD_DIM / 2u);
    for (var c = 0u; c < HEAD_DIM / 2u; c++) {
      let x = unpack2x16float(zc_k[o + c]);
      for (var g = 0u; g < GV; g++) {
        s[g] += x.x * qo4[(2u * c) * GV + g] + x.y * qo4[(2u * c + 1u) * GV + g];
      }
    }
  } else {
    let o = (kvh * params.cap_c + u - kept) * HEAD_DIM;
    for (var c = 0u; c < HEAD_DIM; c++) {
      let x = bitcast<f32>(zc_k[o + c]);
      for (var g = 0u; g < GV; g++) {
        s[g] += x * qo4[c * GV + g];
      }
    }
  }
  return s;
}

// The raw words of dims 8w .. 8w + 7 of token u's V (zone A, zone B, zone C at f16), fetched so that VB rows
// can be in flight before any is decoded: zone A (x, y) = the words holding the codes (y = x unless 8-bit),
// z, w = the token's scale and zero point (f32 bits); f16 rows: the 4 words.
fn v_fetch(kvh: u32, u: u32, w: u32) -> vec4<u32> {
  if (u < count_a) {
    let in4 = u >= se0;
    let in8 = u >= se1;
    let bits = select(select(2u, 4u, in4), 8u, in8);
    let first = select(select(0u, se0, in4), se1, in8);
    let oc = select(select(vc2, vc4, in4), vc8, in8);
    let os = select(select(vs2, vs4, in4), vs8, in8);
    let oz = select(select(vz2, vz4, in4), vz8, in8);
    let row = u - first;
    let off = oc + row * ((HEAD_DIM * bits + 31u) / 32u) + (8u * w * bits) / 32u;
    let x = aw(off);
    let y = aw(off + select(0u, 1u, in8));
    return vec4<u32>(x, y, arena[base + os + row], bitcast<u32>(zero_at(oz, row)));
  }
  if (u < kept) {
    let off = zb_v + ((u - count_a) * HEAD_DIM + 8u * w) / 2u;
    return vec4<u32>(aw(off), aw(off + 1u), aw(off + 2u), aw(off + 3u));
  }
  let i = (kvh * params.cap_c + u - kept) * (HEAD_DIM / 2u) + 4u * w;
  return vec4<u32>(zc_v[i], zc_v[i + 1u], zc_v[i + 2u], zc_v[i + 3u]);
}

struct V8 {
  lo: vec4<f32>, // dims 8w .. 8w + 3
  hi: vec4<f32>, // dims 8w + 4 .. 8w + 7
}

// Token u's fetched row (v_fetch), dequantised.
fn v_decode(u: u32, r: vec4<u32>, w: u32) -> V8 {
  var o: V8;
  if (u < count_a) {
    let bits = select(select(2u, 4u, u >= se0), 8u, u >= se1);
    let mask = (1u << bits) - 1u;
    let b0 = (8u * w * bits) % 32u;
    for (var e = 0u; e < 4u; e++) {
      let bl = b0 + e * bits;
      let bh = b0 + (4u + e) * bits;
      o.lo[e] = f32((select(r.x, r.y, bl >= 32u) >> (bl & 31u)) & mask);
      o.hi[e] = f32((select(r.x, r.y, bh >= 32u) >> (bh & 31u)) & mask);
    }
    let s = bitcast<f32>(r.z);
    let z = bitcast<f32>(r.w);
    o.lo = (o.lo - z) * s;
    o.hi = (o.hi - z) * s;
    return o;
  }
  o.lo = vec4<f32>(unpack2x16float(r.x), unpack2x16float(r.y));
  o.hi = vec4<f32>(unpack2x16float(r.z), unpack2x16float(r.w));
  return o;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let kvh = wid.y;
  // One round trip for the header (into workgroup memory) and the query, side by side.
  for (var i = lid; i <= F_BASE; i += WG) {
    hdr_s[i] = heads[kvh * HSTRIDE + i];
  }
  for (var i = lid; i < GV * HEAD_DIM; i += WG) {
    let c = i / GV;
    let g = i % GV;
    var x = vec4<f32>();
    for (var k = 0u; k < 4u; k++) {
      if (4u * g + k < G) {
        x[k] = q[(kvh * G + 4u * g + k) * HEAD_DIM + c] * params.scale_log2;
      }
    }
    qo4[i] = x;
  }
  // (a barrier too) uniform, so the chunk loop bounds are; the private copy is not, to the analysis
  let kept_u = workgroupUniformLoad(&hdr_s[F_KEPT]);
  base = hdr_s[F_BASE];
  kept = kept_u;
  n_q = hdr_s[F_NQ];
  let d_stored = hdr_s[F_DSTORED];
  let tg_size = hdr_s[F_TOKEN_GROUP];
  float_zero = (hdr_s[F_FLAGS] & 4u) != 0u;
  count_a = kept - hdr_s[F_COUNTB];
  se0 = hdr_s[F_COUNT2];
  se1 = se0 + hdr_s[F_COUNT2 + 1u];
  ch8 = hdr_s[F_CH8];
  ch4 = hdr_s[F_CH8 + 1u];
  ch2 = hdr_s[F_CH8 + 2u];
  wpr8 = (ch8 * 8u + 31u) / 32u;
  wpr4 = (ch4 * 4u + 31u) / 32u;
  wpr2 = (ch2 * 2u + 31u) / 32u;
  off8 = hdr_s[F_OFF_KCODES8];
  off4 = hdr_s[F_OFF_KCODES8 + 1u];
  off2 = hdr_s[F_OFF_KCODES8 + 2u];
  k_scales = hdr_s[F_OFF_KSCALES];
  k_zeros = hdr_s[F_OFF_KZEROS];
  vc2 = hdr_s[F_OFF_VCODES2];
  vs2 = hdr_s[F_OFF_VCODES2 + 1u];
  vz2 = hdr_s[F_OFF_VCODES2 + 2u];
  vc4 = hdr_s[F_OFF_VCODES2 + 3u];
  vs4 = hdr_s[F_OFF_VCODES2 + 4u];
  vz4 = hdr_s[F_OFF_VCODES2 + 5u];
  vc8 = hdr_s[F_OFF_VCODES2 + 6u];
  vs8 = hdr_s[F_OFF_VCODES2 + 7u];
  vz8 = hdr_s[F_OFF_VCODES2 + 8u];
  zb_v = hdr_s[F_OFF_ZONEBV];
  zb_k = hdr_s[F_OFF_ZONEBK];
  let n_c = step.kv_len - params.t_len;
  let n_tok = kept_u + n_c;
  let several_groups = n_q > tg_size;

  let span = (params.max_kept + n_c + params.n_split - 1u) / params.n_split;
  let u0 = min(split * span, n_tok);
  let u1 = min(u0 + span, n_tok);

  // value-phase role: dims 8w .. 8w + 7, token phase r of kp
  let kp = WG / TPT;
  let w = lid % TPT;
  let r = lid / TPT;
  let in_pv = r < kp;

  // K row starts and V rows of this thread in the current chunk (the first chunk's before the query set-up)
  var kf: array<vec3<u32>, SPT>;
  var vr: array<vec4<u32>, VB>;
  if (PREFETCH) {
    let n0 = min(NK, u1 - u0);
    // V rows through v_fetch: zone A, B and (ZC_F16) zone C; zone C at f32 has its own loop
    let nv0 = select(min(n0, max(kept_u, u0) - u0), n0, ZC_F16 != 0u);
    for (var t = 0u; t < SPT; t++) {
      if (lid + t * WG < n0) {
        kf[t] = k_first(u0 + lid + t * WG);
      }
    }
    if (in_pv) {
      for (var i = 0u; i < VB; i++) {
        if (r + i * kp < nv0) {
          vr[i] = v_fetch(kvh, u0 + r + i * kp, w);
        }
      }
    }
  }

  // The stored-channel query (token group 0) and its bias terms z_j qs_j: the permutation, scales and zero
  // points are fetched together, in parallel over (j, quad).
  for (var i = lid; i < GV * d_stored; i += WG) {
    let j = i / GV;
    let g = i % GV;
    let c = (aw(hdr_s[F_OFF_PERM] + j / 2u) >> (16u * (j & 1u))) & 0xffffu;
    var x = qo4[c * GV + g];
    var zq = vec4<f32>();
    if (!several_groups) {
      x *= af(k_scales + j);
      zq = zero_at(k_zeros, j) * x;
    }
    qs4[i] = x;
    zqs4[i] = zq;
  }
  workgroupBarrier();
  // bias = sum_j z_j qs_j, summed by every thread (workgroup memory reads only, no barrier)
  var bias4: array<vec4<f32>, GV>;
  for (var g = 0u; g < GV; g++) {
    bias4[g] = vec4<f32>();
  }
  for (var j = 0u; j < d_stored; j++) {
    for (var g = 0u; g < GV; g++) {
      bias4[g] += zqs4[j * GV + g];
    }
  }

  var m_run: array<f32, G>;
  var l_run: array<f32, G>;
  var acc: array<vec4<f32>, 2 * G>; // (G, 2): dims 8w .. 8w + 3, 8w + 4 .. 8w + 7
  for (var h = 0u; h < G; h++) {
    m_run[h] = NEG;
    l_run[h] = 0.0;
    acc[2u * h] = vec4<f32>();
    acc[2u * h + 1u] = vec4<f32>();
  }

  for (var c0 = u0; c0 < u1; c0 += NK) {
    let n = min(NK, u1 - c0);
    // tokens of this chunk through v_fetch (the rest: zone C at f32)
    let nv = select(min(n, max(kept_u, c0) - c0), n, ZC_F16 != 0u);
    let fresh = !PREFETCH || c0 != u0;
    if (fresh) {
      // this chunk's first K words and V rows, requested together before the scores need them
      for (var t = 0u; t < SPT; t++) {
        if (lid + t * WG < n) {
          kf[t] = k_first(c0 + lid + t * WG);
        }
      }
      if (in_pv) {
        for (var i = 0u; i < VB; i++) {
          if (r + i * kp < nv) {
            vr[i] = v_fetch(kvh, c0 + r + i * kp, w);
          }
        }
      }
    }

    // 1. scores of this thread's tokens (registers), the chunk max, probabilities
    var sv: array<vec4<f32>, SPT * GV>;
    var cm: array<f32, G>;
    for (var h = 0u; h < G; h++) {
      cm[h] = NEG;
    }
    for (var t = 0u; t < SPT; t++) {
      let j = lid + t * WG;
      if (j < n) {
        let s = score(kvh, c0 + j, kf[t], bias4, several_groups, tg_size, d_stored);
        for (var g = 0u; g < GV; g++) {
          sv[t * GV + g] = s[g];
        }
        for (var h = 0u; h < G; h++) {
          cm[h] = max(cm[h], s[h / 4u][h % 4u]);
        }
      }
    }
    cm = wg_max(lid, cm);
    var m4: array<vec4<f32>, GV>;
    for (var g = 0u; g < GV; g++) {
      m4[g] = vec4<f32>();
    }
    for (var h = 0u; h < G; h++) {
      let m = max(m_run[h], cm[h]);
      let corr = exp2(m_run[h] - m);
      m_run[h] = m;
      l_run[h] *= corr;
      acc[2u * h] *= corr;
      acc[2u * h + 1u] *= corr;
      m4[h / 4u][h % 4u] = m;
    }
    for (var t = 0u; t < SPT; t++) {
      let j = lid + t * WG;
      if (j < n) {
        for (var g = 0u; g < GV; g++) {
          sc4[j * GV + g] = exp2(sv[t * GV + g] - m4[g]);
        }
      }
    }
    workgroupBarrier();

    // 2. values: tokens r, r + kp, ... of the chunk, VB in flight
    if (in_pv) {
      for (var jb = r; jb < nv; jb += kp * VB) {
        if (jb != r) {
          for (var i = 0u; i < VB; i++) {
            if (jb + i * kp < nv) {
              vr[i] = v_fetch(kvh, c0 + jb + i * kp, w);
            }
          }
        }
        for (var i = 0u; i < VB; i++) {
          let j = jb + i * kp;
          if (j < nv) {
            let v = v_decode(c0 + j, vr[i], w);
            var p4: array<vec4<f32>, GV>;
            for (var g = 0u; g < GV; g++) {
              p4[g] = sc4[j * GV + g];
            }
            for (var h = 0u; h < G; h++) {
              let p = p4[h / 4u][h % 4u];
              l_run[h] += p;
              acc[2u * h] += p * v.lo;
              acc[2u * h + 1u] += p * v.hi;
            }
          }
        }
      }
      if (ZC_F16 == 0u) {
        // zone C at f32: 8 words a row, one token at a time
        for (var j = nv + r; j < n; j += kp) {
          let i = (kvh * params.cap_c + c0 + j - kept_u) * HEAD_DIM + 8u * w;
          let lo = vec4<u32>(zc_v[i], zc_v[i + 1u], zc_v[i + 2u], zc_v[i + 3u]);
          let hi = vec4<u32>(zc_v[i + 4u], zc_v[i + 5u], zc_v[i + 6u], zc_v[i + 7u]);
          var p4: array<vec4<f32>, GV>;
          for (var g = 0u; g < GV; g++) {
            p4[g] = sc4[j * GV + g];
          }
          for (var h = 0u; h < G; h++) {
            let p = p4[h / 4u][h % 4u];
            l_run[h] += p;
            acc[2u * h] += p * bitcast<vec4<f32>>(lo);
            acc[2u * h + 1u] += p * bitcast<vec4<f32>>(hi);
          }
        }
      }
    }
    workgroupBarrier();
  }

  // Every head's kp partials at once through `red`: (h, r, w, e) at ((h * kp + r) * TPT + w) * 8 + e, then l
  // at lb + h * kp + r and m at lb + G * kp + h; one barrier, then thread i sums (h, o) = (i / d, i % d).
  let pbase = (kvh * params.n_split + split) * G;
  let lb = G * kp * TPT * 8u;
  if (in_pv) {
    for (var h = 0u; h < G; h++) {
      let o = ((h * kp + r) * TPT + w) * 8u;
      for (var e = 0u; e < 4u; e++) {
        red[o + e] = acc[2u * h][e];
        red[o + 4u + e] = acc[2u * h + 1u][e];
      }
      if (w == 0u) {
        red[lb + h * kp + r] = l_run[h];
      }
    }
  }
  if (lid == 0u) {
    for (var h = 0u; h < G; h++) {
      red[lb + G * kp + h] = m_run[h];
    }
  }
  workgroupBarrier();
  for (var i = lid; i < G * HEAD_DIM; i += WG) {
    let h = i / HEAD_DIM;
    let o = i % HEAD_DIM;
    var x = 0.0;
    for (var rr = 0u; rr < kp; rr++) {
      x += red[(h * kp + rr) * TPT * 8u + o];
    }
    part_acc[(pbase + h) * HEAD_DIM + o] = x;
  }
  for (var h = lid; h < G; h += WG) {
    var l = 0.0;
    for (var rr = 0u; rr < kp; rr++) {
      l += red[lb + h * kp + rr];
    }
    part_ml[pbase + h] = vec2<f32>(red[lb + G * kp + h], l);
  }
}
