/**
 * Pipelines and buffers: one compiled pipeline per (kernel, override constants) per device, built once;
 * small helpers for storage/uniform buffers and readback.
 */
import type { Gpu } from './device';
import common from '../../wgsl/common.wgsl';
import { MAP_READ_MODE, Usage } from './usage';

export type Constants = Record<string, number>;

/** A kernel bound to its buffers: records its dispatch(es) for `rows` rows (kernels that bound rows by the
 * Step uniform's step.rows need it to match). */
export interface EncodedOp {
  encode(pass: GPUComputePassEncoder, rows: number): void;
}

const caches = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/**
 * Compiles (or returns the cached) compute pipeline for `source` (with wgsl/common.wgsl prepended)
 * specialised by its `override` constants.
 */
export function getPipeline(gpu: Gpu, label: string, source: string, constants: Constants = {}): Promise<GPUComputePipeline> {
  let cache = caches.get(gpu.device);
  if (!cache) caches.set(gpu.device, (cache = new Map()));
  const key = `${label}|${JSON.stringify(Object.entries(constants).sort())}`;
  let p = cache.get(key);
  if (!p) {
    p = compile(gpu, label, source, constants);
    cache.set(key, p);
  }
  return p;
}

// Synchronous creation inside an error scope, so a failure names the kernel and its WGSL messages.
// Pipelines are built once at load, in the Worker or in Node, so blocking there costs nothing visible.
async function compile(gpu: Gpu, label: string, source: string, constants: Constants): Promise<GPUComputePipeline> {
  const { device } = gpu;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label, code: withCommon(source) });
  const pipeline = device.createComputePipeline({ label, layout: 'auto', compute: { module, entryPoint: 'main', constants } });
  const err = await device.popErrorScope();
  if (err) {
    const info = await module.getCompilationInfo();
    const detail = info.messages.map((m) => `${m.type} at line ${m.lineNum}: ${m.message}`).join('\n');
    throw new Error(`kernel '${label}' failed to build: ${err.message}${detail ? `\n${detail}` : ''}`);
  }
  return pipeline;
}

/** Prepends wgsl/common.wgsl, keeping `enable` directives first as WGSL requires. */
export function withCommon(source: string): string {
  const enables = source.match(/^\s*enable\s+[^;]+;/gm) ?? [];
  const body = source.replace(/^\s*enable\s+[^;]+;/gm, '');
  return `${enables.map((e) => e.trim()).join('\n')}\n${common}\n${body}`;
}

export function bindGroup(gpu: Gpu, pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[], label?: string): GPUBindGroup {
  return gpu.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}

export function dispatch(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, group: GPUBindGroup, x: number, y = 1, z = 1): void {
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(x, y, z);
}

const STORAGE = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST;

export function createStorage(gpu: Gpu, bytes: number, label?: string): GPUBuffer {
  if (bytes > gpu.maxBindingBytes) {
    throw new RangeError(`buffer '${label ?? '?'}' needs ${bytes} bytes, over this device's binding limit of ${gpu.maxBindingBytes}`);
  }
  return gpu.device.createBuffer({ label, size: Math.max(16, align(bytes, 4)), usage: STORAGE });
}

export function uploadStorage(gpu: Gpu, data: ArrayBufferView, label?: string): GPUBuffer {
  const buf = createStorage(gpu, data.byteLength, label);
  gpu.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  return buf;
}

/** A uniform buffer holding u32/f32 words (both written as raw 32-bit words). */
export function createUniform(gpu: Gpu, words: ArrayLike<number> | Uint32Array, label?: string): GPUBuffer {
  const size = align(Math.max(16, words.length * 4), 16);
  const buf = gpu.device.createBuffer({ label, size, usage: Usage.UNIFORM | Usage.COPY_DST });
  const data = words instanceof Uint32Array ? words : Uint32Array.from(words);
  gpu.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  return buf;
}

export function f32Bits(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0];
}

export async function readBuffer(gpu: Gpu, src: GPUBuffer, bytes = src.size, offset = 0): Promise<ArrayBuffer> {
  const staging = gpu.device.createBuffer({ size: align(bytes, 4), usage: Usage.MAP_READ | Usage.COPY_DST });
  const enc = gpu.device.createCommandEncoder();
  enc.copyBufferToBuffer(src, offset, staging, 0, align(bytes, 4));
  gpu.device.queue.submit([enc.finish()]);
  await staging.mapAsync(MAP_READ_MODE);
  const out = staging.getMappedRange().slice(0, bytes);
  staging.destroy();
  return out;
}

export async function readF32(gpu: Gpu, src: GPUBuffer, count: number, offsetElems = 0): Promise<Float32Array> {
  return new Float32Array(await readBuffer(gpu, src, count * 4, offsetElems * 4));
}

export async function readU32(gpu: Gpu, src: GPUBuffer, count: number, offsetElems = 0): Promise<Uint32Array> {
  return new Uint32Array(await readBuffer(gpu, src, count * 4, offsetElems * 4));
}

export function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}
