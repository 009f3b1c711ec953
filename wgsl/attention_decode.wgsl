// Decode attention, pass 1 of 2 (flash decoding): one query token per head over the first step.kv_len
// cache slots (only the last `window` ones when window > 0), the keys split into num_workgroups.x chunks.
// For query head h = kvh * G + hh and split s, over the split's keys t:
//   m = max_t score_t,  l = sum_t 2^(score_t - m),  acc = sum_t 2^(score_t - m) V[kvh, t, :],
//   score_t = q[h] . K[kvh, t] * scale * log2(e);  pass 2 (attention_decode_combine.wgsl) merges splits.
// CPU reference: src/ref/attention.ts (attentionRef with rows = 1, pos = kv_len - 1).
// Grid: (n_splits, Hkv, 1). A workgroup serves all G query heads of its KV head, so each K/V byte is read
//   once: NK-key tiles are loaded with coalesced vec4<u32> loads (a tile is contiguous in the cache), then
//   scores (one thread per (head, key)), an online-softmax update (one thread per head), and
//   acc = acc * corr + P V (each thread OPT vec4 outputs of the (G, DP4) block).
// Bindings: 0 scratch u32 words: [0] n_splits, then (m, l) f32 pairs at 4 + (h * max_splits + s) * 2, then
//   acc f32 at 4 + 2 * Hq * max_splits + (h * max_splits + s) * d · 1 q (Hq*d) f32 · 2 k_cache · 3 v_cache
//   ([Hkv, capacity, d]: f32 words or CACHE_F16 two f16 per word, dim 2j low; read as vec4<u32>, so a
//   multiple of 16 bytes) · 4 params · 5 step

override HEAD_DIM: u32 = 64u;
override DP4: u32 = 16u; // ceil(HEAD_DIM / 4)
override CACHE_F16: u32 = 0u;
override ALIGNED: u32 = 1u; // a cache row is whole vec4<u32> words (f32: d % 4 == 0, f16: d % 8 == 0)
override ROW4: u32 = 16u; // when ALIGNED: vec4<u32> words per cache row (d / 4 for f32, d / 8 for f16)
override G: u32 = 1u; // query heads per KV head
override NK: u32 = 32u; // keys per tile
override WG: u32 = 128u;
override OPT: u32 = 1u; // ceil(G * DP4 / WG): vec4 outputs per thread

const NEG: f32 = -1e30;
const MAX_OPT: u32 = 16u;

struct Params {
  n_heads: u32,
  capacity: u32,
  window: u32, // 0: no sliding window
  scale_log2: f32, // scale * log2(e)
  max_splits: u32, // scratch stride
}

@group(0) @binding(0) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<u32>>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<uniform> step: Step;

override KS_STRIDE: u32 = DP4 + 1u; // padded K rows: the score threads (one key each) spread over banks
var<workgroup> qs: array<vec4<f32>, G * DP4>; // (G, DP4) q * scale * log2(e)
var<workgroup> ks: array<vec4<f32>, NK * KS_STRIDE>; // (NK, DP4) K tile
var<workgroup> vs: array<vec4<f32>, NK * DP4>; // (NK, DP4) V tile
var<workgroup> sc: array<f32, G * (NK + 1u)>; // (G, NK) scores, then probabilities
var<workgroup> head_max: array<f32, G>;
var<workgroup> head_sum: array<f32, G>;
var<workgroup> head_corr: array<f32, G>;

fn cache_vec4(is_v: bool, i: u32) -> vec4<u32> {
  if (is_v) {
    return v_cache[i];
  }
  return k_cache[i];
}

// Dims 4c .. 4c + 3 of cache row `token`, for rows that are not whole vec4<u32> words (zero past HEAD_DIM).
fn cache_dims_scalar(is_v: bool, token: u32, c: u32) -> vec4<f32> {
  var x = vec4<f32>();
  for (var i = 0u; i < 4u; i++) {
    let e = 4u * c + i;
    if (e < HEAD_DIM) {
      if (CACHE_F16 != 0u) {
        let w = token * (HEAD_DIM / 2u) + e / 2u;
        x[i] = unpack2x16float(cache_vec4(is_v, w >> 2u)[w & 3u])[e & 1u];
      } else {
        let w = token * HEAD_DIM + e;
        x[i] = bitcast<f32>(cache_vec4(is_v, w >> 2u)[w & 3u]);
      }
    }
  }
  return x;
}

