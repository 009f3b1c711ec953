// Decode attention in one dispatch, for short contexts: one query token per head over the first step.kv_len
// cache slots (only the last `window` ones when window > 0), all of a head's keys in one workgroup, so the
// softmax is finished in place: no partial states, no scratch, no second pass. The wrapper
// (src/gpu/ops/attention-decode.ts) takes this kernel when the attended span is at most MAX_KEYS (its
// singleMaxKeys, which sizes KPT, VPT and RED_N below) and the split-K pair attention_decode.wgsl +
// attention_decode_combine.wgsl otherwise. For query head h (KV head kvh = h / GROUP) and keys t in [lo, kv_len):
//   s_t = q[h] . K[kvh, t] * scale * log2(e),  m = max_t s_t,  p_t = 2^(s_t - m),
//   out[h, :] = sum_t p_t V[kvh, t, :] / sum_t p_t.
// CPU reference: src/ref/attention.ts (attentionRef with rows = 1, pos = kv_len - 1).
// Grid: (Hq, 1, 1), WG threads per query head (the GROUP workgroups of a KV head read the same rows; the
//   repeats come from L2):
//   1. scores: thread t scores keys t, t + WG, ... (KPT = ceil(MAX_KEYS / WG) of them, a constant trip count)
//      from whole K rows of 16-byte loads, into registers. Keys past the span load the span's last row (an L1
//      hit) and are masked, so the unrolled loop has no branch around its loads and they can all be issued
//      before the first is used. A thread's first K row and first VB V rows are loaded before the q barrier,
//      so a short context waits on about one memory round trip;
//   2. m = wg_max over the workgroup (subgroup or tree helper, prepended by the wrapper); each thread writes
//      its p_t into workgroup memory `red`, indexed by key;
//   3. values: thread (u, r) owns 16-byte unit u of a V row (8 f16 or 4 f32 dims) and keys r, r + KP, ...
//      (KP = WG / UPR, at most VPT = ceil(MAX_KEYS / KP) of them): a warp reads whole contiguous rows, VB rows
//      in flight per thread (clamped like the K rows); it also sums its p_t (its part of l);
//   4. the KP partial rows and l's are summed through `red`; out = acc / l.
// Workgroup memory: `red` serves wg_max, then the probabilities, then the partial sums (barriers between).
// Bindings: 0 out (Hq*d) f32 · 1 q (Hq*d) f32, roped · 2 k_cache · 3 v_cache (layout: wgsl/decode_cache.wgsl,
//   prepended) · 4 params (attention_decode.wgsl's; max_splits unused) · 5 step

override GROUP: u32 = 1u; // query heads per KV head
override WG: u32 = 256u; // a power of two, >= UPR
override KPT: u32 = 8u; // keys per thread in phase 1: ceil(MAX_KEYS / WG), <= MAX_KPT
override VPT: u32 = 64u; // keys per value slice in phase 3: ceil(MAX_KEYS / KP)
override RED_N: u32 = 2048u; // max(MAX_KEYS, UPR * UD * KP + KP, WG)

const G: u32 = 1u; // query heads per workgroup, as the wg_max helper sees them
const MAX_G: u32 = 1u;
const MAX_KPT: u32 = 16u; // SINGLE_MAX_KPT in the wrapper
const VB: u32 = 16u; // V rows in flight per thread
const NEG: f32 = -1e30;

