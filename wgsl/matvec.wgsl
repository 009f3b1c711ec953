// Matrix-vector product for decode (at most a few rows; one weight part per dispatch), with the two fusions
// the decode step uses:
//   plain: out[r, col_base + n] (= or +=) sum_k x[r, k] * W[n, k] (+ bias[bias_base + n])
//   NORM:  x[r, :] is first RMS-normalised: x[r, k] / sqrt(mean_k x[r, k]^2 + eps) * g[k] (g: the norm weight,
//          f32). The 1 / rms of the row is a scalar, so it is applied to the finished sums:
//          sum_k (x g)[k] W[n, k] / rms, and sum_k x[r, k]^2 is reduced together with the dot products (the
//          invocations of a group read every x of the row between them): no extra pass, no extra barrier.
//   GLU:   W holds [gate; up] (up from row params.up_row of the part) and
//          out[r, col_base + n] = silu(x . W[n]) * (x . W[up_row + n]),  silu(v) = v / (1 + exp(-v)).
//   for r < step.rows, n < params.n. Rows are looped (re-reading W).
// CPU reference: src/ref/linear.ts (linearRef, normLinearRef, gluLinearRef).
// Grid: ceil(n / FEATURES) workgroups, folded into (x, y) when over the per-dimension limit; workgroup WG.
//   FEATURES = (WG / TPF) * FOUT outputs per workgroup (FOUT = FPG, or FPG / 2 with GLU).
// Bindings: 0 out (rows, out_stride) f32 · 1 x as vec4 · 2 x (rows, K) f32 · 3 w as vec4<u32> ·
//   4 w (rows of the part, UNITS units) packed DTYPE · 5 bias f32 (read when FLAG_BIAS) · 6 params · 7 step ·
//   8 g as vec4 · 9 g (K) f32 (read when NORM). x, w and g are each bound twice (the same buffer): VEC4
//   reads the vec4 views, else the scalar ones.
// Prepended by the wrapper (src/gpu/ops/linear.ts): wgsl/matvec_lanes_subgroup.wgsl or
//   wgsl/matvec_lanes_plain.wgsl (struct Lanes and its accessors, HAS_SUBGROUPS, lanes_sum).
//
// Bandwidth-bound; built to have all of a thread's weight bytes in flight at once. A group of TPF invocations
// computes FPG weight rows; invocation j of a group owns units j, j + TPF, ... (UPT of them) of each row:
// consecutive invocations read consecutive 16-byte words (coalesced). A unit is a 16-byte word (VEC4) or one
// u32 word. Shapes are pipeline constants, so every loop below has a constant trip count: the BATCH * FPG
// weight loads of a batch are issued back to back into registers before any is used (usually the whole row
// share is one batch: one DRAM round trip per thread), then the matching x values (shared by the FPG rows,
// from L1/L2) are read and the dots accumulated. Partial sums are reduced over the group by
//   * subgroups (HAS_SUBGROUPS, the subgroup width w <= TPF, full subgroups): subgroupAdd, then, when a group
//     spans TPF / w > 1 subgroups, one workgroup-memory exchange (one barrier). Invocation roles are taken
//     from (subgroup_id, subgroup_invocation_id), so a subgroup always lies inside one group whatever the
//     hardware's mapping of local_invocation_index; the order of every sum is fixed (deterministic results);
//   * else a workgroup-memory reduction with fan-in up to 32 per round: TPF = 128 takes 3 barriers (16, 8).

override WG: u32 = 256u;
override TPF: u32 = 128u; // invocations per group: a power of two dividing WG
override FPG: u32 = 4u; // weight rows per group (<= MAX_FPG; even with GLU)
override FOUT: u32 = 4u; // outputs per group: FPG, or FPG / 2 with GLU
override UNITS: u32 = 256u; // units per weight row
override UPT: u32 = 2u; // ceil(UNITS / TPF): units per invocation per row
override BATCH: u32 = 2u; // units per invocation loaded at once (BATCH * FPG <= MAX_LOADS)
override K: u32 = 2048u; // elements per row: UNITS * elements per unit
override DTYPE: u32 = 0u;
override VEC4: bool = true; // units are 16-byte words (needs row words % 4 == 0)
override NORM: bool = false;
override GLU: bool = false;
override NV: u32 = 4u; // values reduced per invocation: FPG dots (+ the sum of squares with NORM)
override RED_N: u32 = 1024u; // workgroup f32 for the reduction (see red_words in the wrapper)
override FEATURES: u32 = WG / TPF * FOUT;

