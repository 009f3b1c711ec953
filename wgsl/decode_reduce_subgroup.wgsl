enable subgroups;
// Include (no entry point), prepended by src/gpu/ops/decode-reduce.ts to wgsl/attention_decode.wgsl and
// wgsl/rdkv_attention_decode.wgsl on devices with subgroups: the workgroup-wide max of G values per thread.
// subgroupMax per subgroup, then one elected lane per subgroup appends its G maxima to `red` (slot from a
// workgroup atomic, so nothing assumes how invocations map to subgroups), then every thread takes the max
// of the few slots. Three barriers instead of the tree's log2(WG) + 2. Uses the kernel's G, MAX_G and `red`
// (workgroup f32, at least G * WG). Call from uniform control flow; every thread gets the result.

var<workgroup> red_n: atomic<u32>;

fn wg_max(lid: u32, x: array<f32, MAX_G>) -> array<f32, MAX_G> {
  if (lid == 0u) {
    atomicStore(&red_n, 0u);
  }
  workgroupBarrier();
  var m: array<f32, MAX_G>;
  for (var h = 0u; h < G; h++) {
    m[h] = subgroupMax(x[h]);
  }
  if (subgroupElect()) {
    let k = atomicAdd(&red_n, 1u);
    for (var h = 0u; h < G; h++) {
      red[k * G + h] = m[h];
    }
  }
  workgroupBarrier();
  let n = atomicLoad(&red_n);
  var out: array<f32, MAX_G>;
  for (var h = 0u; h < G; h++) {
    out[h] = -3.0e38;
  }
  for (var k = 0u; k < n; k++) {
    for (var h = 0u; h < G; h++) {
      out[h] = max(out[h], red[k * G + h]);
    }
  }
  workgroupBarrier();
  return out;
}