// Rows t0 .. t0 + NK - 1 of K and V into ks, vs; rows at or past t_end are zero.
fn load_tile(kvh: u32, t0: u32, t_end: u32, lid: u32) {
  let row0 = kvh * params.capacity;
  if (ALIGNED != 0u && CACHE_F16 != 0u) {
    // One vec4<u32> = 8 dims = two vec4<f32> columns; consecutive threads read consecutive words.
    for (var i = lid; i < NK * ROW4; i += WG) {
      let j = i / ROW4;
      let w = i % ROW4;
      let t = t0 + j;
      var k = vec4<u32>();
      var v = vec4<u32>();
      if (t < t_end) {
        k = k_cache[(row0 + t) * ROW4 + w];
        v = v_cache[(row0 + t) * ROW4 + w];
      }
      ks[j * KS_STRIDE + 2u * w] = vec4<f32>(unpack2x16float(k.x), unpack2x16float(k.y));
      ks[j * KS_STRIDE + 2u * w + 1u] = vec4<f32>(unpack2x16float(k.z), unpack2x16float(k.w));
      vs[j * DP4 + 2u * w] = vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
      vs[j * DP4 + 2u * w + 1u] = vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w));
    }
    return;
  }
  for (var i = lid; i < NK * DP4; i += WG) {
    let j = i / DP4;
    let c = i % DP4;
    let t = t0 + j;
    var k = vec4<f32>();
    var v = vec4<f32>();
    if (t < t_end) {
      if (ALIGNED != 0u) {
        k = bitcast<vec4<f32>>(k_cache[(row0 + t) * ROW4 + c]);
        v = bitcast<vec4<f32>>(v_cache[(row0 + t) * ROW4 + c]);
      } else {
        k = cache_dims_scalar(false, row0 + t, c);
        v = cache_dims_scalar(true, row0 + t, c);
      }
    }
    ks[j * KS_STRIDE + c] = k;
    vs[j * DP4 + c] = v;
  }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let split = wid.x;
  let n_splits = nwg.x;
  let kvh = wid.y;
  if (split == 0u && kvh == 0u && lid == 0u) {
    scratch[0] = n_splits;
  }
  let kv_len = step.kv_len;
  var lo = 0u;
  if (params.window > 0u && kv_len > params.window) {
    lo = kv_len - params.window;
  }
  let per = (kv_len - lo + n_splits - 1u) / n_splits;
  let chunk = (per + NK - 1u) / NK * NK;
  let start = min(kv_len, lo + split * chunk);
  let end = min(kv_len, start + chunk);

  for (var i = lid; i < G * DP4 * 4u; i += WG) {
    let hh = i / (DP4 * 4u);
    let e = i % (DP4 * 4u);
    var x = 0.0;
    if (e < HEAD_DIM) {
      x = q[(kvh * G + hh) * HEAD_DIM + e] * params.scale_log2;
    }
    qs[hh * DP4 + e / 4u][e % 4u] = x;
  }
  for (var hh = lid; hh < G; hh += WG) {
    head_max[hh] = NEG;
    head_sum[hh] = 0.0;
  }

  var acc: array<vec4<f32>, MAX_OPT>;
  for (var u = 0u; u < OPT; u++) {
    acc[u] = vec4<f32>();
  }

  for (var t0 = start; t0 < end; t0 += NK) {
    load_tile(kvh, t0, end, lid);
    workgroupBarrier();

    for (var i = lid; i < G * NK; i += WG) {
      let hh = i / NK;
      let j = i % NK;
      var s = 0.0;
      for (var c = 0u; c < DP4; c++) {
        s += dot(qs[hh * DP4 + c], ks[j * KS_STRIDE + c]);
      }
      sc[hh * (NK + 1u) + j] = select(NEG, s, t0 + j < end);
    }
    workgroupBarrier();

    for (var hh = lid; hh < G; hh += WG) {
      let base = hh * (NK + 1u);
      let m_old = head_max[hh];
      var m = m_old;
      for (var j = 0u; j < NK; j++) {
        m = max(m, sc[base + j]);
      }
      var sum = 0.0;
      for (var j = 0u; j < NK; j++) {
        let x = sc[base + j];
        let p = select(0.0, exp2(x - m), x > 0.5 * NEG);
        sc[base + j] = p;
        sum += p;
      }
      let corr = exp2(m_old - m);
      head_max[hh] = m;
      head_sum[hh] = head_sum[hh] * corr + sum;
      head_corr[hh] = corr;
    }
    workgroupBarrier();

    for (var u = 0u; u < OPT; u++) {
      let o = lid + WG * u;
      if (o < G * DP4) {
        let hh = o / DP4;
        let c = o % DP4;
        var a = acc[u] * head_corr[hh];
        for (var j = 0u; j < NK; j++) {
          a += sc[hh * (NK + 1u) + j] * vs[j * DP4 + c];
        }
        acc[u] = a;
      }
    }
    workgroupBarrier();
  }

  let slots = params.n_heads * params.max_splits;
  for (var hh = lid; hh < G; hh += WG) {
    let slot = (kvh * G + hh) * params.max_splits + split;
    scratch[4u + 2u * slot] = bitcast<u32>(head_max[hh]);
    scratch[4u + 2u * slot + 1u] = bitcast<u32>(head_sum[hh]);
  }
  for (var u = 0u; u < OPT; u++) {
    let o = lid + WG * u;
    if (o < G * DP4) {
      let hh = o / DP4;
      let c = o % DP4;
      let base = 4u + 2u * slots + ((kvh * G + hh) * params.max_splits + split) * HEAD_DIM;
      for (var l = 0u; l < 4u; l++) {
        if (4u * c + l < HEAD_DIM) {
          scratch[base + 4u * c + l] = bitcast<u32>(acc[u][l]);
        }
      }
    }
  }
}
