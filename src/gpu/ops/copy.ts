/**
 * Buffer copy through the shader cores (wgsl/copy.wgsl), in 16-byte units: what the benchmarks time to
 * measure a card's copy bandwidth. CPU reference: the identity (test/copy.test.ts).
 */
import source from '../../../wgsl/copy.wgsl';
import type { Gpu } from '../device';
import { bindGroup, ceilDiv, createUniform, dispatch, getPipeline } from '../kernel';

const WG = 256;
/** Workgroups per copy at most: enough to fill a large GPU several times over; the kernel loops beyond. */
const MAX_WORKGROUPS = 8192;

export interface CopyOp {
  /** Records the copy of the bound buffers' first `units` 16-byte units. */
  encode(pass: GPUComputePassEncoder): void;
  readonly bytes: number;
}

export async function createCopy(gpu: Gpu) {
  const pipeline = await getPipeline(gpu, 'copy', source, { WG });
  return {
    /** dst and src: at least `bytes` each; bytes a positive multiple of 16. `workgroups` overrides the grid. */
    bind(dst: GPUBuffer, src: GPUBuffer, bytes: number, workgroups?: number): CopyOp {
      if (!(Number.isInteger(bytes) && bytes > 0 && bytes % 16 === 0)) throw new RangeError(`copy: ${bytes} bytes is not a positive multiple of 16`);
      if (bytes > dst.size || bytes > src.size) throw new RangeError(`copy: ${bytes} bytes exceed the buffers (${dst.size} and ${src.size} bytes)`);
      if (bytes / 16 > 0xffffffff) throw new RangeError(`copy: ${bytes} bytes is over 2^32 units`);
      const units = bytes / 16;
      const params = createUniform(gpu, [units], 'copy.params');
      const group = bindGroup(gpu, pipeline, [dst, src, params], 'copy');
      const grid = workgroups ?? Math.min(MAX_WORKGROUPS, ceilDiv(units, WG), gpu.limits.maxComputeWorkgroupsPerDimension);
      if (!(Number.isInteger(grid) && grid >= 1 && grid <= gpu.limits.maxComputeWorkgroupsPerDimension)) throw new RangeError(`copy: ${grid} workgroups is not in 1..${gpu.limits.maxComputeWorkgroupsPerDimension}`);
      return {
        bytes,
        encode(pass) {
          dispatch(pass, pipeline, group, grid);
        },
      };
    },
  };
}
