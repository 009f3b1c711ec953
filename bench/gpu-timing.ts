/** Timing helpers shared by the benchmarks: medians and GPU timestamp-query readback. */
import type { Gpu } from '../src/gpu/device';
import { MAP_READ_MODE, Usage } from '../src/gpu/usage';
import { DECODE_AHEAD } from '../src/model/forward';
import { createCopy } from '../src/gpu/ops/copy';

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

/** The part of the Transformer the decode timings drive. */
export interface DecodingModel {
  decode(token: number, timestampWrites?: GPUComputePassTimestampWrites): Promise<void>;
  decodeChained(slot: number): Promise<void>;
  readArgmax(slot?: number): Promise<number>;
  rewind(n: number): void;
}

/** Milliseconds of decoding before anything is timed: the H200 idles at 345 MHz and needs sustained load. */
export const WARM_UP_MS = 400;

/**
 * Chained greedy decoding for at least `ms` (and two steps), each token rewound, so the context keeps its
 * length (and stays within any reservation); the last submission is read back before it returns.
 */
export async function warmUp(model: DecodingModel, ms = WARM_UP_MS): Promise<void> {
  const t0 = performance.now();
  let slot = 0;
  for (let i = 0; i < 2 || performance.now() - t0 < ms; i++) {
    await model.decodeChained(slot ^ 1);
    model.rewind(1);
    await model.readArgmax(slot);
    slot ^= 1;
  }
  await model.readArgmax(slot);
}

/**
 * `n` decode steps one at a time from `token` (each fed the previous argmax, read back before the next):
 * host time to encode and submit each, time of each step with its readback, and GPU time of each pass
 * (timestamps; empty without them). Returns the last token too.
 */
export async function timedSteps(gpu: Gpu, model: DecodingModel, n: number, token: number) {
  const qs = gpu.hasTimestamps ? gpu.device.createQuerySet({ type: 'timestamp', count: 2 * n }) : undefined;
  const encodeMs: number[] = [];
  const stepMs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await model.decode(token, qs && { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 });
    encodeMs.push(performance.now() - t);
    token = await model.readArgmax();
    stepMs.push(performance.now() - t);
  }
  const gpuPassMs = qs ? (await passDurationsNs(gpu, qs, n)).map((ns) => ns / 1e6) : [];
  return { encodeMs, stepMs, gpuPassMs, token };
}

/**
 * Keeps the GPU busy for `ms` with passes of whatever `record` encodes (each pass waited on), so the clocks are up
 * before a timed section: an idle GPU drops them, e.g. while the host compiles the next variant's pipeline.
 */
export async function keepBusy(gpu: Gpu, record: (pass: GPUComputePassEncoder) => void, ms = WARM_UP_MS): Promise<void> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    record(pass);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
  }
}

/**
 * The card's copy bandwidth, measured: the copy kernel (src/gpu/ops/copy.ts: vec4 loads and stores through the
 * shader cores, as the engine's kernels move memory) over two buffers as large as the device allows (<= 1 GiB),
 * `rounds` copies back and forth in one compute pass, timed by its timestamps (host-timed without them), best
 * of 3 after a warm-up (clocks up). Counts bytes read + written, the convention of the bandwidth goal ("about
 * 4.3 TB/s" on an H200). copyBufferToBuffer is not used: under Dawn on an H100 it ran at 0.85 TB/s, far below
 * what kernels read at (bench/NOTES.md).
 */
export async function copyBandwidth(gpu: Gpu, rounds = 16): Promise<{ bytesPerS: number; bufferBytes: number; timer: 'timestamps' | 'host' }> {
  const size = Math.min(2 ** 30, Math.floor(Math.min(gpu.device.limits.maxBufferSize, gpu.maxBindingBytes) / 16) * 16);
  const a = gpu.device.createBuffer({ size, usage: Usage.STORAGE });
  const b = gpu.device.createBuffer({ size, usage: Usage.STORAGE });
  const copy = await createCopy(gpu);
  const ops = [copy.bind(b, a, size), copy.bind(a, b, size)];
  const run = async (n: number): Promise<number> => {
    const qs = gpu.hasTimestamps ? gpu.device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass(qs && { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    for (let i = 0; i < n; i++) ops[i % 2].encode(pass);
    pass.end();
    const t = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    const hostMs = performance.now() - t;
    return qs ? (await passDurationsNs(gpu, qs, 1))[0] / 1e6 : hostMs;
  };
  await keepBusy(gpu, (pass) => ops.forEach((op) => op.encode(pass)));
  const times: number[] = [];
  for (let i = 0; i < 3; i++) times.push(await run(rounds));
  a.destroy();
  b.destroy();
  return { bytesPerS: (2 * size * rounds) / (Math.min(...times) / 1000), bufferBytes: size, timer: gpu.hasTimestamps ? 'timestamps' : 'host' };
}

/**
 * Chained greedy decoding as the engine runs it (src/engine/engine.ts): `n` steps, each fed the previous step's
 * id on the GPU, up to `ahead` steps submitted beyond the last id read — so `ahead` 1 waits on the step just
 * submitted (nothing queued: the engine's loop before 2026-12-06) and 2 keeps one step queued behind it.
 * Returns host ms per token, the last submission read back. The context grows by n.
 */
export async function chainedMsPerToken(model: DecodingModel, n: number, ahead = DECODE_AHEAD): Promise<number> {
  const slots = DECODE_AHEAD + 1;
  if (!(ahead >= 1 && ahead <= DECODE_AHEAD)) throw new RangeError(`ahead must be in 1..${DECODE_AHEAD}, got ${ahead}`);
  const t = performance.now();
  let submitted = 0;
  for (let i = 0; i < n; i++) {
    for (; submitted < Math.min(i + ahead, n); submitted++) await model.decodeChained((submitted + 1) % slots);
    await model.readArgmax((i + 1) % slots);
  }
  return (performance.now() - t) / n;
}

/** The adapter in a result file's name: its device (e.g. nvidia-h100-80gb-hbm3), else architecture or vendor. */
export function adapterTag(gpu: Gpu): string {
  const a = gpu.adapter as { device?: string; architecture?: string; vendor?: string };
  return (a.device || a.architecture || a.vendor || 'gpu').replace(/[^\w.-]/g, '_');
}
