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
// Grid: (n_split, Hkv, 1). Split span S = ceil((max_kept + n_c) / n_split) tokens, taken in chunks of up to NK
//   (usually one chunk per split):
//   1. scores: one thread per token (its packed K words: the first word of each width group is loaded up
//      front so the three rows are fetched together) -> workgroup memory `sc`, no barrier in the loop;
//   2. the chunk max per head (wg_max: subgroup or tree helper, prepended by the wrapper), the running
//      (m, acc, l) rescaled once per chunk, sc turned into probabilities in place;
//   3. values: thread (w, r) owns dims 8w .. 8w + 7 (TPT = ceil(d / 8) threads a token, so a warp reads whole
//      contiguous packed V rows) and tokens r, r + KP, ... (KP = WG / TPT), VB tokens in flight; it
//      dequantises once per token and accumulates for the G heads, and l = sum p;
//   then the KP partial accumulators are summed through workgroup memory. A thread's first K words and first
//   VB V rows are fetched right after the header, overlapping the query set-up's dependent loads.
// Bindings, header field indices and arena accessors: wgsl/rdkv_decode_shared.wgsl (prepended by the wrapper).

override HEAD_DIM: u32 = 64u; // even
override G: u32 = 1u; // <= MAX_G
override NK: u32 = 256u; // tokens per chunk (scores held in workgroup memory)
override WG: u32 = 128u; // a power of two, >= TPT
override TPT: u32 = 8u; // ceil(HEAD_DIM / 8): threads per token in the value phase
override RED_N: u32 = 1152u; // max(G, 9) * WG
override ZC_F16: u32 = 0u;
// Benchmark probe (rdkv-bench --sweep-kernels probe), 0 in the engine: bit 0 skips the K reads and score
// products (every score 0), bit 1 the V reads and value products; the rest of the kernel runs as usual, so the
// time of each phase can be told apart on a GPU. Folded away at pipeline creation when 0.
override PROBE: u32 = 0u;

const MAX_G: u32 = 8u;
const VB: u32 = 4u; // value rows in flight per thread (sizes private arrays, so a const: the wrapper rewrites this line)

var<workgroup> qo: array<f32, G * HEAD_DIM>; // q * scale * log2 e, original channel order
var<workgroup> qs: array<f32, G * HEAD_DIM>; // stored-channel order: q' * s_j (one token group) or q' (several)
var<workgroup> bias: array<f32, G>;
var<workgroup> zqs: array<f32, G * HEAD_DIM>; // z_j qs_j, summed into bias
var<workgroup> sc: array<f32, G * NK>; // (G, NK) scores of the chunk, then probabilities
var<workgroup> red: array<f32, RED_N>; // wg_max, then the (KP, TPT, 8) partial sums and (KP) l

var<private> count_a: u32;
var<private> kept: u32;
var<private> seg_end: array<u32, 3>; // slot after each zone A segment (2, 4, 8 bits)

fn hdr(f: u32) -> u32 {
  return hdr_s[f];
}

// s[h] += sum over the channels of one K width group of code * qs (first word w0 already loaded).
// The loops run to constant bounds (the widest row of this width) with guards, so they unroll and a row's
// words are all requested before the first is used.
fn score_group(s: ptr<function, array<f32, MAX_G>>, bits: u32, ch: u32, fc: u32, row: u32, w0: u32, tg: u32, several: bool, d_stored: u32) {
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
      let code = f32((w >> (e * bits)) & mask);
      if (several) {
        let pj = tg * d_stored + j;
        let x = (code - zero_at(hdr(F_OFF_KZEROS), pj)) * af(hdr(F_OFF_KSCALES) + pj);
        for (var h = 0u; h < G; h++) {
          (*s)[h] += x * qs[h * HEAD_DIM + j];
        }
      } else {
        for (var h = 0u; h < G; h++) {
          (*s)[h] += code * qs[h * HEAD_DIM + j];
        }
      }
    }
  }
}

// The raw words of dims 8w .. 8w + 7 of token u's V, fetched (so VB tokens can be in flight) before decoding.
// kind 0: f16 (a = 4 words), 32: f32 (a, b = 8 words), else the width of packed codes (a.x, a.y = the words
// holding them, a.z = bit offset of dim 8w in a.x) with s, z the token's scale and zero point.
struct VRaw {
  a: vec4<u32>,
  b: vec4<u32>,
  s: f32,
  z: f32,
  kind: u32,
}

