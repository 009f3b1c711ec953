// Fills a weight buffer with seeded pseudo-random values, uniform in [-scale, scale), in the packed weight
// layout (f32: one per word; f16/bf16: two per word). Used to build large random models on the GPU for
// benchmarks without carrying weights around.
// CPU reference: src/ref/fill-random.ts (same hash, bit-exact codes)
// Grid: (ceil(words / 256), 1, 1) — 2-D folded when over the per-dimension limit (see the wrapper).
// Bindings: 0 out (words) u32 · 1 params

override DTYPE: u32 = 2u;

struct Params {
  words: u32,
  seed: u32,
  scale: f32,
  row_stride: u32, // workgroups per grid row (x dimension) when the grid is folded into 2-D
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;

// A 32-bit integer hash (xorshift-multiply), good enough to decorrelate weights.
fn hash(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

fn value(i: u32) -> f32 {
  let u = f32(hash(i ^ hash(params.seed)) >> 8u) / 16777216.0;
  return (2.0 * u - 1.0) * params.scale;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = (wid.y * params.row_stride + wid.x) * 256u + lid;
  if (w >= params.words) {
    return;
  }
  if (DTYPE == DTYPE_F32) {
    out[w] = bitcast<u32>(value(w));
  } else if (DTYPE == DTYPE_F16) {
    out[w] = pack2x16float(vec2<f32>(value(2u * w), value(2u * w + 1u)));
  } else {
    let lo = bitcast<u32>(value(2u * w)) >> 16u;
    let hi = bitcast<u32>(value(2u * w + 1u)) & 0xffff0000u;
    out[w] = lo | hi;
  }
}
