// Include (no entry point), prepended by src/gpu/ops/linear.ts to wgsl/matvec.wgsl where subgroups are not
// used: the interface of wgsl/matvec_lanes_subgroup.wgsl with HAS_SUBGROUPS false (the subgroup accessors
// are placeholders that the kernel never takes a decision on).

struct Lanes {
  @builtin(local_invocation_index) lid: u32,
}

const HAS_SUBGROUPS: bool = false;

fn local_index(l: Lanes) -> u32 {
  return l.lid;
}

fn subgroup_of(_l: Lanes) -> u32 {
  return 0u;
}

fn lane_of(_l: Lanes) -> u32 {
  return 0u;
}

fn subgroup_width(_l: Lanes) -> u32 {
  return 1u;
}

fn subgroup_count(_l: Lanes) -> u32 {
  return 0u;
}

fn lanes_sum(x: f32) -> f32 {
  return x;
}
