// RDKV fused decode attention, split-K pass, "vec4" form: the same computation as
// wgsl/rdkv_attention_decode.wgsl (one query token over a compressed layer: zone A segments 2/4/8-bit, zone B,
// zone C, one online softmax in base 2 per split), for G <= 4 query heads per KV head and one K token group,
// with the G heads as the four lanes of a vec4 everywhere: a score, a probability, a query channel and an
// output dim each hold all heads, so one workgroup-memory read serves every head and the per-thread state is
// a few vec4 registers instead of arrays sized by a maximum G.
//   score_u = sum_j code_{u,j} qs_j - bias        (quantised K; qs_j = q'[perm j] s_j, bias = sum_j z_j qs_j)
//           = q' . k_u                            (zone B K at f16 when kFullInZoneB; zone C K f32 / f16)
// Differences from the general kernel, each aimed at instructions or serialised loads (bench/NOTES.md):
//   * qs is laid out per K width group padded to whole words (pad slots 0), so a packed K word's codes are
//     multiplied without bounds checks, and all words of a token's K row are loaded before any is used;
//   * the value phase walks the chunk one segment (2-bit, 4-bit, 8-bit, zone B, zone C) at a time: the segment
//     and its offsets are found once per segment, not per token; U tokens per thread are loaded before any
//     is decoded (indices clamped to the segment, probability 0 past its end);
//   * the final reduction sums all heads at once (one barrier pair instead of one per head).
// CPU reference: src/ref/rdkv-attention.ts (rdkvAttentionRef). Combined by wgsl/rdkv_attention_combine.wgsl.
// Grid: (n_split, Hkv, 1); split span S = ceil((max_kept + n_c) / n_split) tokens, in chunks of up to NK.
// Value phase: thread (w, r) = (lid % TPT, lid / TPT) owns dims DPT w .. DPT w + DPT - 1 of tokens r, r + KP, ...
// Bindings, header field indices and arena accessors: wgsl/rdkv_decode_shared.wgsl (prepended by the wrapper).

// Sizes of private arrays must be constants: the wrapper (src/gpu/ops/rdkv-attention-decode.ts) rewrites
// these three lines.
const HEAD_DIM: u32 = 64u; // even
const DPT: u32 = 8u; // dims per thread in the value phase: 4, 8 or 16
const U: u32 = 4u; // value-phase tokens in flight per thread

override G: u32 = 4u; // <= 4
override NK: u32 = 256u; // tokens per chunk (scores held in workgroup memory)
override WG: u32 = 64u; // >= TPT
override SCR_N: u32 = 520u; // max(KP * (HEAD_DIM + 1), QSN, WG + 8), KP = WG / TPT: the scratch array (vec4)
override ZC_F16: u32 = 0u;
// Benchmark probe, 0 in the engine: bit 0 skips the K reads and score products (every score 0), bit 1 the V
// reads and value products. Folded away at pipeline creation when 0.
override PROBE: u32 = 0u;

const TPT: u32 = (HEAD_DIM + DPT - 1u) / DPT; // threads per token in the value phase
const QSN: u32 = HEAD_DIM + 25u; // padded stored channels: at most 3, 7, 15 pad slots in the 8/4/2-bit groups
const KW8: u32 = HEAD_DIM / 4u; // words of a K row's 8-bit group at most (HEAD_DIM channels)
const KW4: u32 = HEAD_DIM / 8u + 1u;
const KW2: u32 = HEAD_DIM / 16u + 1u;

var<workgroup> qo: array<vec4<f32>, HEAD_DIM>; // q * scale * log2 e per original channel, heads as lanes
var<workgroup> qs: array<vec4<f32>, QSN>; // padded stored-channel order: q'[perm j] s_j (0 in pad slots)
var<workgroup> sc: array<vec4<f32>, NK>; // the chunk's scores, then probabilities
var<workgroup> scr: array<vec4<f32>, SCR_N>; // z_j qs_j, then the chunk max, then the (KP, HEAD_DIM) partials

