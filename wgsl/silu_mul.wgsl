// SwiGLU gate: out[r, c] = silu(a[r, c]) * b[r, c] for r < step.rows, c < features,
//   silu(v) = v / (1 + exp(-v)). a and b may be two halves of one buffer (a fused gate/up projection):
//   a[r, c] is in[r * in_stride + c] of binding 1, b[r, c] is in[r * in_stride + b_offset + c] of binding 2.
// CPU reference: src/ref/silu-mul.ts (siluMulRef).
// Grid: (ceil(features / WG), rows, 1).
// Bindings: 0 out (rows, features) f32 · 1 a f32 · 2 b f32 (may be the same buffer as a) · 3 params · 4 step.

override WG: u32 = 256u;

struct Params {
  features: u32,
  in_stride: u32,
  b_offset: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.y;
  let c = wid.x * WG + lid;
  if (r >= step.rows || c >= params.features) {
    return;
  }
  let v = a[r * params.in_stride + c];
  // exp(-v) overflows to +inf for v < -88: v / inf = -0, the right limit.
  out[r * params.features + c] = v / (1.0 + exp(-v)) * b[r * params.in_stride + params.b_offset + c];
}
