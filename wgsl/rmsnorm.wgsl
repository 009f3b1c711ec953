// RMSNorm: out[r, i] = x[r, i] / sqrt(mean_i(x[r, :]^2) + eps) * w[i]
// CPU reference: src/ref/rmsnorm.ts
// Grid: (step.rows, 1, 1), one workgroup of WG threads per row.
// Bindings: 0 out (rows, dim) f32 · 1 x (rows, dim) f32 · 2 w (dim) packed DTYPE · 3 params · 4 step

override WG: u32 = 256u;
override DTYPE: u32 = 0u;

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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  if (row >= step.rows) {
    return;
  }
  let base = row * params.dim;
  var acc = 0.0;
  for (var i = lid; i < params.dim; i += WG) {
    let v = x[base + i];
    acc += v * v;
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(params.dim) + params.eps);
  for (var i = lid; i < params.dim; i += WG) {
    out[base + i] = x[base + i] * scale * weight(i);
  }
}
