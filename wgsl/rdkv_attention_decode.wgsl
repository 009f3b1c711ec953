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
// Grid: (n_split, Hkv, 1). Split size S = BT * ceil(ceil((max_kept + n_c) / n_split) / BT) tokens. Per tile of
//   BT tokens: each thread scores one token for the G heads -> workgroup memory; threads h < G update the
//   softmax; then each thread accumulates its DPT output dims for the G heads over the tile's tokens (all
//   threads read the same token's packed V words: coalesced).
// Bindings: 0 part_acc (Hkv, n_split, G, d) f32 · 1 part_ml (Hkv, n_split, G) vec2 (m, l) · 2 q (Hq*d) f32 ·
//   3 arena array<u32> (the layer's heads) · 4 heads array<u32> (Hkv, HSTRIDE): the 32 header fields of
//   src/rdkv/layout.ts (HEADER_FIELDS, also for plain layouts) then the head's arena base word ·
//   5 zc_k · 6 zc_v (zone C [Hkv, cap_c, d], f32 or ZC_F16 two f16 per word, dim 2j low) · 7 params · 8 step

override HEAD_DIM: u32 = 64u;
override G: u32 = 1u;
override BT: u32 = 64u; // tokens per tile = WG
override ZC_F16: u32 = 0u;

const NEG: f32 = -1e30;
const MAX_G: u32 = 8u;
const MAX_DPT: u32 = 4u; // output dims per thread: ceil(HEAD_DIM / BT) <= MAX_DPT
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

var<workgroup> qo: array<f32, G * HEAD_DIM>; // q * scale * log2 e, original channel order
var<workgroup> qs: array<f32, G * HEAD_DIM>; // stored-channel order: q' * s_j (one token group) or q' (several)
var<workgroup> bias: array<f32, G>;
var<workgroup> ss: array<f32, G * BT>; // scores, then probabilities
var<workgroup> row_m: array<f32, G>;
var<workgroup> row_l: array<f32, G>;
var<workgroup> row_corr: array<f32, G>;

var<workgroup> wg_kept: u32; // read once, so the tile loop bounds are uniform
var<private> hb: u32; // heads-table base of this KV head
var<private> base: u32; // arena base word of this KV head

fn hdr(f: u32) -> u32 {
  return heads[hb + f];
}

fn aw(off: u32) -> u32 {
  return arena[base + off];
}

fn af(off: u32) -> f32 {
  return bitcast<f32>(arena[base + off]);
}

// Element e of an f16 array at arena offset off.
fn a_half(off: u32, e: u32) -> f32 {
  return unpack2x16float(aw(off + e / 2u))[e & 1u];
}

// Zero point e of an array at offset off (f32 words, or u8 x4).
fn zero_at(off: u32, e: u32, float_zero: bool) -> f32 {
  if (float_zero) {
    return af(off + e);
  }
  return f32((aw(off + e / 4u) >> (8u * (e & 3u))) & 0xffu);
}

fn zc_value(is_v: bool, kvh: u32, j: u32, c: u32) -> f32 {
  let row = kvh * params.cap_c + j;
  if (ZC_F16 != 0u) {
    let i = row * (HEAD_DIM / 2u) + c / 2u;
    var w: u32;
    if (is_v) { w = zc_v[i]; } else { w = zc_k[i]; }
    return unpack2x16float(w)[c & 1u];
  }
  let i = row * HEAD_DIM + c;
  if (is_v) {
    return bitcast<f32>(zc_v[i]);
  }
  return bitcast<f32>(zc_k[i]);
}