var<private> acc: array<vec4<f32>, DPT>; // sum_u p_u v_u for this thread's dims, heads as lanes
var<private> l_run: vec4<f32>;

// The K words of one token, each width group's row (constant trip counts: every load is issued before use).
struct KRow {
  w8: array<u32, KW8>,
  w4: array<u32, KW4>,
  w2: array<u32, KW2>,
}

fn k_load(u: u32, o8: u32, o4: u32, o2: u32, n8: u32, n4: u32, n2: u32) -> KRow {
  var k: KRow;
  for (var i = 0u; i < KW8; i++) {
    if (i < n8) {
      k.w8[i] = aw(o8 + u * n8 + i);
    }
  }
  for (var i = 0u; i < KW4; i++) {
    if (i < n4) {
      k.w4[i] = aw(o4 + u * n4 + i);
    }
  }
  for (var i = 0u; i < KW2; i++) {
    if (i < n2) {
      k.w2[i] = aw(o2 + u * n2 + i);
    }
  }
  return k;
}

// sum over a quantised K row of code * qs (pad codes meet qs = 0), heads as lanes.
fn k_dot(k: KRow, n8: u32, n4: u32, n2: u32) -> vec4<f32> {
  var s = vec4<f32>();
  let b4 = 4u * n8;
  let b2 = b4 + 8u * n4;
  for (var i = 0u; i < KW8; i++) {
    if (i < n8) {
      for (var e = 0u; e < 4u; e++) {
        s += f32(extractBits(k.w8[i], 8u * e, 8u)) * qs[4u * i + e];
      }
    }
  }
  for (var i = 0u; i < KW4; i++) {
    if (i < n4) {
      for (var e = 0u; e < 8u; e++) {
        s += f32(extractBits(k.w4[i], 4u * e, 4u)) * qs[b4 + 8u * i + e];
      }
    }
  }
  for (var i = 0u; i < KW2; i++) {
    if (i < n2) {
      for (var e = 0u; e < 16u; e++) {
        s += f32(extractBits(k.w2[i], 2u * e, 2u)) * qs[b2 + 16u * i + e];
      }
    }
  }
  return s;
}

// q' . k over a row of HEAD_DIM f16 values at word offset o of `src` (0 arena, 1 zone C K).
fn f16_dot(src: u32, o: u32) -> vec4<f32> {
  var s = vec4<f32>();
  for (var c = 0u; c < HEAD_DIM / 2u; c++) {
    var word: u32;
    if (src == 0u) {
      word = aw(o + c);
    } else {
      word = zc_k[o + c];
    }
    let x = unpack2x16float(word);
    s += x.x * qo[2u * c] + x.y * qo[2u * c + 1u];
  }
  return s;
}

// First token index >= a (chunk-relative) of token lane r (lanes take r, r + KP, ...).
fn lane_start(a: u32, r: u32, kp: u32) -> u32 {
  return a + (r + kp - a % kp) % kp;
}

// acc += p v over the tokens [a, b) (chunk-relative, c0 the chunk's first slot) of zone A segment si
// (bits = 2 << si, slots from `first`), U tokens at a time.
fn values_quant(si: u32, bits: u32, first: u32, c0: u32, a: u32, b: u32, w: u32, r: u32, kp: u32) {
  let offc = hdr_s[F_OFF_VCODES2 + 3u * si];
  let offs = hdr_s[F_OFF_VCODES2 + 3u * si + 1u];
  let offz = hdr_s[F_OFF_VCODES2 + 3u * si + 2u];
  let wpr = (HEAD_DIM * bits + 31u) / 32u;
  let bit0 = DPT * w * bits;
  let sh = bit0 % 32u; // 0 when a thread's codes span whole words
  let wo = bit0 / 32u;
  let nw = max(1u, DPT * bits / 32u);
  for (var j = lane_start(a, r, kp); j < b; j += kp * U) {
    var wd: array<array<u32, DPT / 2u>, U>; // DPT / 2 >= the 8-bit words of DPT dims
    var s: array<f32, U>;
    var z: array<f32, U>;
    var p: array<vec4<f32>, U>;
    for (var i = 0u; i < U; i++) {
      let jj = min(j + i * kp, b - 1u);
      let row = c0 + jj - first;
      for (var k = 0u; k < DPT / 2u; k++) {
        if (k < nw) {
          wd[i][k] = aw(offc + row * wpr + wo + k);
        }
      }
      s[i] = af(offs + row);
      z[i] = zero_at(offz, row);
      p[i] = select(vec4<f32>(), sc[jj], j + i * kp < b);
    }
    for (var i = 0u; i < U; i++) {
      for (var e = 0u; e < DPT; e++) {
        let code = f32(extractBits(wd[i][(e * bits) / 32u], sh + (e * bits) % 32u, bits));
        acc[e] += p[i] * ((code - z[i]) * s[i]);
      }
      l_run += p[i];
    }
  }
}