const MAX_FPG: u32 = 8u;
const MAX_NV: u32 = 9u;
const MAX_LOADS: u32 = 16u;

struct Params {
  n: u32, // outputs of this part (GLU: gate rows)
  out_stride: u32,
  col_base: u32,
  bias_base: u32,
  flags: u32, // FLAG_BIAS | FLAG_ACCUMULATE
  up_row: u32, // GLU: the part's first up row
  eps: f32, // NORM
}

const FLAG_BIAS: u32 = 1u;
const FLAG_ACCUMULATE: u32 = 2u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read> w4: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> w1: array<u32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(7) var<uniform> step: Step;
@group(0) @binding(8) var<storage, read> g4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> g1: array<f32>;

var<workgroup> red: array<f32, RED_N>;
var<workgroup> sg_choice: u32;

// The (up to 8) input values of one unit: a = elements 0..3, b = 4..7 (unused lanes are zero).
struct Xu {
  a: vec4<f32>,
  b: vec4<f32>,
}

fn load_w(row: u32, q: u32) -> vec4<u32> {
  if (VEC4) {
    return w4[row * UNITS + q];
  }
  return vec4<u32>(w1[row * UNITS + q], 0u, 0u, 0u);
}

// Unit q of x row r (base = r * K), or of g (base = 0).
fn load_x(base: u32, q: u32) -> Xu {
  if (VEC4) {
    if (DTYPE == DTYPE_F32) {
      return Xu(x4[base / 4u + q], vec4<f32>());
    }
    return Xu(x4[base / 4u + 2u * q], x4[base / 4u + 2u * q + 1u]);
  }
  if (DTYPE == DTYPE_F32) {
    return Xu(vec4<f32>(x1[base + q], 0.0, 0.0, 0.0), vec4<f32>());
  }
  return Xu(vec4<f32>(x1[base + 2u * q], x1[base + 2u * q + 1u], 0.0, 0.0), vec4<f32>());
}

fn load_g(q: u32) -> Xu {
  if (VEC4) {
    if (DTYPE == DTYPE_F32) {
      return Xu(g4[q], vec4<f32>());
    }
    return Xu(g4[2u * q], g4[2u * q + 1u]);
  }
  if (DTYPE == DTYPE_F32) {
    return Xu(vec4<f32>(g1[q], 0.0, 0.0, 0.0), vec4<f32>());
  }
  return Xu(vec4<f32>(g1[2u * q], g1[2u * q + 1u], 0.0, 0.0), vec4<f32>());
}

fn dot_unit(w: vec4<u32>, x: Xu) -> f32 {
  if (VEC4) {
    if (DTYPE == DTYPE_F32) {
      return dot(bitcast<vec4<f32>>(w), x.a);
    }
    let lo = vec4<f32>(widen2(w.x, DTYPE), widen2(w.y, DTYPE));
    let hi = vec4<f32>(widen2(w.z, DTYPE), widen2(w.w, DTYPE));
    return dot(lo, x.a) + dot(hi, x.b);
  }
  if (DTYPE == DTYPE_F32) {
    return bitcast<f32>(w.x) * x.a.x;
  }
  return dot(widen2(w.x, DTYPE), x.a.xy);
}