struct Params {
  n_heads: u32,
  capacity: u32,
  window: u32, // 0: no sliding window
  scale_log2: f32, // scale * log2(e)
  max_splits: u32, // the two-pass kernels' scratch stride
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<u32>>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<uniform> step: Step;

var<workgroup> qs: array<vec4<f32>, DP4>; // q * scale * log2(e), zero past HEAD_DIM
var<workgroup> red: array<f32, RED_N>; // wg_max slots; then p by key; then (KP, UPR, UD) partials and (KP) l

// q[h] * scale * log2(e) into qs.
fn load_q(h: u32, lid: u32) {
  for (var e = lid; e < DP4 * 4u; e += WG) {
    var x = 0.0;
    if (e < HEAD_DIM) {
      x = q[h * HEAD_DIM + e] * params.scale_log2;
    }
    qs[e / 4u][e % 4u] = x;
  }
}

// qs . units ub .. ub + KB - 1 of a K row.
fn dot_units(raw: array<vec4<u32>, KB>, ub: u32) -> f32 {
  var s = 0.0;
  for (var i = 0u; i < KB; i++) {
    if (ub + i < UPR) {
      let col = (ub + i) * (UD / 4u);
      s += dot(qs[col], unit_lo(raw[i]));
      if (UD == 8u) {
        s += dot(qs[col + 1u], unit_hi(raw[i]));
      }
    }
  }
  return s;
}

// Score of K row `row`; its first KB units are `first` when `have_first`.
fn score_row(row: u32, first: array<vec4<u32>, KB>, have_first: bool) -> f32 {
  var s = 0.0;
  for (var ub = 0u; ub < UPR; ub += KB) {
    var raw = first;
    if (!have_first || ub > 0u) {
      raw = load_k_units(row, ub);
    }
    s += dot_units(raw, ub);
  }
  return s;
}

// Unit u of V rows row0 + j for j = jb, jb + kp, ... (VB of them; j clamped to the last key n - 1).
fn load_v_rows(row0: u32, jb: u32, kp: u32, n: u32, u: u32) -> array<vec4<u32>, VB> {
  var raw: array<vec4<u32>, VB>;
  for (var i = 0u; i < VB; i++) {
    raw[i] = load_unit(true, row0 + min(jb + i * kp, n - 1u), u);
  }
  return raw;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let kv_len = step.kv_len;
  var lo = 0u;
  if (params.window > 0u && kv_len > params.window) {
    lo = kv_len - params.window;
  }
  let n = kv_len - lo; // keys j = 0 .. n - 1 are cache rows row0 + j
  let row0 = (h / GROUP) * params.capacity + lo;

  // value-phase role: unit u of the row, key slice r of KP
  let kp = WG / UPR;
  let u = lid % UPR;
  let r = lid / UPR;
  let in_pv = r < kp;

  // Issued before anything waits: the first K units of key lid and the first VB V rows of slice r.
  let kpre = load_k_units(row0 + min(lid, n - 1u), 0u);
  let vpre = load_v_rows(row0, r, kp, n, u);
  load_q(h, lid);
  workgroupBarrier();

  // 1. scores of keys lid, lid + WG, ... in registers
  var s: array<f32, MAX_KPT>;
  var m_own: array<f32, MAX_G>;
  m_own[0] = NEG;
  for (var i = 0u; i < KPT; i++) {
    let j = lid + i * WG;
    s[i] = select(NEG, score_row(row0 + min(j, n - 1u), kpre, i == 0u), j < n);
    m_own[0] = max(m_own[0], s[i]);
  }

  // 2. the head's max, probabilities by key
  let m = wg_max(lid, m_own)[0];
  for (var i = 0u; i < KPT; i++) {
    let j = lid + i * WG;
    if (j < n) {
      red[j] = exp2(s[i] - m);
    }
  }
  workgroupBarrier();

  // 3. values: unit u over keys r, r + kp, ..., VB rows in flight
  var acc_lo = vec4<f32>();
  var acc_hi = vec4<f32>();
  var l = 0.0;
  if (in_pv) {
    for (var ib = 0u; ib < VPT; ib += VB) {
      let jb = r + ib * kp;
      if (jb >= n) {
        break;
      }
      var raw = vpre;
      if (ib > 0u) {
        raw = load_v_rows(row0, jb, kp, n, u);
      }
      for (var i = 0u; i < VB; i++) {
        let j = jb + i * kp;
        if (j < n) {
          let p = red[j];
          l += p;
          acc_lo += p * unit_lo(raw[i]);
          if (UD == 8u) {
            acc_hi += p * unit_hi(raw[i]);
          }
        }
      }
    }
  }
  workgroupBarrier();

  // 4. sum the kp slices through `red`: (r, u, e) at (r * UPR + u) * UD + e = r * UPR * UD + dim, l at lbase + r
  let lbase = UPR * UD * kp;
  if (in_pv) {
    for (var e = 0u; e < UD; e++) {
      red[lid * UD + e] = select(acc_hi[e % 4u], acc_lo[e % 4u], e < 4u);
    }
    if (u == 0u) {
      red[lbase + r] = l;
    }
  }
  workgroupBarrier();
  for (var o = lid; o < HEAD_DIM; o += WG) {
    var x = 0.0;
    var lsum = 0.0;
    for (var rr = 0u; rr < kp; rr++) {
      x += red[rr * UPR * UD + o];
      lsum += red[lbase + rr];
    }
    out[h * HEAD_DIM + o] = x / lsum;
  }
}