// acc += p v over the tokens [a, b) stored as f16 rows of HEAD_DIM (src 0: zone B in the arena at word offset
// o0 for slot `first`; src 1: zone C V of this KV head), U tokens at a time.
fn values_f16(src: u32, o0: u32, first: u32, c0: u32, a: u32, b: u32, w: u32, r: u32, kp: u32) {
  for (var j = lane_start(a, r, kp); j < b; j += kp * U) {
    var wd: array<array<u32, DPT / 2u>, U>;
    var p: array<vec4<f32>, U>;
    for (var i = 0u; i < U; i++) {
      let jj = min(j + i * kp, b - 1u);
      let o = o0 + (c0 + jj - first) * (HEAD_DIM / 2u) + DPT * w / 2u;
      for (var k = 0u; k < DPT / 2u; k++) {
        if (src == 0u) {
          wd[i][k] = aw(o + k);
        } else {
          wd[i][k] = zc_v[o + k];
        }
      }
      p[i] = select(vec4<f32>(), sc[jj], j + i * kp < b);
    }
    for (var i = 0u; i < U; i++) {
      for (var k = 0u; k < DPT / 2u; k++) {
        let x = unpack2x16float(wd[i][k]);
        acc[2u * k] += p[i] * x.x;
        acc[2u * k + 1u] += p[i] * x.y;
      }
      l_run += p[i];
    }
  }
}

