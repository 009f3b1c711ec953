// RMSNorm: out[r, i] = x[r, i] / sqrt(mean_i(x[r, :]^2) + eps) * w[i]
// CPU reference: src/ref/rmsnorm.ts
// Grid: (step.rows, 1, 1), one workgroup of WG threads per row.
// Thread lid owns elements lid + k WG, k < ITEMS = ceil(dim / WG). When ITEMS <= MAX_ITEMS the loops run to
// that pipeline constant, so they unroll: every x and w load of the thread is issued before the first is used
// (a decode step normalises one row, and a loop bounded by params.dim made its 8 loads 8 round trips), and
// the values stay in registers for the output. Wider rows take the looped path.
// Bindings: 0 out (rows, dim) f32 · 1 x (rows, dim) f32 · 2 w (dim) packed DTYPE · 3 params · 4 step

override WG: u32 = 256u;
override DTYPE: u32 = 0u;
override ITEMS: u32 = 8u; // ceil(dim / WG)

const MAX_ITEMS: u32 = 32u;

struct Params {
  dim: u32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;

var<workgroup> partial: array<f32, WG>;

fn weight(i: u32) -> f32 {
  if (DTYPE == DTYPE_F32) {
    return bitcast<f32>(w[i]);
  }
  return widen(w[i >> 1u], i & 1u, DTYPE);
}

// The row's sum of squares, from every thread's partial (tree over workgroup memory).
fn row_sum(lid: u32, acc: f32) -> f32 {
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
    workgroupBarrier();
  }
  return partial[0];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  if (row >= step.rows) {
    return;
  }
  let base = row * params.dim;
  if (ITEMS <= MAX_ITEMS) {
    var xs: array<f32, MAX_ITEMS>;
    var ws: array<f32, MAX_ITEMS>;
    for (var k = 0u; k < ITEMS; k++) {
      let i = lid + k * WG;
      // Every slot written (0 past the row's end): nothing relies on the arrays' implicit zeroing.
      if (i < params.dim) {
        xs[k] = x[base + i];
        ws[k] = weight(i);
      } else {
        xs[k] = 0.0;
        ws[k] = 0.0;
      }
    }
    var acc = 0.0;
    for (var k = 0u; k < ITEMS; k++) {
      acc += xs[k] * xs[k];
    }
    let scale = inverseSqrt(row_sum(lid, acc) / f32(params.dim) + params.eps);
    for (var k = 0u; k < ITEMS; k++) {
      let i = lid + k * WG;
      if (i < params.dim) {
        out[base + i] = xs[k] * scale * ws[k];
      }
    }
    return;
  }
  var acc = 0.0;
  for (var i = lid; i < params.dim; i += WG) {
    let v = x[base + i];
    acc += v * v;
  }
  let scale = inverseSqrt(row_sum(lid, acc) / f32(params.dim) + params.eps);
  for (var i = lid; i < params.dim; i += WG) {
    out[base + i] = x[base + i] * scale * weight(i);
  }
}
