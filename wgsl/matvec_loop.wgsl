// Matrix-vector product for decode, the looped variant (the v3 kernel of bench/NOTES.md, its former separate copy
// now retired, plus the SwiGLU epilogue): what src/gpu/ops/linear.ts picks for many output rows (gate|up, LM head), where it measured
// fastest on an H200 (gate|up 16384x2048 21.2 µs vs 24.4-28.0, LM head 123 vs 157 for wgsl/matvec.wgsl).
//   plain: out[r, col_base + n] (= or +=) sum_k x[r, k] * W[n, k] (+ bias[bias_base + n])
//   GLU:   W holds [gate; up] (up from row params.up_row of the part) and
//          out[r, col_base + n] = silu(x . W[n]) * (x . W[up_row + n]),  silu(v) = v / (1 + exp(-v)).
//   for r < step.rows, n < params.n. Rows are looped (re-reading W). No norm fold (see wgsl/matvec.wgsl).
// CPU reference: src/ref/linear.ts (linearRef, gluLinearRef).
// Grid: ceil(n / FEATURES) workgroups, folded into (x, y) when over the per-dimension limit; workgroup WG.
//   FEATURES = (WG / TPF) * FOUT outputs per workgroup (FOUT = 4, or 2 with GLU).
// Bindings: 0 out (rows, out_stride) f32 · 1 x as vec4 · 2 x (rows, k) f32 · 3 w as vec4<u32> ·
//   4 w (rows of the part, row_words) packed DTYPE · 5 bias f32 (read when FLAG_BIAS) · 6 params · 7 step.
//   x and w are each bound twice (the same buffer): VEC4 reads the vec4 views, else the scalar ones.
//
// A group of TPF invocations computes 4 weight rows; invocation j reads 16-byte words j, j + TPF, ... of each
// (coalesced, 4 loads in flight per iteration) and the matching x values; the trip count is a uniform, so the
// loop stays a loop (few registers, high occupancy: what the many-workgroup shapes need). Partial sums are
// reduced by a workgroup-memory tree over the group (fixed order: deterministic).

override WG: u32 = 256u;
override TPF: u32 = 128u; // invocations per group: a power of two dividing WG
override DTYPE: u32 = 0u;
override VEC4: bool = true; // needs row_words % 4 == 0 (then k % 4 == 0 too)
override GLU: bool = false;

const FPG: u32 = 4u; // weight rows per group
override FOUT: u32 = 4u; // outputs per group: 4, or 2 with GLU
override FEATURES: u32 = WG / TPF * FOUT;
override PARTIAL_LEN: u32 = FPG * WG;

