// Include (no entry point), prepended by src/gpu/ops/attention-decode.ts and src/gpu/ops/rdkv-attention-decode.ts
// to their combine kernels (wgsl/attention_decode_combine.wgsl, wgsl/rdkv_attention_combine.wgsl): merges the
// per-split partial softmax states (m, l, acc) of query head h:
//   M = max over non-empty splits of m_s,  out[h, e] = sum_s 2^(m_s - M) acc_s[e] / sum_s 2^(m_s - M) l_s
//   (a split with l = 0 holds no key and is skipped; 0 when no split holds one).
// WG threads per head: M by a tree over the splits; then thread (e, sp) sums dim e over splits sp, sp + NP, ...
// (NP = WG / min(WG, d) split phases, 4 splits in flight per thread), and the NP partial sums (and l) are added
// through workgroup memory. Nothing loops serially over all splits.
// The kernel provides HEAD_DIM, WG (a power of two), `out` (Hq*d f32) and the accessors split_count(h),
// part_ml(h, s) -> (m, l) and part_acc(h, s, e).

var<workgroup> red: array<f32, WG>;
var<workgroup> red_l: array<f32, WG>;

fn combine(h: u32, lid: u32) {
  let n = split_count(h);
  var m = -1e30;
  for (var s = lid; s < n; s += WG) {
    let ml = part_ml(h, s);
    if (ml.y > 0.0) {
      m = max(m, ml.x);
    }
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
        // Every slot is written on every step (0 for a split past n or an empty one), and the arrays carry
        // explicit initialisers: declared without one inside this loop, they kept the previous step's values
        // on Dawn + SwiftShader (zeroed once, not per declaration), so a thread that looped (more than 4 * NP
        // splits: with WG 256, 16 at d 64, 8 at d 128, 4 at d 256) re-added earlier splits in its last step.
        var wt = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        var a = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        var ls = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        for (var i = 0u; i < 4u; i++) {
          // past n: load split n - 1 again (in bounds, all 4 loads unconditional) and weigh it 0
          let si = min(s + i * np, n - 1u);
          let ml = part_ml(h, si);
          let live = s + i * np < n && ml.y > 0.0;
          wt[i] = select(0.0, exp2(ml.x - big_m), live);
          a[i] = select(0.0, part_acc(h, si, e), live);
          ls[i] = select(0.0, ml.y, live);
        }
        for (var i = 0u; i < 4u; i++) {
          o += wt[i] * a[i];
          l += wt[i] * ls[i];
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
      out[h * HEAD_DIM + e] = select(0.0, os / lsum, lsum > 0.0);
    }
    workgroupBarrier();
  }
}
