/** Timing helpers shared by the benchmarks: medians and GPU timestamp-query readback. */
import type { Gpu } from '../src/gpu/device';
import { MAP_READ_MODE, Usage } from '../src/gpu/usage';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Durations (ns) of `n` passes timed into query pairs (2i, 2i + 1) of `qs`; destroys `qs`. */
export async function passDurationsNs(gpu: Gpu, qs: GPUQuerySet, n: number): Promise<number[]> {
  const resolve = gpu.device.createBuffer({ size: 16 * n, usage: Usage.QUERY_RESOLVE | Usage.COPY_SRC });
  const read = gpu.device.createBuffer({ size: 16 * n, usage: Usage.MAP_READ | Usage.COPY_DST });
  const enc = gpu.device.createCommandEncoder();
  enc.resolveQuerySet(qs, 0, 2 * n, resolve, 0);
  enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * n);
  gpu.device.queue.submit([enc.finish()]);
  await read.mapAsync(MAP_READ_MODE);
  const t = new BigInt64Array(read.getMappedRange().slice(0));
  read.destroy();
  resolve.destroy();
  qs.destroy();
  return Array.from({ length: n }, (_, i) => Number(t[2 * i + 1] - t[2 * i]));
}