struct Params {
  k: u32,
  n: u32, // outputs of this part (GLU: gate rows)
  out_stride: u32,
  col_base: u32,
  row_words: u32,
  bias_base: u32,
  flags: u32, // FLAG_BIAS | FLAG_ACCUMULATE
  up_row: u32, // GLU: the part's first up row
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

var<workgroup> partial: array<f32, PARTIAL_LEN>; // [row in group][invocation]

fn dot_f32(w: vec4<u32>, xa: vec4<f32>) -> f32 {
  return dot(bitcast<vec4<f32>>(w), xa);
}

fn dot_16(w: vec4<u32>, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
  let lo = vec4<f32>(widen2(w.x, DTYPE), widen2(w.y, DTYPE));
  let hi = vec4<f32>(widen2(w.z, DTYPE), widen2(w.w, DTYPE));
  return dot(lo, xa) + dot(hi, xb);
}

// One u32 word of a row times its x value(s), for shapes the vec4 views cannot address.
fn dot_word(word: u32, x_at: u32) -> f32 {
  if (DTYPE == DTYPE_F32) {
    return bitcast<f32>(word) * x1[x_at];
  }
  return dot(widen2(word, DTYPE), vec2<f32>(x1[x_at], x1[x_at + 1u]));
}

// Partial sums of x[r] . W[n0..n3] over the words this invocation (j of TPF) reads.
fn partial_dots(r: u32, j: u32, n0: u32, n1: u32, n2: u32, n3: u32) -> vec4<f32> {
  var s = vec4<f32>(0.0);
  let k = params.k;
  if (VEC4) {
    let units = params.row_words / 4u; // 16-byte words per row
    if (DTYPE == DTYPE_F32) {
      for (var q = j; q < units; q += TPF) {
        let xa = x4[r * units + q];
        s += vec4<f32>(dot_f32(w4[n0 * units + q], xa), dot_f32(w4[n1 * units + q], xa),
                       dot_f32(w4[n2 * units + q], xa), dot_f32(w4[n3 * units + q], xa));
      }
    } else {
      for (var q = j; q < units; q += TPF) {
        let xa = x4[r * (k / 4u) + 2u * q];
        let xb = x4[r * (k / 4u) + 2u * q + 1u];
        s += vec4<f32>(dot_16(w4[n0 * units + q], xa, xb), dot_16(w4[n1 * units + q], xa, xb),
                       dot_16(w4[n2 * units + q], xa, xb), dot_16(w4[n3 * units + q], xa, xb));
      }
    }
  } else {
    let rw = params.row_words;
    let per = select(2u, 1u, DTYPE == DTYPE_F32); // k values per word
    for (var q = j; q < rw; q += TPF) {
      let x_at = r * k + per * q;
      s += vec4<f32>(dot_word(w1[n0 * rw + q], x_at), dot_word(w1[n1 * rw + q], x_at),
                     dot_word(w1[n2 * rw + q], x_at), dot_word(w1[n3 * rw + q], x_at));
    }
  }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let block = wid.y * nwg.x + wid.x;
  if (block * FEATURES >= params.n) {
    return;
  }
  let g = lid / TPF;
  let j = lid % TPF;
  let f0 = block * FEATURES + g * FOUT;
  // Outputs past n re-read the last row (valid memory, no branch in the loop) and are not written.
  let last = params.n - 1u;
  var n0 = min(f0, last);
  var n1 = min(f0 + 1u, last);
  var n2 = min(f0 + 2u, last);
  var n3 = min(f0 + 3u, last);
  if (GLU) {
    // Rows 0, 1: gate f0, f0 + 1; rows 2, 3: the matching up rows.
    n2 = params.up_row + n0;
    n3 = params.up_row + n1;
  }
  for (var r = 0u; r < step.rows; r++) {
    let s = partial_dots(r, j, n0, n1, n2, n3);
    partial[lid] = s.x;
    partial[WG + lid] = s.y;
    partial[2u * WG + lid] = s.z;
    partial[3u * WG + lid] = s.w;
    workgroupBarrier();
    for (var half = TPF / 2u; half > 0u; half >>= 1u) {
      if (j < half) {
        partial[lid] += partial[lid + half];
        partial[WG + lid] += partial[WG + lid + half];
        partial[2u * WG + lid] += partial[2u * WG + lid + half];
        partial[3u * WG + lid] += partial[3u * WG + lid + half];
      }
      workgroupBarrier();
    }
    // Invocation j < FOUT of each group writes output f0 + j.
    if (j < FOUT && f0 + j < params.n) {
      let n = f0 + j;
      let at = r * params.out_stride + params.col_base + n;
      var y = partial[j * WG + g * TPF];
      if ((params.flags & FLAG_BIAS) != 0u) {
        y += bias[params.bias_base + n];
      }
      if (GLU) {
        var up = partial[(j + 2u) * WG + g * TPF];
        if ((params.flags & FLAG_BIAS) != 0u) {
          up += bias[params.bias_base + params.up_row + n];
        }
        // exp(-y) overflows to +inf for y < -88: y / inf = -0, the right limit.
        y = y / (1.0 + exp(-y)) * up;
      }
      if ((params.flags & FLAG_ACCUMULATE) != 0u) {
        y += out[at];
      }
      out[at] = y;
    }
    workgroupBarrier();
  }
}
