// Include (no entry point), prepended by src/gpu/ops/decode-reduce.ts to wgsl/attention_decode.wgsl and
// wgsl/rdkv_attention_decode.wgsl when the device has no subgroups: the workgroup-wide max of G values per
// thread, by a shared-memory tree (log2(WG) barrier steps). Uses the kernel's WG (a power of two), G, MAX_G
// and `red` (workgroup f32, at least G * WG). Call from uniform control flow; every thread gets the result.

fn wg_max(lid: u32, x: array<f32, MAX_G>) -> array<f32, MAX_G> {
  for (var h = 0u; h < G; h++) {
    red[h * WG + lid] = x[h];
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var h = 0u; h < G; h++) {
        red[h * WG + lid] = max(red[h * WG + lid], red[h * WG + lid + s]);
      }
    }
    workgroupBarrier();
  }
  var out: array<f32, MAX_G>;
  for (var h = 0u; h < G; h++) {
    out[h] = red[h * WG];
  }
  workgroupBarrier();
  return out;
}
