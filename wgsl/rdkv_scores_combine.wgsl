// RDKV window scores, the combine pass between the two passes of wgsl/rdkv_scores.wgsl:
//   item i < W*G (a window query of KV head h): stats[h, i] = (m, l), the max and base-2 softmax
//     denominator over all T keys, combined from the per-tile partials part[h, :, i];
//   item W*G + c (a channel): chan[h, c] = (sum over window queries of q_c^2, sum over tiles of part_k).
// CPU reference: src/rdkv/scoring.ts windowSums (qSq, kSq; stats is internal).
// Grid: (W*G + d, Hkv, 1), WG threads per item striding over tiles, then a tree reduction.
// Bindings: 0 stats (Hkv, W*G) vec2 · 1 chan (Hkv, d) vec2 (qSq, kSq) · 2 part · 3 part_k · 4 q (W, Hq*d) ·
//   5 params (the Params of rdkv_scores.wgsl)

override HEAD_DIM: u32 = 64u;
override WG: u32 = 64u;

const NEG: f32 = -1e30;

struct Params {
  t_len: u32,
  w: u32,
  n_heads: u32,
  group: u32,
  capacity: u32,
  n_tiles: u32,
  nq: u32,
  scale_log2: f32,
}

@group(0) @binding(0) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read_write> chan: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> part: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> part_k: array<f32>;
@group(0) @binding(4) var<storage, read> q: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> red: array<vec2<f32>, WG>;

// Merges two (max, sum) pairs of base-2 softmax partials.
fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  var l = 0.0;
  if (a.y > 0.0) {
    l += a.y * exp2(a.x - m);
  }
  if (b.y > 0.0) {
    l += b.y * exp2(b.x - m);
  }
  return vec2<f32>(m, l);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let item = wid.x;
  let nq = params.nq;
  let nt = params.n_tiles;
  let is_query = item < nq;
  var acc = vec2<f32>(NEG, 0.0);
  if (is_query) {
    for (var j = lid; j < nt; j += WG) {
      acc = merge(acc, part[(h * nt + j) * nq + item]);
    }
  } else {
    let c = item - nq;
    acc = vec2<f32>(0.0, 0.0);
    let g = params.group;
    for (var i = lid; i < nq; i += WG) {
      let x = q[((i / g) * params.n_heads + h * g + i % g) * HEAD_DIM + c];
      acc.x += x * x;
    }
    for (var j = lid; j < nt; j += WG) {
      acc.y += part_k[(h * nt + j) * HEAD_DIM + c];
    }
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      if (is_query) {
        red[lid] = merge(red[lid], red[lid + s]);
      } else {
        red[lid] += red[lid + s];
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    if (is_query) {
      stats[h * nq + item] = red[0];
    } else {
      chan[h * HEAD_DIM + item - nq] = red[0];
    }
  }
}
