/**
 * The workgroup max helper shared by the split-K decode attention kernels (wgsl/attention_decode.wgsl,
 * wgsl/rdkv_attention_decode.wgsl): a subgroup version (wgsl/decode_reduce_subgroup.wgsl, `enable
 * subgroups;`) where the device has the feature, else a shared-memory tree (wgsl/decode_reduce_tree.wgsl).
 * WGSL cannot compile subgroup builtins without the extension, so the choice is made by source text.
 */
import subgroupSource from '../../../wgsl/decode_reduce_subgroup.wgsl';
import treeSource from '../../../wgsl/decode_reduce_tree.wgsl';
import type { Gpu } from '../device';

/** Whether to use the subgroup path: the caller's choice, else the device's feature. */
export function useSubgroups(gpu: Gpu, requested: boolean | undefined): boolean {
  if (requested && !gpu.hasSubgroups) throw new RangeError('decode attention: subgroups requested, but the device has no subgroups feature');
  return requested ?? gpu.hasSubgroups;
}

/** The kernel source with the chosen wg_max helper in front (its `enable` is hoisted by withCommon). */
export function withReduce(source: string, subgroups: boolean): string {
  return `${subgroups ? subgroupSource : treeSource}\n${source}`;
}
