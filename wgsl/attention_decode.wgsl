// Decode attention, pass 1 of 2 (flash decoding): one query token per head over the first step.kv_len
// cache slots (only the last `window` ones when window > 0), the keys split into num_workgroups.x ranges.
// For query head h = kvh * G + hh and split s, over the split's keys t:
//   m = max_t score_t,  l = sum_t 2^(score_t - m),  acc = sum_t 2^(score_t - m) V[kvh, t, :],
//   score_t = q[h] . K[kvh, t] * scale * log2(e);  pass 2 (attention_decode_combine.wgsl) merges splits.
// CPU reference: src/ref/attention.ts (attentionRef with rows = 1, pos = kv_len - 1).
// Grid: (n_splits, Hkv, 1). A workgroup serves all G query heads of its KV head, so each K/V byte is read
//   once. The split's keys are taken in chunks of up to NK (usually one chunk per split):
//   1. scores: one thread per key reads its K row straight from the cache (16-byte loads, a whole row in
//      flight per thread; neighbouring rows fill the same cache lines) and scores it for the G heads into
//      workgroup memory `sc` — no barrier inside the loop;
//   2. the chunk max per head (wg_max: subgroup or tree helper, prepended by the wrapper), the running
//      (m, acc, l) rescaled once per chunk, sc turned into probabilities in place;
//   3. values: thread (u, r) owns 16-byte unit u of a V row (8 f16 or 4 f32 dims) and keys r, r + KP, ...
//      (KP = WG / UPR): a warp reads whole contiguous rows (coalesced), VB rows in flight per thread; it
//      accumulates the unit for the G heads and l = sum p;
//   then the KP partial accumulators are summed through workgroup memory and written to scratch.
//   A thread's first K row and first VB V rows are loaded at the very start (before the q barrier), so a
//   short split waits on about one memory round trip instead of three.
// Bindings: 0 scratch u32 words: [0] n_splits, then (m, l) f32 pairs at 4 + (h * max_splits + s) * 2, then
//   acc f32 at 4 + 2 * Hq * max_splits + (h * max_splits + s) * d · 1 q (Hq*d) f32 · 2 k_cache · 3 v_cache
//   ([Hkv, capacity, d]: f32 words or CACHE_F16 two f16 per word, dim 2j low; read as vec4<u32>, so a
//   multiple of 16 bytes) · 4 params · 5 step

// HEAD_DIM, DP4, CACHE_F16, ALIGNED, ROW4, UPR, UD, KB and the unit readers: wgsl/decode_cache.wgsl (prepended).
override G: u32 = 1u; // query heads per KV head, <= MAX_G
override NK: u32 = 256u; // keys per chunk (scores held in workgroup memory)
override WG: u32 = 128u; // a power of two, >= UPR
override RED_N: u32 = 512u; // max(G, UD + 1) * WG

const NEG: f32 = -1e30;
const MAX_G: u32 = 16u;
const VB: u32 = 4u; // V rows in flight per thread

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

