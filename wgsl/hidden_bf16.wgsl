// The residual stream between layers of a compressed (layer-streamed) prefill, kept at 16 bits: the prompt's
// hidden states are the largest buffer such a prefill holds (T x D f32: 1 GiB for a 2048-wide model at 128K),
// and a 16-bit model's own precision for them is bf16 (what transformers keeps for a bf16 checkpoint).
//   PACK:   packed[w] = bf16(x[2w]) | bf16(x[2w + 1]) << 16 for w < ceil(n / 2), round to nearest even, NaN
//           kept as a quiet NaN; a missing last element (odd n) packs as 0.
//   UNPACK: x[i] = f32(bf16 element i of packed) for i < n.
//   n = step.rows * params.features (the chunk's rows).
// CPU reference: src/ref/pack.ts (f32ToBf16Bits, bf16BitsToF32).
// Grid: (min(ceil(words / WG), MAX_WORKGROUPS of the wrapper), 1, 1), grid-stride over the words.
// Bindings: 0 x (rows, features) f32 · 1 packed u32 (ceil(rows * features / 2) words) · 2 params · 3 step.
//   PACK reads x and writes packed, UNPACK the other way round.

override WG: u32 = 256u;
override UNPACK: bool = false;

struct Params {
  features: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> packed: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<uniform> step: Step;

fn to_bf16(v: f32) -> u32 {
  let bits = bitcast<u32>(v);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x7fffffu) != 0u) {
    return 0x7fc0u;
  }
  return ((bits + 0x7fffu + ((bits >> 16u) & 1u)) >> 16u) & 0xffffu;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = step.rows * params.features;
  let words = (n + 1u) / 2u;
  for (var w = wid.x * WG + lid; w < words; w += nwg.x * WG) {
    let i = 2u * w;
    if (UNPACK) {
      let pair = widen2(packed[w], DTYPE_BF16);
      x[i] = pair.x;
      if (i + 1u < n) {
        x[i + 1u] = pair.y;
      }
    } else {
      let hi = select(0u, to_bf16(x[min(i + 1u, n - 1u)]), i + 1u < n);
      packed[w] = to_bf16(x[i]) | (hi << 16u);
    }
  }
}
