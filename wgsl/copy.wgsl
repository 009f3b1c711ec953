// Buffer copy through the shader cores: dst[i] = src[i] for i < params.units (16-byte units), grid-stride:
// invocation g of the grid copies units g, g + stride, ... (stride = the grid's invocation count), UNROLL
// loads issued before their stores. The benchmarks' measure of a card's copy bandwidth (bytes read + written
// per second), the ceiling the decode bandwidth goal refers to: a kernel reads and writes memory the way this
// one does, where copyBufferToBuffer may take another path (on an H100 under Dawn it ran at 0.85 TB/s).
// CPU reference: the identity (test/copy.test.ts compares dst with src).
// Grid: (n_workgroups, 1, 1), chosen by the wrapper (src/gpu/ops/copy.ts); workgroup WG.
// Bindings: 0 dst vec4<u32> · 1 src vec4<u32> · 2 params.

override WG: u32 = 256u;
const UNROLL: u32 = 4u;

struct Params {
  units: u32,
}

@group(0) @binding(0) var<storage, read_write> dst: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let stride = nwg.x * WG;
  let n = params.units;
  var i = wid.x * WG + lid;
  // Whole rounds of UNROLL units: all loads first, then the stores.
  for (; i + (UNROLL - 1u) * stride < n; i += UNROLL * stride) {
    var v: array<vec4<u32>, UNROLL> = array<vec4<u32>, UNROLL>(vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u));
    for (var u = 0u; u < UNROLL; u++) {
      v[u] = src[i + u * stride];
    }
    for (var u = 0u; u < UNROLL; u++) {
      dst[i + u * stride] = v[u];
    }
  }
  for (; i < n; i += stride) {
    dst[i] = src[i];
  }
}