var<workgroup> qs: array<vec4<f32>, G * DP4>; // (G, DP4) q * scale * log2(e)
var<workgroup> sc: array<f32, G * NK>; // (G, NK) scores of the chunk, then probabilities
var<workgroup> red: array<f32, RED_N>; // wg_max, then the (KP, UPR, UD) partial sums and (KP) l

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
  let start = min(kv_len, lo + split * per);
  let end = min(kv_len, start + per);
  let row0 = kvh * params.capacity;

  // value-phase role: unit u of the row, key phase r of KP
  let kp = WG / UPR;
  let u = lid % UPR;
  let r = lid / UPR;
  let in_pv = r < kp;

  // The first chunk's first K units and V rows of this thread, issued before anything waits, so the q load,
  // the K fetch and the V fetch overlap (a short split is then about one memory round trip).
  let n_first = min(NK, end - start);
  var kpre: array<vec4<u32>, KB>;
  if (lid < n_first) {
    kpre = load_k_units(row0 + start + lid, 0u);
  }
  var vpre: array<vec4<u32>, VB>;
  if (in_pv) {
    for (var i = 0u; i < VB; i++) {
      if (r + i * kp < n_first) {
        vpre[i] = load_unit(true, row0 + start + r + i * kp, u);
      }
    }
  }

  for (var i = lid; i < G * DP4 * 4u; i += WG) {
    let hh = i / (DP4 * 4u);
    let e = i % (DP4 * 4u);
    var x = 0.0;
    if (e < HEAD_DIM) {
      x = q[(kvh * G + hh) * HEAD_DIM + e] * params.scale_log2;
    }
    qs[hh * DP4 + e / 4u][e % 4u] = x;
  }
  workgroupBarrier();

  var m_run: array<f32, MAX_G>;
  var l_run: array<f32, MAX_G>;
  var acc: array<vec4<f32>, 2 * MAX_G>; // (G, 2): dims 0..3, 4..7 of unit u
  for (var hh = 0u; hh < G; hh++) {
    m_run[hh] = NEG;
    l_run[hh] = 0.0;
    acc[2u * hh] = vec4<f32>();
    acc[2u * hh + 1u] = vec4<f32>();
  }

  for (var c0 = start; c0 < end; c0 += NK) {
    let n = min(NK, end - c0);

    // 1. scores, one thread per key
    for (var j = lid; j < n; j += WG) {
      let row = row0 + c0 + j;
      var s: array<f32, MAX_G>;
      for (var hh = 0u; hh < G; hh++) {
        s[hh] = 0.0;
      }
      for (var ub = 0u; ub < UPR; ub += KB) {
        var raw: array<vec4<u32>, KB>;
        if (c0 == start && j == lid && ub == 0u) {
          raw = kpre;
        } else {
          raw = load_k_units(row, ub);
        }
        for (var i = 0u; i < KB; i++) {
          if (ub + i < UPR) {
            let col = (ub + i) * (UD / 4u);
            let k0 = unit_lo(raw[i]);
            for (var hh = 0u; hh < G; hh++) {
              s[hh] += dot(qs[hh * DP4 + col], k0);
            }
            if (UD == 8u) {
              let k1 = unit_hi(raw[i]);
              for (var hh = 0u; hh < G; hh++) {
                s[hh] += dot(qs[hh * DP4 + col + 1u], k1);
              }
            }
          }
        }
      }
      for (var hh = 0u; hh < G; hh++) {
        sc[hh * NK + j] = s[hh];
      }
    }
    workgroupBarrier();

    // 2. chunk max, rescale, probabilities
    var cm: array<f32, MAX_G>;
    for (var hh = 0u; hh < G; hh++) {
      cm[hh] = NEG;
    }
    for (var j = lid; j < n; j += WG) {
      for (var hh = 0u; hh < G; hh++) {
        cm[hh] = max(cm[hh], sc[hh * NK + j]);
      }
    }
    cm = wg_max(lid, cm);
    for (var hh = 0u; hh < G; hh++) {
      let m = max(m_run[hh], cm[hh]);
      let corr = exp2(m_run[hh] - m);
      m_run[hh] = m;
      l_run[hh] *= corr;
      acc[2u * hh] *= corr;
      acc[2u * hh + 1u] *= corr;
    }
    for (var j = lid; j < n; j += WG) {
      for (var hh = 0u; hh < G; hh++) {
        sc[hh * NK + j] = exp2(sc[hh * NK + j] - m_run[hh]);
      }
    }
    workgroupBarrier();

    // 3. values: keys r, r + kp, ... of the chunk, VB rows in flight
    if (in_pv) {
      for (var jb = r; jb < n; jb += kp * VB) {
        var raw: array<vec4<u32>, VB>;
        if (c0 == start && jb == r) {
          raw = vpre;
        } else {
          for (var i = 0u; i < VB; i++) {
            let j = jb + i * kp;
            if (j < n) {
              raw[i] = load_unit(true, row0 + c0 + j, u);
            }
          }
        }
        for (var i = 0u; i < VB; i++) {
          let j = jb + i * kp;
          if (j < n) {
            let v0 = unit_lo(raw[i]);
            var v1 = vec4<f32>();
            if (UD == 8u) {
              v1 = unit_hi(raw[i]);
            }
            for (var hh = 0u; hh < G; hh++) {
              let p = sc[hh * NK + j];
              l_run[hh] += p;
              acc[2u * hh] += p * v0;
              if (UD == 8u) {
                acc[2u * hh + 1u] += p * v1;
              }
            }
          }
        }
      }
    }
    workgroupBarrier();
  }

  // Sum the kp partials per head through `red`: (r, u, e) at (r * UPR + u) * UD + e, l at UPR * UD * kp + r.
  let slots = params.n_heads * params.max_splits;
  let lbase = UPR * UD * kp;
  for (var hh = 0u; hh < G; hh++) {
    let slot = (kvh * G + hh) * params.max_splits + split;
    if (in_pv) {
      for (var e = 0u; e < UD; e++) {
        var x: f32;
        if (e < 4u) {
          x = acc[2u * hh][e];
        } else {
          x = acc[2u * hh + 1u][e - 4u];
        }
        red[lid * UD + e] = x;
      }
      if (u == 0u) {
        red[lbase + r] = l_run[hh];
      }
    }
    workgroupBarrier();
    for (var o = lid; o < UPR * UD; o += WG) {
      // o = u' * UD + e' is dim o (units are consecutive dims)
      var x = 0.0;
      for (var rr = 0u; rr < kp; rr++) {
        x += red[rr * UPR * UD + o];
      }
      if (o < HEAD_DIM) {
        scratch[4u + 2u * slots + slot * HEAD_DIM + o] = bitcast<u32>(x);
      }
    }
    if (lid == 0u) {
      var l = 0.0;
      for (var rr = 0u; rr < kp; rr++) {
        l += red[lbase + rr];
      }
      scratch[4u + 2u * slot] = bitcast<u32>(m_run[hh]);
      scratch[4u + 2u * slot + 1u] = bitcast<u32>(l);
    }
    workgroupBarrier();
  }
}
