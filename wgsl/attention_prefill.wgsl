// Causal GQA attention for a chunk of queries (flash attention, online softmax):
//   out[r, h, :] = sum_t softmax_t(q[r, h, :] . K[kvh, t, :] * scale) V[kvh, t, :]
//   over cache slots t <= p = step.pos + r (and t > p - window when window > 0), kvh = h / G.
// CPU reference: src/ref/attention.ts (attentionRef).
// Grid: (ceil(step.rows * G / BQ), Hkv, 1). A workgroup owns a tile of BQ queries of one KV head, the
//   (row, head) pairs of its G query heads flattened as q_idx = row * G + head_in_group, and streams
//   BK-key tiles of K, then V, through one workgroup buffer, so each K/V element is read once per tile.
//   Per tile: S = Q K^T (each thread an SR x SK block) -> softmax update (one thread per query row) ->
//   O = O * corr + P V (each thread RQ rows x DV vec4 dims, kept in registers).
// Bindings: 0 out (rows, Hq*d) f32 · 1 q (rows, Hq*d) f32 (roped) · 2 k_cache · 3 v_cache ([Hkv, capacity,
//   d]: f32 words, or CACHE_F16 two f16 per word, dim 2j low; bound as vec4<u32>, so the buffer size must
//   be a multiple of 16 bytes) · 4 params · 5 step

override HEAD_DIM: u32 = 64u;
override DP4: u32 = 16u; // vec4 columns per row in workgroup memory, >= ceil(HEAD_DIM / 4) (extra ones are zero)
override CACHE_F16: u32 = 0u;
override ALIGNED: u32 = 1u; // a cache row is whole vec4<u32> words (f32: d % 4 == 0, f16: d % 8 == 0)
override ROW4: u32 = 16u; // when ALIGNED: vec4<u32> words per cache row (d / 4 for f32, d / 8 for f16)
override BQ: u32 = 32u; // queries per workgroup
override BK: u32 = 32u; // keys per tile
override WG: u32 = 128u; // = (BQ / SR) * (BK / SK) = (BQ / RQ) * (DP4 / DV)
override SR: u32 = 4u; // score block rows per thread
override SK: u32 = 2u; // score block keys per thread
override RQ: u32 = 4u; // output rows per thread
override DV: u32 = 2u; // output vec4 columns per thread

const NEG: f32 = -1e30;
const MAX_S: u32 = 16u; // SR * SK
const MAX_ACC: u32 = 16u; // RQ * DV
const MAX_SIDE: u32 = 8u; // SR, SK, RQ, DV