// The group totals of each value; valid in invocation j = 0 of the group (the one that writes the outputs).
// sg_width: the subgroup width when reducing through subgroups, else 0 (workgroup-uniform). Call from
// uniform control flow.
fn group_totals(vals: array<f32, MAX_NV>, g: u32, j: u32, sg_width: u32, lanes: Lanes) -> array<f32, MAX_NV> {
  var t: array<f32, MAX_NV>;
  if (sg_width > 0u) {
    let nsub = TPF / sg_width;
    for (var v = 0u; v < NV; v++) {
      t[v] = lanes_sum(vals[v]);
    }
    if (nsub > 1u) {
      if (lane_of(lanes) == 0u) {
        for (var v = 0u; v < NV; v++) {
          red[subgroup_of(lanes) * NV + v] = t[v];
        }
      }
      workgroupBarrier();
      // The group's subgroups in subgroup order (a fixed summation order).
      if (j == 0u) {
        for (var v = 0u; v < NV; v++) {
          var s = 0.0;
          for (var i = 0u; i < nsub; i++) {
            s += red[(g * nsub + i) * NV + v];
          }
          t[v] = s;
        }
      }
    }
    return t;
  }
  // Region A at 0: (group, value, invocation); each round sums `fan` entries strided by `next` (consecutive
  // invocations read consecutive words) into the other region, until one entry per value is left.
  for (var v = 0u; v < NV; v++) {
    red[(g * NV + v) * TPF + j] = vals[v];
  }
  workgroupBarrier();
  var count = TPF;
  var src = 0u;
  var dst = NV * WG;
  while (count > 1u) {
    let fan = select(16u, count, count <= 32u);
    let next = count / fan;
    for (var s = j; s < NV * next; s += TPF) {
      let v = s / next;
      let i = s % next;
      let base = src + (g * NV + v) * count + i;
      var acc = 0.0;
      for (var k = 0u; k < fan; k++) {
        acc += red[base + k * next];
      }
      red[dst + (g * NV + v) * next + i] = acc;
    }
    workgroupBarrier();
    count = next;
    let tmp = src;
    src = dst;
    dst = tmp;
  }
  if (j == 0u) {
    for (var v = 0u; v < NV; v++) {
      t[v] = red[src + g * NV + v];
    }
  }
  return t;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, lanes: Lanes) {
  let block = wid.y * nwg.x + wid.x;
  if (block * FEATURES >= params.n) {
    return;
  }
  // The subgroup width if the subgroup reduction applies (full subgroups no wider than a group), else 0,
  // made workgroup-uniform for the analysis (one barrier, before any load is issued).
  var role = local_index(lanes);
  var sg_width = 0u;
  if (HAS_SUBGROUPS) {
    if (role == 0u) {
      let width = subgroup_width(lanes);
      sg_choice = select(0u, width, width <= TPF && subgroup_count(lanes) * width == WG);
    }
    sg_width = workgroupUniformLoad(&sg_choice);
    if (sg_width > 0u) {
      role = subgroup_of(lanes) * sg_width + lane_of(lanes);
    }
  }
  let g = role / TPF;
  let j = role % TPF;
  let f0 = block * FEATURES + g * FOUT;
  // Outputs past n re-read the last row (valid memory, no branch in the loop) and are not written.
  let last = params.n - 1u;
  var rows: array<u32, MAX_FPG>;
  for (var i = 0u; i < FPG; i++) {
    if (GLU && i >= FOUT) {
      rows[i] = params.up_row + min(f0 + i - FOUT, last);
    } else {
      rows[i] = min(f0 + i, last);
    }
  }

  for (var r = 0u; r < step.rows; r++) {
    var vals: array<f32, MAX_NV>;
    for (var v = 0u; v < NV; v++) {
      vals[v] = 0.0;
    }
    for (var b0 = 0u; b0 < UPT; b0 += BATCH) {
      var wv: array<vec4<u32>, MAX_LOADS>;
      for (var u = 0u; u < BATCH; u++) {
        let q = j + (b0 + u) * TPF;
        if (b0 + u < UPT && q < UNITS) {
          for (var i = 0u; i < FPG; i++) {
            wv[u * FPG + i] = load_w(rows[i], q);
          }
        }
      }
      for (var u = 0u; u < BATCH; u++) {
        let q = j + (b0 + u) * TPF;
        if (b0 + u < UPT && q < UNITS) {
          var xu = load_x(r * K, q);
          if (NORM) {
            vals[FPG] += dot(xu.a, xu.a) + dot(xu.b, xu.b);
            let gu = load_g(q);
            xu = Xu(xu.a * gu.a, xu.b * gu.b);
          }
          for (var i = 0u; i < FPG; i++) {
            vals[i] += dot_unit(wv[u * FPG + i], xu);
          }
        }
      }
    }

    let t = group_totals(vals, g, j, sg_width, lanes);

    // Invocation 0 of each group writes its FOUT outputs.
    if (j == 0u) {
      var scale = 1.0;
      if (NORM) {
        scale = inverseSqrt(t[FPG] / f32(K) + params.eps);
      }
      for (var i = 0u; i < FOUT; i++) {
        let n = f0 + i;
        if (n < params.n) {
          var y = t[i] * scale;
          if ((params.flags & FLAG_BIAS) != 0u) {
            y += bias[params.bias_base + rows[i]];
          }
          if (GLU) {
            var up = t[i + FOUT] * scale;
            if ((params.flags & FLAG_BIAS) != 0u) {
              up += bias[params.bias_base + rows[i + FOUT]];
            }
            // exp(-y) overflows to +inf for y < -88: y / inf = -0, the right limit.
            y = y / (1.0 + exp(-y)) * up;
          }
          let at = r * params.out_stride + params.col_base + n;
          if ((params.flags & FLAG_ACCUMULATE) != 0u) {
            y += out[at];
          }
          out[at] = y;
        }
      }
    }
    workgroupBarrier();
  }
}
