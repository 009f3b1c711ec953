/**
 * The GPU for tests: WebGPU in Node (Dawn over SwiftShader here). GPU tests fail, never skip, when no
 * adapter is found.
 */
import { acquireGpu, type Gpu } from '../src/gpu/device';

let cached: Promise<Gpu> | undefined;

export function requireGpu(): Promise<Gpu> {
  cached ??= acquireGpu().catch((e: unknown) => {
    throw new Error(`no WebGPU adapter (install chromium for SwiftShader, and libvulkan1): ${String(e)}`);
  });
  return cached;
}

/** Writes NaN into every word of a buffer, so unwritten outputs fail comparisons. */
export function poison(gpu: Gpu, buf: GPUBuffer): void {
  gpu.device.queue.writeBuffer(buf, 0, new Float32Array(buf.size / 4).fill(NaN));
}

/** Encodes `fn` in one compute pass, submits, waits, and throws on any validation error. */
export async function runPass(gpu: Gpu, fn: (pass: GPUComputePassEncoder) => void): Promise<void> {
  gpu.device.pushErrorScope('validation');
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  fn(pass);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  const err = await gpu.device.popErrorScope();
  if (err) throw new Error(`WebGPU validation error: ${err.message}`);
}

/** max |a - b| / max |b| over all elements; a NaN or infinity anywhere gives Infinity. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) return Infinity;
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}
