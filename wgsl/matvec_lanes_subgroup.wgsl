enable subgroups;
// Include (no entry point), prepended by src/gpu/ops/linear.ts to wgsl/matvec.wgsl on devices with subgroups
// and the subgroup_id builtin: the invocation's place in the workgroup and in its subgroup, and the subgroup
// sum. wgsl/matvec_lanes_plain.wgsl is the same interface without subgroups.

struct Lanes {
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_id) sid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
  @builtin(num_subgroups) count: u32,
}

const HAS_SUBGROUPS: bool = true;

fn local_index(l: Lanes) -> u32 {
  return l.lid;
}

fn subgroup_of(l: Lanes) -> u32 {
  return l.sid;
}

fn lane_of(l: Lanes) -> u32 {
  return l.lane;
}

fn subgroup_width(l: Lanes) -> u32 {
  return l.size;
}

fn subgroup_count(l: Lanes) -> u32 {
  return l.count;
}

fn lanes_sum(x: f32) -> f32 {
  return subgroupAdd(x);
}