struct Params {
  n_heads: u32,
  group: u32, // G = n_heads / n_kv_heads
  capacity: u32,
  window: u32, // 0: no sliding window
  scale_log2: f32, // scale * log2(e): scores are kept in base 2
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<u32>>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<uniform> step: Step;

override ROW_STRIDE: u32 = DP4 + 1u; // padded rows spread the threads of a phase over memory banks
var<workgroup> qs: array<vec4<f32>, BQ * ROW_STRIDE>; // (BQ, DP4) q * scale * log2(e)
var<workgroup> kv: array<vec4<f32>, BK * ROW_STRIDE>; // (BK, DP4) K tile, then V tile
var<workgroup> ss: array<f32, BQ * (BK + 1u)>; // (BQ, BK) scores, then probabilities
var<workgroup> row_max: array<f32, BQ>;
var<workgroup> row_sum: array<f32, BQ>;
var<workgroup> row_corr: array<f32, BQ>;

fn cache_vec4(is_v: bool, i: u32) -> vec4<u32> {
  if (is_v) {
    return v_cache[i];
  }
  return k_cache[i];
}

fn cache_word(is_v: bool, i: u32) -> u32 {
  return cache_vec4(is_v, i >> 2u)[i & 3u];
}

// Dims 4c .. 4c + 3 of cache row `token` (zero past HEAD_DIM; 4c < HEAD_DIM).
fn cache_dims(is_v: bool, token: u32, c: u32) -> vec4<f32> {
  if (ALIGNED != 0u) {
    if (CACHE_F16 != 0u) {
      let x = cache_vec4(is_v, token * ROW4 + c / 2u);
      let w = select(x.xy, x.zw, (c & 1u) != 0u);
      return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
    }
    return bitcast<vec4<f32>>(cache_vec4(is_v, token * ROW4 + c));
  }
  var x = vec4<f32>();
  for (var i = 0u; i < 4u; i++) {
    let e = 4u * c + i;
    if (e < HEAD_DIM) {
      if (CACHE_F16 != 0u) {
        x[i] = unpack2x16float(cache_word(is_v, token * (HEAD_DIM / 2u) + e / 2u))[e & 1u];
      } else {
        x[i] = bitcast<f32>(cache_word(is_v, token * HEAD_DIM + e));
      }
    }
  }
  return x;
}

// Keys t0 .. t0 + BK - 1 of KV head kvh into kv; keys outside [t_lo, t_hi] and dims past HEAD_DIM are zero.
fn load_tile(is_v: bool, kvh: u32, t0: u32, t_lo: u32, t_hi: u32, lid: u32) {
  let row0 = kvh * params.capacity;
  for (var i = lid; i < BK * DP4; i += WG) {
    let j = i / DP4;
    let c = i % DP4;
    let t = t0 + j;
    var a = vec4<f32>();
    if (t >= t_lo && t <= t_hi && 4u * c < HEAD_DIM) {
      a = cache_dims(is_v, row0 + t, c);
    }
    kv[j * ROW_STRIDE + c] = a;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = params.group;
  let kvh = wid.y;
  let q0 = wid.x * BQ; // first flattened query of the tile
  let n_q = step.rows * g;
  let row_lo = q0 / g;
  let row_hi = min(step.rows - 1u, (q0 + BQ - 1u) / g);
  let t_hi = step.pos + row_hi;
  var t_lo = 0u;
  if (params.window > 0u && step.pos + row_lo + 1u > params.window) {
    t_lo = step.pos + row_lo + 1u - params.window;
  }

  // Q tile, pre-scaled; rows past the chunk are zero.
  let qd = params.n_heads * HEAD_DIM;
  for (var i = lid; i < BQ * DP4 * 4u; i += WG) {
    let row = i / (DP4 * 4u);
    let e = i % (DP4 * 4u);
    let qi = q0 + row;
    var x = 0.0;
    if (qi < n_q && e < HEAD_DIM) {
      let r = qi / g;
      let h = kvh * g + qi % g;
      x = q[r * qd + h * HEAD_DIM + e] * params.scale_log2;
    }
    qs[row * ROW_STRIDE + e / 4u][e % 4u] = x;
  }
  for (var i = lid; i < BQ; i += WG) {
    row_max[i] = NEG;
    row_sum[i] = 0.0;
  }

  // Score block: rows s_row0 + i, keys s_key0 + KG * u.
  let kg = BK / SK;
  let s_key0 = lid % kg;
  let s_row0 = (lid / kg) * SR;
  // Output block: rows o_row0 + i, vec4 columns o_col0 + TC * u.
  let tc = DP4 / DV;
  let o_col0 = lid % tc;
  let o_row0 = (lid / tc) * RQ;

  var acc: array<vec4<f32>, MAX_ACC>;
  for (var i = 0u; i < RQ * DV; i++) {
    acc[i] = vec4<f32>();
  }

  for (var t0 = t_lo; t0 <= t_hi; t0 += BK) {
    load_tile(false, kvh, t0, t_lo, t_hi, lid);
    workgroupBarrier();

    var s: array<f32, MAX_S>;
    for (var i = 0u; i < SR * SK; i++) {
      s[i] = 0.0;
    }
    for (var c = 0u; c < DP4; c++) {
      var qv: array<vec4<f32>, MAX_SIDE>;
      var kvv: array<vec4<f32>, MAX_SIDE>;
      for (var i = 0u; i < SR; i++) {
        qv[i] = qs[(s_row0 + i) * ROW_STRIDE + c];
      }
      for (var u = 0u; u < SK; u++) {
        kvv[u] = kv[(s_key0 + kg * u) * ROW_STRIDE + c];
      }
      for (var i = 0u; i < SR; i++) {
        for (var u = 0u; u < SK; u++) {
          s[i * SK + u] += dot(qv[i], kvv[u]);
        }
      }
    }
    for (var i = 0u; i < SR; i++) {
      let p = step.pos + (q0 + s_row0 + i) / g; // position of this query row
      for (var u = 0u; u < SK; u++) {
        let key = s_key0 + kg * u;
        let t = t0 + key;
        let visible = t <= p && t >= t_lo && (params.window == 0u || t + params.window > p);
        ss[(s_row0 + i) * (BK + 1u) + key] = select(NEG, s[i * SK + u], visible);
      }
    }
    workgroupBarrier();

    load_tile(true, kvh, t0, t_lo, t_hi, lid);
    for (var row = lid; row < BQ; row += WG) {
      let base = row * (BK + 1u);
      let m_old = row_max[row];
      var m = m_old;
      for (var j = 0u; j < BK; j++) {
        m = max(m, ss[base + j]);
      }
      var sum = 0.0;
      for (var j = 0u; j < BK; j++) {
        let x = ss[base + j];
        let pj = select(0.0, exp2(x - m), x > 0.5 * NEG);
        ss[base + j] = pj;
        sum += pj;
      }
      let corr = exp2(m_old - m);
      row_max[row] = m;
      row_sum[row] = row_sum[row] * corr + sum;
      row_corr[row] = corr;
    }
    workgroupBarrier();

    for (var i = 0u; i < RQ; i++) {
      let corr = row_corr[o_row0 + i];
      for (var u = 0u; u < DV; u++) {
        acc[i * DV + u] *= corr;
      }
    }
    for (var j = 0u; j < BK; j++) {
      var vv: array<vec4<f32>, MAX_SIDE>;
      for (var u = 0u; u < DV; u++) {
        vv[u] = kv[j * ROW_STRIDE + o_col0 + tc * u];
      }
      for (var i = 0u; i < RQ; i++) {
        let pj = ss[(o_row0 + i) * (BK + 1u) + j];
        for (var u = 0u; u < DV; u++) {
          acc[i * DV + u] += pj * vv[u];
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < RQ; i++) {
    let qi = q0 + o_row0 + i;
    if (qi < n_q) {
      let inv = 1.0 / row_sum[o_row0 + i];
      let r = qi / g;
      let h = kvh * g + qi % g;
      let base = r * qd + h * HEAD_DIM;
      for (var u = 0u; u < DV; u++) {
        let c = o_col0 + tc * u;
        let x = acc[i * DV + u] * inv;
        for (var l = 0u; l < 4u; l++) {
          if (4u * c + l < HEAD_DIM) {
            out[base + 4u * c + l] = x[l];
          }
        }
      }
    }
  }
}
