// RDKV observation-window scores, the two token-parallel passes (rdkv.md §1), for one layer:
//   A[i, t] = softmax over t <= p_i of (q_i . k_t * scale), window query i = tau * G + g' of KV head h
//   (tau = window row, g' = query head in the group), p_i = T - W + tau.
//   PHASE 0: per (h, tile of BK tokens, query i): the tile's partial max m and sum l = sum exp(s - m)
//            (base 2) -> part; per (h, tile, channel c): sum over the tile's tokens of k_c^2 -> part_k.
//   PHASE 2: with the combined (m, l) of every query (stats, from rdkv_scores_combine.wgsl):
//            wv_raw[h, t] = sum_i A[i, t] (0 for tokens no query sees; the visibility division and
//            pooling happen on the CPU).
// CPU reference: src/rdkv/scoring.ts windowSums (attn, kSq).
// Grid: (n_tiles, Hkv, 1), n_tiles = ceil(T / BK). A workgroup stages its K tile (BK, d) in workgroup
//   memory once, then streams the W*G queries in chunks of QC = QG * RQ: thread (qg, tk) computes RQ
//   scores of token tk (queries are read from global memory, the same for all threads of a row: broadcast).
// Bindings: 0 wv_raw (Hkv, T) f32 · 1 part (Hkv, n_tiles, W*G) vec2 (m, l) · 2 part_k (Hkv, n_tiles, d) f32 ·
//   3 stats (Hkv, W*G) vec2 (m, l) · 4 q (W, Hq*d) f32 post-RoPE · 5 k_cache ([Hkv, capacity, d]: f32, or
//   CACHE_F16 two f16 per word, dim 2j low) · 6 params

override PHASE: u32 = 0u;
override HEAD_DIM: u32 = 64u;
override CACHE_F16: u32 = 0u;
override BK: u32 = 16u; // tokens per tile
override QG: u32 = 4u; // query groups; WG = BK * QG
override RQ: u32 = 4u; // queries per thread per chunk
override WG: u32 = 64u;

const NEG: f32 = -1e30;
const MAX_RQ: u32 = 8u;

struct Params {
  t_len: u32, // T
  w: u32, // window rows W
  n_heads: u32, // Hq
  group: u32, // G
  capacity: u32,
  n_tiles: u32,
  nq: u32, // W * G
  scale_log2: f32, // scale * log2(e)
}

@group(0) @binding(0) var<storage, read_write> wv_raw: array<f32>;
@group(0) @binding(1) var<storage, read_write> part: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> part_k: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> q: array<f32>;
@group(0) @binding(5) var<storage, read> k_cache: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;

override KS: u32 = HEAD_DIM + 1u; // padded K tile row
var<workgroup> ks: array<f32, BK * (HEAD_DIM + 1u)>;
var<workgroup> ss: array<f32, QG * RQ * (BK + 1u)>;

fn k_value(h: u32, t: u32, c: u32) -> f32 {
  let row = h * params.capacity + t;
  if (CACHE_F16 != 0u) {
    return unpack2x16float(k_cache[row * (HEAD_DIM / 2u) + c / 2u])[c & 1u];
  }
  return bitcast<f32>(k_cache[row * HEAD_DIM + c]);
}

// Window query i of KV head h (i = tau * G + g').
fn q_base(h: u32, i: u32) -> u32 {
  let g = params.group;
  return ((i / g) * params.n_heads + h * g + i % g) * HEAD_DIM;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let tile = wid.x;
  let t_len = params.t_len;
  let t0 = tile * BK;
  let nq = params.nq;
  let qc = QG * RQ;

  for (var i = lid; i < BK * HEAD_DIM; i += WG) {
    let j = i / HEAD_DIM;
    let c = i % HEAD_DIM;
    var x = 0.0;
    if (t0 + j < t_len) {
      x = k_value(h, t0 + j, c);
    }
    ks[j * KS + c] = x;
  }
  workgroupBarrier();

  if (PHASE == 0u) {
    for (var c = lid; c < HEAD_DIM; c += WG) {
      var acc = 0.0;
      for (var j = 0u; j < BK; j++) {
        let x = ks[j * KS + c];
        acc += x * x;
      }
      part_k[(h * params.n_tiles + tile) * HEAD_DIM + c] = acc;
    }
  }

  let tk = lid % BK;
  let qg = lid / BK;
  let t = t0 + tk;
  let first_pos = t_len - params.w; // position of window row 0
  var col = 0.0;
  for (var q0 = 0u; q0 < nq; q0 += qc) {
    var s: array<f32, MAX_RQ>;
    var base: array<u32, MAX_RQ>;
    for (var r = 0u; r < RQ; r++) {
      s[r] = 0.0;
      base[r] = q_base(h, min(q0 + qg * RQ + r, nq - 1u));
    }
    for (var c = 0u; c < HEAD_DIM; c++) {
      let kv = ks[tk * KS + c];
      for (var r = 0u; r < RQ; r++) {
        s[r] += q[base[r] + c] * kv;
      }
    }
    for (var r = 0u; r < RQ; r++) {
      let i = q0 + qg * RQ + r;
      let visible = i < nq && t < t_len && t <= first_pos + i / params.group;
      ss[(qg * RQ + r) * (BK + 1u) + tk] = select(NEG, s[r] * params.scale_log2, visible);
    }
    workgroupBarrier();
    if (PHASE == 0u) {
      for (var row = lid; row < qc; row += WG) {
        let i = q0 + row;
        if (i < nq) {
          var m = NEG;
          for (var j = 0u; j < BK; j++) {
            m = max(m, ss[row * (BK + 1u) + j]);
          }
          var l = 0.0;
          for (var j = 0u; j < BK; j++) {
            let x = ss[row * (BK + 1u) + j];
            l += select(0.0, exp2(x - m), x > 0.5 * NEG);
          }
          part[(h * params.n_tiles + tile) * nq + i] = vec2<f32>(m, l);
        }
      }
    } else if (lid < BK) {
      for (var row = 0u; row < qc; row++) {
        let i = q0 + row;
        let x = ss[row * (BK + 1u) + lid];
        if (i < nq && x > 0.5 * NEG) {
          let ml = stats[h * nq + i];
          col += exp2(x - ml.x) / ml.y;
        }
      }
    }
    workgroupBarrier();
  }
  if (PHASE != 0u && lid < BK && t < t_len) {
    wv_raw[h * t_len + t] = col;
  }
}