// The same for zone C V stored as f32 rows (o0: this KV head's first zone C word).
fn values_f32(o0: u32, first: u32, c0: u32, a: u32, b: u32, w: u32, r: u32, kp: u32) {
  for (var j = lane_start(a, r, kp); j < b; j += kp * U) {
    var wd: array<array<f32, DPT>, U>;
    var p: array<vec4<f32>, U>;
    for (var i = 0u; i < U; i++) {
      let jj = min(j + i * kp, b - 1u);
      let o = o0 + (c0 + jj - first) * HEAD_DIM + DPT * w;
      for (var e = 0u; e < DPT; e++) {
        wd[i][e] = bitcast<f32>(zc_v[o + e]);
      }
      p[i] = select(vec4<f32>(), sc[jj], j + i * kp < b);
    }
    for (var i = 0u; i < U; i++) {
      for (var e = 0u; e < DPT; e++) {
        acc[e] += p[i] * wd[i][e];
      }
      l_run += p[i];
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let kvh = wid.y;
  // One round trip for the header (into workgroup memory) and the query, side by side.
  load_header(kvh, lid);
  for (var i = lid; i < 4u * HEAD_DIM; i += WG) {
    let c = i / 4u;
    let h = i % 4u;
    var x = 0.0;
    if (h < G) {
      x = q[(kvh * G + h) * HEAD_DIM + c] * params.scale_log2;
    }
    qo[c][h] = x;
  }
  let kept = workgroupUniformLoad(&hdr_s[F_KEPT]); // (a barrier too) uniform, so the loop bounds are
  base = hdr_s[F_BASE];
  let n_q = hdr_s[F_NQ];
  float_zero = (hdr_s[F_FLAGS] & 4u) != 0u;
  let count_a = kept - hdr_s[F_COUNTB];
  let e2 = hdr_s[F_COUNT2];
  let e4 = e2 + hdr_s[F_COUNT2 + 1u];
  let ch8 = hdr_s[F_CH8];
  let ch4 = hdr_s[F_CH8 + 1u];
  let ch2 = hdr_s[F_CH8 + 2u];
  let n8 = (ch8 * 8u + 31u) / 32u; // words per K row of each width group
  let n4 = (ch4 * 4u + 31u) / 32u;
  let n2 = (ch2 * 2u + 31u) / 32u;
  let o8 = hdr_s[F_OFF_KCODES8];
  let o4 = hdr_s[F_OFF_KCODES8 + 1u];
  let o2 = hdr_s[F_OFF_KCODES8 + 2u];
  let n_c = step.kv_len - params.t_len;
  let n_tok = kept + n_c;
  let span = (params.max_kept + n_c + params.n_split - 1u) / params.n_split;
  let u0 = min(split * span, n_tok);
  let u1 = min(u0 + span, n_tok);

  // qs in padded stored order: slot i of group g (8, 4, 2 bits: 4, 8, 16 slots a word) is stored channel
  // fc_g + i when i < ch_g, else a pad (0). Its z_j qs_j go to scr, summed into the bias.
  let nqs = 4u * n8 + 8u * n4 + 16u * n2;
  for (var i = lid; i < nqs; i += WG) {
    var fc = 0u;
    var ch = ch8;
    var k = i;
    if (i >= 4u * n8 + 8u * n4) {
      fc = ch8 + ch4;
      ch = ch2;
      k = i - 4u * n8 - 8u * n4;
    } else if (i >= 4u * n8) {
      fc = ch8;
      ch = ch4;
      k = i - 4u * n8;
    }
    var x = vec4<f32>();
    var zq = vec4<f32>();
    if (k < ch) {
      let j = fc + k;
      let c = extractBits(aw(hdr_s[F_OFF_PERM] + j / 2u), 16u * (j & 1u), 16u);
      x = qo[c] * af(hdr_s[F_OFF_KSCALES] + j);
      zq = zero_at(hdr_s[F_OFF_KZEROS], j) * x;
    }
    qs[i] = x;
    scr[i] = zq;
  }
  workgroupBarrier();
  // bias = sum_j z_j qs_j: nb partial sums (thread t sums slots t, t + nb, ... and alone writes slot t, so no
  // barrier between), then every thread adds them (workgroup reads only).
  let nb = min(16u, WG);
  if (lid < nb) {
    var b = vec4<f32>();
    for (var i = lid; i < nqs; i += nb) {
      b += scr[i];
    }
    scr[lid] = b;
  }
  workgroupBarrier();
  var bias = vec4<f32>();
  for (var i = 0u; i < nb; i++) {
    bias += scr[i];
  }
  workgroupBarrier(); // every thread has read the partials: scr is free for the chunk max

  let kp = WG / TPT;
  let w = lid % TPT;
  let r = lid / TPT;
  var m_run = vec4<f32>(NEG);
  l_run = vec4<f32>();
  for (var e = 0u; e < DPT; e++) {
    acc[e] = vec4<f32>();
  }

  for (var c0 = u0; c0 < u1; c0 += NK) {
    let n = min(NK, u1 - c0);

    // 1. scores, one thread per token
    var cm = vec4<f32>(NEG);
    for (var j = lid; j < n; j += WG) {
      let u = c0 + j;
      var s = vec4<f32>();
      if ((PROBE & 1u) != 0u) {
        // probe: no K read, scores 0
      } else if (u < n_q) {
        s = k_dot(k_load(u, o8, o4, o2, n8, n4, n2), n8, n4, n2) - bias;
      } else if (u < kept) {
        s = f16_dot(0u, hdr_s[F_OFF_ZONEBK] + (u - count_a) * (HEAD_DIM / 2u));
      } else if (ZC_F16 != 0u) {
        s = f16_dot(1u, (kvh * params.cap_c + u - kept) * (HEAD_DIM / 2u));
      } else {
        let o = (kvh * params.cap_c + u - kept) * HEAD_DIM;
        for (var c = 0u; c < HEAD_DIM; c++) {
          s += bitcast<f32>(zc_k[o + c]) * qo[c];
        }
      }
      sc[j] = s;
      cm = max(cm, s);
    }

    // 2. chunk max (every thread's, then nm partial maxima), rescale, probabilities of this thread's tokens
    let nm = min(8u, WG);
    scr[lid] = cm;
    workgroupBarrier();
    if (lid < nm) {
      var x = vec4<f32>(NEG);
      for (var i = lid; i < WG; i += nm) {
        x = max(x, scr[i]);
      }
      scr[WG + lid] = x;
    }
    workgroupBarrier();
    var mx = scr[WG];
    for (var i = 1u; i < nm; i++) {
      mx = max(mx, scr[WG + i]);
    }
    let m_new = max(m_run, mx);
    let corr = exp2(m_run - m_new);
    m_run = m_new;
    l_run *= corr;
    for (var e = 0u; e < DPT; e++) {
      acc[e] *= corr;
    }
    for (var j = lid; j < n; j += WG) {
      sc[j] = exp2(sc[j] - m_run);
    }
    workgroupBarrier();

    // 3. values, segment by segment: zone A 2/4/8-bit, zone B, zone C (slot ranges clipped to the chunk)
    if (r < kp && (PROBE & 2u) == 0u) {
      let c1 = c0 + n;
      let e8 = count_a;
      if (c0 < e2) {
        values_quant(0u, 2u, 0u, c0, 0u, min(e2, c1) - c0, w, r, kp);
      }
      if (c0 < e4 && c1 > e2) {
        values_quant(1u, 4u, e2, c0, max(e2, c0) - c0, min(e4, c1) - c0, w, r, kp);
      }
      if (c0 < e8 && c1 > e4) {
        values_quant(2u, 8u, e4, c0, max(e4, c0) - c0, min(e8, c1) - c0, w, r, kp);
      }
      if (c0 < kept && c1 > e8) {
        values_f16(0u, hdr_s[F_OFF_ZONEBV], e8, c0, max(e8, c0) - c0, min(kept, c1) - c0, w, r, kp);
      }
      if (c1 > kept) {
        let a = max(kept, c0) - c0;
        if (ZC_F16 != 0u) {
          values_f16(1u, kvh * params.cap_c * (HEAD_DIM / 2u), kept, c0, a, n, w, r, kp);
        } else {
          values_f32(kvh * params.cap_c * HEAD_DIM, kept, c0, a, n, w, r, kp);
        }
      }
    }
    workgroupBarrier();
  }

  // Sum the kp partials of every dim (all heads at once) through scr: (r, dim) at r * HEAD_DIM + dim, then the
  // l partials (identical across a token lane's TPT threads) at kp * HEAD_DIM + r.
  let lbase = kp * HEAD_DIM;
  if (r < kp) {
    for (var e = 0u; e < DPT; e++) {
      let o = DPT * w + e;
      if (o < HEAD_DIM) {
        scr[r * HEAD_DIM + o] = acc[e];
      }
    }
    if (w == 0u) {
      scr[lbase + r] = l_run;
    }
  }
  workgroupBarrier();
  let pbase = (kvh * params.n_split + split) * G;
  for (var o = lid; o < HEAD_DIM; o += WG) {
    var x = vec4<f32>();
    for (var rr = 0u; rr < kp; rr++) {
      x += scr[rr * HEAD_DIM + o];
    }
    for (var h = 0u; h < G; h++) {
      part_acc[(pbase + h) * HEAD_DIM + o] = x[h];
    }
  }
  if (lid == 0u) {
    var l = vec4<f32>();
    for (var rr = 0u; rr < kp; rr++) {
      l += scr[lbase + rr];
    }
    for (var h = 0u; h < G; h++) {
      part_ml[pbase + h] = vec2<f32>(m_run[h], l[h]);
    }
  }
}
