/** Workgroup grids larger than one dimension allows. */
import type { Gpu } from '../device';

/**
 * Folds `groups` workgroups into (x, y) within the per-dimension limit. Kernels take the linear index
 * `wid.y * num_workgroups.x + wid.x` and skip indices >= groups (the fold may overshoot a little).
 */
export function foldGrid(gpu: Gpu, groups: number): [number, number] {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

/** Throws when a grid dimension is over the device's limit (`what` names the op). */
export function checkGridDim(gpu: Gpu, what: string, n: number): void {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (n > max) throw new RangeError(`${what}: ${n} workgroups in one dimension, over this device's limit of ${max}`);
}