fn v_fetch(kvh: u32, u: u32, w: u32) -> VRaw {
  var r: VRaw;
  if (u < count_a) {
    var si = 0u;
    var first = 0u;
    if (u >= seg_end[1]) {
      si = 2u;
      first = seg_end[1];
    } else if (u >= seg_end[0]) {
      si = 1u;
      first = seg_end[0];
    }
    let bits = 2u << si;
    let row = u - first;
    let bp = 8u * w * bits;
    let off = hdr(F_OFF_VCODES2 + 3u * si) + row * ((HEAD_DIM * bits + 31u) / 32u) + bp / 32u;
    r.a = vec4<u32>(aw(off), 0u, bp % 32u, 0u);
    if (bits == 8u) {
      r.a.y = aw(off + 1u);
    }
    r.s = af(hdr(F_OFF_VCODES2 + 3u * si + 1u) + row);
    r.z = zero_at(hdr(F_OFF_VCODES2 + 3u * si + 2u), row);
    r.kind = bits;
  } else if (u < kept) {
    let off = hdr(F_OFF_ZONEBV) + ((u - count_a) * HEAD_DIM + 8u * w) / 2u;
    r.a = vec4<u32>(aw(off), aw(off + 1u), aw(off + 2u), aw(off + 3u));
    r.kind = 0u;
  } else {
    let row = kvh * params.cap_c + u - kept;
    if (ZC_F16 != 0u) {
      let i = row * (HEAD_DIM / 2u) + 4u * w;
      r.a = vec4<u32>(zc_v[i], zc_v[i + 1u], zc_v[i + 2u], zc_v[i + 3u]);
      r.kind = 0u;
    } else {
      let i = row * HEAD_DIM + 8u * w;
      r.a = vec4<u32>(zc_v[i], zc_v[i + 1u], zc_v[i + 2u], zc_v[i + 3u]);
      r.b = vec4<u32>(zc_v[i + 4u], zc_v[i + 5u], zc_v[i + 6u], zc_v[i + 7u]);
      r.kind = 32u;
    }
  }
  return r;
}

