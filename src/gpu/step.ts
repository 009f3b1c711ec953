/** The per-batch `Step` uniform every kernel can read (see wgsl/common.wgsl). */
import type { Gpu } from './device';
import { Usage } from './usage';

export interface StepParams {
  rows: number;
  pos: number;
  kvLen: number;
  flags?: number;
}

export const STEP_BYTES = 16;

export function stepWords(p: StepParams): Uint32Array<ArrayBuffer> {
  return Uint32Array.of(p.rows, p.pos, p.kvLen, p.flags ?? 0);
}

export function createStep(gpu: Gpu, p: StepParams, label = 'step'): GPUBuffer {
  const buf = gpu.device.createBuffer({
    label,
    size: STEP_BYTES,
    usage: Usage.UNIFORM | Usage.COPY_DST,
  });
  writeStep(gpu, buf, p);
  return buf;
}

export function writeStep(gpu: Gpu, buf: GPUBuffer, p: StepParams): void {
  gpu.device.queue.writeBuffer(buf, 0, stepWords(p));
}
