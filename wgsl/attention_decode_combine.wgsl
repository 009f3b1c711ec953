// Decode attention, pass 2 of 2: merges the per-split partials of wgsl/attention_decode.wgsl.
//   M = max_s m_s,  out[h, :] = sum_s 2^(m_s - M) acc_s / sum_s 2^(m_s - M) l_s
// (an empty split has m = -1e30, l = 0, acc = 0, so its weight is 0).
// CPU reference: src/ref/attention.ts (attentionRef with rows = 1, pos = kv_len - 1).
// Grid: (Hq, 1, 1). WG threads per head: M by a tree over the splits; then thread (e, sp) sums dim e over
//   splits sp, sp + NP, ... (NP = WG / min(WG, d) split phases, 4 splits in flight per thread), and the NP
//   partial sums (and l) are added through workgroup memory. Nothing loops serially over all splits.
// Bindings: 0 out (Hq*d) f32 · 1 scratch (layout in attention_decode.wgsl; [0] = n_splits) · 2 params
//   (attention_decode's)

override HEAD_DIM: u32 = 64u;
override WG: u32 = 256u; // a power of two

struct Params {
  n_heads: u32,
  capacity: u32,
  window: u32,
  scale_log2: f32,
  max_splits: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> scratch: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> red: array<f32, WG>;
var<workgroup> red_l: array<f32, WG>;

fn m_of(i: u32) -> f32 {
  return bitcast<f32>(scratch[4u + 2u * i]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let n = scratch[0];
  let slot0 = h * params.max_splits;
  let acc0 = 4u + 2u * params.n_heads * params.max_splits;

  var m = -3.0e38;
  for (var s = lid; s < n; s += WG) {
    m = max(m, m_of(slot0 + s));
  }
  red[lid] = m;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      red[lid] = max(red[lid], red[lid + st]);
    }
    workgroupBarrier();
  }
  let big_m = red[0];
  workgroupBarrier();

  let dt = min(WG, HEAD_DIM);
  let np = WG / dt;
  let sp = lid / dt;
  let e0 = lid % dt;
  for (var eb = 0u; eb < HEAD_DIM; eb += dt) {
    let e = eb + e0;
    var o = 0.0;
    var l = 0.0;
    if (sp < np && e < HEAD_DIM) {
      for (var s = sp; s < n; s += 4u * np) {
        var w: array<f32, 4>;
        var a: array<f32, 4>;
        var ls: array<f32, 4>;
        for (var i = 0u; i < 4u; i++) {
          let si = s + i * np;
          if (si < n) {
            let slot = slot0 + si;
            w[i] = exp2(m_of(slot) - big_m);
            ls[i] = bitcast<f32>(scratch[5u + 2u * slot]);
            a[i] = bitcast<f32>(scratch[acc0 + slot * HEAD_DIM + e]);
          }
        }
        for (var i = 0u; i < 4u; i++) {
          o += w[i] * a[i];
          l += w[i] * ls[i];
        }
      }
    }
    red[lid] = o;
    red_l[lid] = l;
    workgroupBarrier();
    if (sp == 0u && e < HEAD_DIM) {
      var os = 0.0;
      var lsum = 0.0;
      for (var p = 0u; p < np; p++) {
        os += red[p * dt + e0];
        lsum += red_l[p * dt + e0];
      }
      out[h * HEAD_DIM + e] = os / lsum;
    }
    workgroupBarrier();
  }
}