// Dims 8w .. 8w + 3 (x = 0) or 8w + 4 .. 8w + 7 (x = 1) of a fetched V, dequantised.
fn v_decode(r: VRaw, x: u32) -> vec4<f32> {
  if (r.kind == 0u) {
    if (x == 0u) {
      return vec4<f32>(unpack2x16float(r.a.x), unpack2x16float(r.a.y));
    }
    return vec4<f32>(unpack2x16float(r.a.z), unpack2x16float(r.a.w));
  }
  if (r.kind == 32u) {
    if (x == 0u) {
      return bitcast<vec4<f32>>(r.a);
    }
    return bitcast<vec4<f32>>(r.b);
  }
  let mask = (1u << r.kind) - 1u;
  var v: vec4<f32>;
  for (var e = 0u; e < 4u; e++) {
    let bp = r.a.z + (4u * x + e) * r.kind;
    let word = select(r.a.x, r.a.y, bp >= 32u);
    v[e] = f32((word >> (bp & 31u)) & mask);
  }
  return (v - r.z) * r.s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let kvh = wid.y;
  // One round trip for the header (into workgroup memory) and the query, side by side.
  load_header(kvh, lid);
  for (var i = lid; i < G * HEAD_DIM; i += WG) {
    let h = i / HEAD_DIM;
    qo[i] = q[(kvh * G + h) * HEAD_DIM + i % HEAD_DIM] * params.scale_log2;
  }
  // (a barrier too) uniform, so the chunk loop bounds are; the private copy is not, to the analysis
  let kept_u = workgroupUniformLoad(&hdr_s[F_KEPT]);
  base = hdr(F_BASE);
  kept = kept_u;
  let n_q = hdr(F_NQ);
  let d_stored = hdr(F_DSTORED);
  let tg_size = hdr(F_TOKEN_GROUP);
  float_zero = (hdr(F_FLAGS) & 4u) != 0u;
  count_a = kept - hdr(F_COUNTB);
  seg_end[0] = hdr(F_COUNT2);
  seg_end[1] = seg_end[0] + hdr(F_COUNT2 + 1u);
  seg_end[2] = seg_end[1] + hdr(F_COUNT2 + 2u);
  let n_c = step.kv_len - params.t_len;
  let n_tok = kept_u + n_c;
  let several_groups = n_q > tg_size;
  let ch8 = hdr(F_CH8);
  let ch4 = hdr(F_CH8 + 1u);
  let ch2 = hdr(F_CH8 + 2u);
  let wpr8 = (ch8 * 8u + 31u) / 32u;
  let wpr4 = (ch4 * 4u + 31u) / 32u;
  let wpr2 = (ch2 * 2u + 31u) / 32u;
  let off8 = hdr(F_OFF_KCODES8);
  let off4 = hdr(F_OFF_KCODES8 + 1u);
  let off2 = hdr(F_OFF_KCODES8 + 2u);

  let span = (params.max_kept + n_c + params.n_split - 1u) / params.n_split;
  let u0 = min(split * span, n_tok);
  let u1 = min(u0 + span, n_tok);

  // value-phase role: dims 8w .. 8w + 7, token phase r of kp
  let kp = WG / TPT;
  let w = lid % TPT;
  let r = lid / TPT;
  let in_pv = r < kp;

  // The first chunk's first K words and V rows of this thread, issued before the query set-up (which waits
  // on the permutation, scales and zero points), so those fetches overlap.
  let n_first = min(NK, u1 - u0);
  var kpre = vec3<u32>();
  if (lid < n_first && u0 + lid < n_q) {
    let u = u0 + lid;
    if (ch8 > 0u) { kpre.x = aw(off8 + u * wpr8); }
    if (ch4 > 0u) { kpre.y = aw(off4 + u * wpr4); }
    if (ch2 > 0u) { kpre.z = aw(off2 + u * wpr2); }
  }
  var vpre: array<VRaw, VB>;
  if (in_pv && (PROBE & 2u) == 0u) {
    for (var i = 0u; i < VB; i++) {
      if (r + i * kp < n_first) {
        vpre[i] = v_fetch(kvh, u0 + r + i * kp, w);
      }
    }
  }

  // The stored-channel query (token group 0) and its bias terms z_j qs_j: the permutation, scales and zero points are fetched together, in parallel over (h, j).
  for (var i = lid; i < G * d_stored; i += WG) {
    let h = i / d_stored;
    let j = i % d_stored;
    let c = (aw(hdr(F_OFF_PERM) + j / 2u) >> (16u * (j & 1u))) & 0xffffu;
    var x = qo[h * HEAD_DIM + c];
    var zq = 0.0;
    if (!several_groups) {
      x *= af(hdr(F_OFF_KSCALES) + j);
      zq = zero_at(hdr(F_OFF_KZEROS), j) * x;
    }
    qs[h * HEAD_DIM + j] = x;
    zqs[i] = zq;
  }
  workgroupBarrier();
  // bias[h] = sum_j z_j qs_j: 8 partial sums per head, then their total (shared-memory reads only).
  if (lid < 8u * G) {
    let h = lid / 8u;
    var b = 0.0;
    for (var j = lid % 8u; j < d_stored; j += 8u) {
      b += zqs[h * d_stored + j];
    }
    red[lid] = b;
  }
  workgroupBarrier();
  if (lid < G) {
    var b = 0.0;
    for (var k = 0u; k < 8u; k++) {
      b += red[lid * 8u + k];
    }
    bias[lid] = b;
  }
  workgroupBarrier();

  var m_run: array<f32, MAX_G>;
  var l_run: array<f32, MAX_G>;
  var acc: array<vec4<f32>, 2 * MAX_G>; // (G, 2): dims 8w .. 8w + 3, 8w + 4 .. 8w + 7
  for (var h = 0u; h < G; h++) {
    m_run[h] = NEG;
    l_run[h] = 0.0;
    acc[2u * h] = vec4<f32>();
    acc[2u * h + 1u] = vec4<f32>();
  }

  for (var c0 = u0; c0 < u1; c0 += NK) {
    let n = min(NK, u1 - c0);

    // 1. scores, one thread per token
    for (var j = lid; j < n; j += WG) {
      let u = c0 + j;
      var s: array<f32, MAX_G>;
      for (var h = 0u; h < G; h++) {
        s[h] = 0.0;
      }
      if ((PROBE & 1u) != 0u) {
        // probe: no K read, scores 0
      } else if (u < n_q) {
        let tg = u / tg_size;
        // the three rows' first words together, then the rest of each row (same cache lines)
        let r8 = off8 + u * wpr8;
        let r4 = off4 + u * wpr4;
        let r2 = off2 + u * wpr2;
        var f = kpre;
        if (c0 != u0 || j != lid) {
          if (ch8 > 0u) { f.x = aw(r8); }
          if (ch4 > 0u) { f.y = aw(r4); }
          if (ch2 > 0u) { f.z = aw(r2); }
        }
        score_group(&s, 8u, ch8, 0u, r8, f.x, tg, several_groups, d_stored);
        score_group(&s, 4u, ch4, ch8, r4, f.y, tg, several_groups, d_stored);
        score_group(&s, 2u, ch2, ch8 + ch4, r2, f.z, tg, several_groups, d_stored);
        for (var h = 0u; h < G; h++) {
          s[h] -= bias[h];
        }
      } else if (u < kept) {
        // zone B K at f16: the row's words, two dims each (constant trip count: all loads issued up front)
        let o = hdr(F_OFF_ZONEBK) + (u - count_a) * (HEAD_DIM / 2u);
        for (var c = 0u; c < HEAD_DIM / 2u; c++) {
          let x = unpack2x16float(aw(o + c));
          for (var h = 0u; h < G; h++) {
            s[h] += x.x * qo[h * HEAD_DIM + 2u * c] + x.y * qo[h * HEAD_DIM + 2u * c + 1u];
          }
        }
      } else if (ZC_F16 != 0u) {
        let o = (kvh * params.cap_c + u - kept) * (HEAD_DIM / 2u);
        for (var c = 0u; c < HEAD_DIM / 2u; c++) {
          let x = unpack2x16float(zc_k[o + c]);
          for (var h = 0u; h < G; h++) {
            s[h] += x.x * qo[h * HEAD_DIM + 2u * c] + x.y * qo[h * HEAD_DIM + 2u * c + 1u];
          }
        }
      } else {
        let o = (kvh * params.cap_c + u - kept) * HEAD_DIM;
        for (var c = 0u; c < HEAD_DIM; c++) {
          let x = bitcast<f32>(zc_k[o + c]);
          for (var h = 0u; h < G; h++) {
            s[h] += x * qo[h * HEAD_DIM + c];
          }
        }
      }
      for (var h = 0u; h < G; h++) {
        sc[h * NK + j] = s[h];
      }
    }
    workgroupBarrier();

    // 2. chunk max, rescale, probabilities
    var cm: array<f32, MAX_G>;
    for (var h = 0u; h < G; h++) {
      cm[h] = NEG;
    }
    for (var j = lid; j < n; j += WG) {
      for (var h = 0u; h < G; h++) {
        cm[h] = max(cm[h], sc[h * NK + j]);
      }
    }
    cm = wg_max(lid, cm);
    for (var h = 0u; h < G; h++) {
      let m = max(m_run[h], cm[h]);
      let corr = exp2(m_run[h] - m);
      m_run[h] = m;
      l_run[h] *= corr;
      acc[2u * h] *= corr;
      acc[2u * h + 1u] *= corr;
    }
    for (var j = lid; j < n; j += WG) {
      for (var h = 0u; h < G; h++) {
        sc[h * NK + j] = exp2(sc[h * NK + j] - m_run[h]);
      }
    }
    workgroupBarrier();

    // 3. values: tokens r, r + kp, ... of the chunk, VB in flight
    if (in_pv && (PROBE & 2u) == 0u) {
      for (var jb = r; jb < n; jb += kp * VB) {
        var raw: array<VRaw, VB>;
        if (c0 == u0 && jb == r) {
          raw = vpre;
        } else {
          for (var i = 0u; i < VB; i++) {
            let j = jb + i * kp;
            if (j < n) {
              raw[i] = v_fetch(kvh, c0 + j, w);
            }
          }
        }
        for (var i = 0u; i < VB; i++) {
          let j = jb + i * kp;
          if (j < n) {
            let v0 = v_decode(raw[i], 0u);
            let v1 = v_decode(raw[i], 1u);
            for (var h = 0u; h < G; h++) {
              let p = sc[h * NK + j];
              l_run[h] += p;
              acc[2u * h] += p * v0;
              acc[2u * h + 1u] += p * v1;
            }
          }
        }
      }
    }
    workgroupBarrier();
  }

  // Sum the kp partials per head through `red`: (r, w, e) at (r * TPT + w) * 8 + e, l at 8 * TPT * kp + r.
  let pbase = (kvh * params.n_split + split) * G;
  let lbase = 8u * TPT * kp;
  for (var h = 0u; h < G; h++) {
    if (in_pv) {
      for (var e = 0u; e < 4u; e++) {
        red[lid * 8u + e] = acc[2u * h][e];
        red[lid * 8u + 4u + e] = acc[2u * h + 1u][e];
      }
      if (w == 0u) {
        red[lbase + r] = l_run[h];
      }
    }
    workgroupBarrier();
    for (var o = lid; o < HEAD_DIM; o += WG) {
      var x = 0.0;
      for (var rr = 0u; rr < kp; rr++) {
        x += red[rr * TPT * 8u + o];
      }
      part_acc[(pbase + h) * HEAD_DIM + o] = x;
    }
    if (lid == 0u) {
      var l = 0.0;
      for (var rr = 0u; rr < kp; rr++) {
        l += red[lbase + rr];
      }
      part_ml[pbase + h] = vec2<f32>(m_run[h], l);
    }
    workgroupBarrier();
  }
}