@compute @workgroup_size(BT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let kvh = wid.y;
  hb = kvh * HSTRIDE;
  base = heads[hb + F_BASE];
  if (lid == 0u) {
    wg_kept = hdr(F_KEPT);
  }
  let kept = workgroupUniformLoad(&wg_kept);
  let n_q = hdr(F_NQ);
  let d_stored = hdr(F_DSTORED);
  let tg_size = hdr(F_TOKEN_GROUP);
  let float_zero = (hdr(F_FLAGS) & 4u) != 0u;
  let count_b = hdr(F_COUNTB);
  let count_a = kept - count_b;
  let n_c = step.kv_len - params.t_len;
  let n_tok = kept + n_c;
  let several_groups = n_q > tg_size;

  // q' and the stored-channel query (token group 0).
  for (var i = lid; i < G * HEAD_DIM; i += BT) {
    let h = i / HEAD_DIM;
    qo[i] = q[(kvh * G + h) * HEAD_DIM + i % HEAD_DIM] * params.scale_log2;
  }
  workgroupBarrier();
  for (var i = lid; i < G * d_stored; i += BT) {
    let h = i / d_stored;
    let j = i % d_stored;
    let c = (aw(hdr(F_OFF_PERM) + j / 2u) >> (16u * (j & 1u))) & 0xffffu;
    var x = qo[h * HEAD_DIM + c];
    if (!several_groups) {
      x *= af(hdr(F_OFF_KSCALES) + j);
    }
    qs[h * HEAD_DIM + j] = x;
  }
  workgroupBarrier();
  if (lid < G) {
    var b = 0.0;
    if (!several_groups) {
      for (var j = 0u; j < d_stored; j++) {
        b += zero_at(hdr(F_OFF_KZEROS), j, float_zero) * qs[lid * HEAD_DIM + j];
      }
    }
    bias[lid] = b;
    row_m[lid] = NEG;
    row_l[lid] = 0.0;
  }
  workgroupBarrier();

  let span = BT * ((params.max_kept + n_c + params.n_split * BT - 1u) / (params.n_split * BT));
  let u0 = split * span;
  let u1 = min(u0 + span, n_tok);

  var acc: array<f32, MAX_G * MAX_DPT>;
  for (var i = 0u; i < MAX_G * MAX_DPT; i++) {
    acc[i] = 0.0;
  }

  for (var t0 = u0; t0 < u1; t0 += BT) {
    // Scores: thread lid scores token t0 + lid for the G heads.
    let u = t0 + lid;
    var s: array<f32, MAX_G>;
    for (var h = 0u; h < G; h++) {
      s[h] = 0.0;
    }
    if (u < u1) {
      if (u < n_q) {
        let tg = u / tg_size;
        var fc = 0u;
        for (var gi = 0u; gi < 3u; gi++) {
          let bits = 8u >> gi;
          let ch = hdr(F_CH8 + gi);
          let wpr = (ch * bits + 31u) / 32u;
          let row = hdr(F_OFF_KCODES8 + gi) + u * wpr;
          let per = 32u / bits;
          let mask = (1u << bits) - 1u;
          for (var wi = 0u; wi < wpr; wi++) {
            let w = aw(row + wi);
            let n = min(per, ch - wi * per);
            for (var e = 0u; e < n; e++) {
              let j = fc + wi * per + e;
              let code = f32((w >> (e * bits)) & mask);
              if (several_groups) {
                let pj = tg * d_stored + j;
                let x = (code - zero_at(hdr(F_OFF_KZEROS), pj, float_zero)) * af(hdr(F_OFF_KSCALES) + pj);
                for (var h = 0u; h < G; h++) {
                  s[h] += x * qs[h * HEAD_DIM + j];
                }
              } else {
                for (var h = 0u; h < G; h++) {
                  s[h] += code * qs[h * HEAD_DIM + j];
                }
              }
            }
          }
          fc += ch;
        }
        for (var h = 0u; h < G; h++) {
          s[h] -= bias[h];
        }
      } else if (u < kept) {
        let e0 = (u - count_a) * HEAD_DIM;
        for (var c = 0u; c < HEAD_DIM; c++) {
          let x = a_half(hdr(F_OFF_ZONEBK), e0 + c);
          for (var h = 0u; h < G; h++) {
            s[h] += x * qo[h * HEAD_DIM + c];
          }
        }
      } else {
        for (var c = 0u; c < HEAD_DIM; c++) {
          let x = zc_value(false, kvh, u - kept, c);
          for (var h = 0u; h < G; h++) {
            s[h] += x * qo[h * HEAD_DIM + c];
          }
        }
      }
    }
    for (var h = 0u; h < G; h++) {
      ss[h * BT + lid] = select(NEG, s[h], u < u1);
    }
    workgroupBarrier();

    // Online softmax, one thread per head.
    if (lid < G) {
      let m_old = row_m[lid];
      var m = m_old;
      for (var j = 0u; j < BT; j++) {
        m = max(m, ss[lid * BT + j]);
      }
      var sum = 0.0;
      for (var j = 0u; j < BT; j++) {
        let x = ss[lid * BT + j];
        let p = select(0.0, exp2(x - m), x > 0.5 * NEG);
        ss[lid * BT + j] = p;
        sum += p;
      }
      let corr = exp2(m_old - m);
      row_m[lid] = m;
      row_l[lid] = row_l[lid] * corr + sum;
      row_corr[lid] = corr;
    }
    workgroupBarrier();

    // Values: thread lid owns dims lid + BT * i.
    for (var h = 0u; h < G; h++) {
      let corr = row_corr[h];
      for (var i = 0u; i < MAX_DPT; i++) {
        acc[h * MAX_DPT + i] *= corr;
      }
    }
    let n_tile = min(BT, u1 - t0);
    for (var j = 0u; j < n_tile; j++) {
      let uj = t0 + j;
      // where token uj's V lives (uniform across the workgroup)
      var bits = 0u;
      var row = 0u;
      var vs = 0.0;
      var vz = 0.0;
      var codes_off = 0u;
      if (uj < count_a) {
        var first = 0u;
        for (var si = 0u; si < 3u; si++) {
          let b = 2u << si;
          let cnt = hdr(F_COUNT2 + si);
          if (bits == 0u && uj < first + cnt) {
            bits = b;
            row = uj - first;
            let off = hdr(F_OFF_VCODES2 + 3u * si);
            codes_off = off + row * ((HEAD_DIM * b + 31u) / 32u);
            vs = af(hdr(F_OFF_VCODES2 + 3u * si + 1u) + row);
            vz = zero_at(hdr(F_OFF_VCODES2 + 3u * si + 2u), row, float_zero);
          }
          first += cnt;
        }
      }
      for (var i = 0u; i < MAX_DPT; i++) {
        let c = lid + BT * i;
        if (c < HEAD_DIM) {
          var x: f32;
          if (bits != 0u) {
            let per = 32u / bits;
            let code = (aw(codes_off + c / per) >> ((c % per) * bits)) & ((1u << bits) - 1u);
            x = (f32(code) - vz) * vs;
          } else if (uj < kept) {
            x = a_half(hdr(F_OFF_ZONEBV), (uj - count_a) * HEAD_DIM + c);
          } else {
            x = zc_value(true, kvh, uj - kept, c);
          }
          for (var h = 0u; h < G; h++) {
            acc[h * MAX_DPT + i] += ss[h * BT + j] * x;
          }
        }
      }
    }
    workgroupBarrier();
  }

  let pbase = (kvh * params.n_split + split) * G;
  for (var h = 0u; h < G; h++) {
    for (var i = 0u; i < MAX_DPT; i++) {
      let c = lid + BT * i;
      if (c < HEAD_DIM) {
        part_acc[(pbase + h) * HEAD_DIM + c] = acc[h * MAX_DPT + i];
      }
    }
  }
  if (lid < G) {
    part_ml[pbase + lid] = vec2<f32>(row_m[lid], row_l[lid]);
  }
}
