/**
 * Streams a planned checkpoint to the GPU tensor by tensor, reading at most `pieceBytes` (32 MiB) at a
 * time. Matrices keep their stored layout (f32 one value per u32 word; f16/bf16 two per word, element 2i
 * in the low half, which is what little-endian safetensors bytes already are) and are split by rows
 * into parts that fit one binding. Norm weights and biases are widened to f32 on the CPU.
 */
import type { Gpu } from '../gpu/device';
import type { WeightDtype } from '../gpu/dtype';
import { planRowSplit, type WeightPart } from '../gpu/split';
import { Usage } from '../gpu/usage';
import { bf16BitsToF32, f16BitsToF32 } from '../ref/pack';
import type { ModelConfig } from './config';
import { ModelLoadError } from './errors';
import type { TensorDtype, TensorEntry } from './safetensors';
import { plannedTensors, planWeights, type PlannedTensor, type WeightsPlan } from './weights-plan';

export type { WeightPart };

export interface WeightTensor {
  dtype: WeightDtype;
  rows: number;
  cols: number;
  /** Consecutive row ranges covering all rows, each in its own buffer. */
  parts: WeightPart[];
}

export interface LayerWeights {
  inputNorm: GPUBuffer; // f32 (D)
  q: WeightTensor; // (Hq·d, D)
  k: WeightTensor; // (Hkv·d, D)
  v: WeightTensor; // (Hkv·d, D)
  o: WeightTensor; // (D, Hq·d)
  qBias: GPUBuffer | undefined; // f32 (Hq·d), undefined without biases
  kBias: GPUBuffer | undefined; // f32 (Hkv·d), undefined without biases
  vBias: GPUBuffer | undefined; // f32 (Hkv·d), undefined without biases
  oBias: GPUBuffer | undefined; // f32 (D), undefined without biases
  postNorm: GPUBuffer; // f32 (D)
  gate: WeightTensor; // (F, D)
  up: WeightTensor; // (F, D)
  down: WeightTensor; // (D, F)
}

export interface GpuWeights {
  embed: WeightTensor; // (V, D)
  layers: LayerWeights[];
  norm: GPUBuffer; // f32 (D)
  /** (V, D); the same object as `embed` when tied. */
  lmHead: WeightTensor;
  /** GPU bytes held. */
  bytes: number;
  destroy(): void;
}

export interface UploadProgress {
  bytesLoaded: number;
  bytesTotal: number;
  tensorsLoaded: number;
  tensorsTotal: number;
  /** The tensor being read. */
  tensor: string;
}

export interface FitOptions {
  /** Overrides gpu.maxBindingBytes (tests force splits with it). */
  maxBindingBytes?: number;
  /** Refuse to load when weights + cacheBytes exceed this. */
  memoryBudgetBytes?: number;
  /** The KV cache (and activations) estimate counted against the budget. */
  cacheBytes?: number;
}

export interface UploadOptions extends FitOptions {
  onProgress?: (p: UploadProgress) => void;
  /** Largest single read, default 32 MiB. */
  pieceBytes?: number;
  signal?: AbortSignal;
}

export interface FitReport {
  weightBytes: number;
  cacheBytes: number;
  totalBytes: number;
}

const MiB = 1024 * 1024;
const PIECE_BYTES = 32 * MiB;
/** Pending queue writes are flushed every this many bytes, so staging memory stays bounded. */
const FLUSH_BYTES = 256 * MiB;

const GPU_DTYPE: Record<TensorDtype, WeightDtype> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

/** A plan, or what one is made from (a Checkpoint will do). */
export type WeightsSource = WeightsPlan | { config: ModelConfig; tensors: Map<string, TensorEntry> };

function toPlan(source: WeightsSource): WeightsPlan {
  return 'layers' in source ? source : planWeights(source.config, source.tensors);
}

function mib(bytes: number): string {
  return `${Math.ceil(bytes / MiB)} MiB`;
}

function gpuBytes(t: PlannedTensor): number {
  return t.kind === 'vector' ? t.cols * 4 : t.entry.byteLength;
}

/**
 * Checks, before anything is allocated, that every row fits one binding, that 16-bit matrices have
 * even rows (two values per word), and that weights + cache stay within the budget when one is given.
 */
export function checkFit(source: WeightsSource, gpu: Pick<Gpu, 'maxBindingBytes'>, options: FitOptions = {}): FitReport {
  const plan = toPlan(source);
  const maxBinding = options.maxBindingBytes ?? gpu.maxBindingBytes;
  let weightBytes = 0;
  for (const t of plannedTensors(plan)) {
    weightBytes += gpuBytes(t);
    const file = t.entry.source.name;
    if (t.kind === 'vector') {
      if (t.cols * 4 > maxBinding) {
        throw new ModelLoadError(file, `tensor ${t.name} needs ${t.cols * 4} bytes as f32, over this device's binding limit of ${maxBinding}`, {
          tensor: t.name,
        });
      }
      continue;
    }
    if (t.entry.dtype !== 'F32' && t.cols % 2 !== 0) {
      throw new ModelLoadError(
        file,
        `tensor ${t.name} is ${t.entry.dtype} with rows of odd length ${t.cols}; 16-bit weights are packed two per 32-bit word and need an even row length (convert the checkpoint to F32)`,
        { tensor: t.name },
      );
    }
    const rowBytes = t.entry.byteLength / t.rows;
    if (rowBytes > maxBinding) {
      throw new ModelLoadError(file, `tensor ${t.name}: one row is ${rowBytes} bytes, over this device's binding limit of ${maxBinding} bytes`, {
        tensor: t.name,
      });
    }
  }
  const cacheBytes = options.cacheBytes ?? 0;
  const totalBytes = weightBytes + cacheBytes;
  const budget = options.memoryBudgetBytes;
  if (budget !== undefined && totalBytes > budget) {
    throw new ModelLoadError(
      plan.embed.entry.source.name,
      `the model needs ${mib(totalBytes)} (weights ${mib(weightBytes)} + cache ${mib(cacheBytes)}), budget ${mib(budget)}: ${mib(totalBytes - budget)} over`,
    );
  }
  return { weightBytes, cacheBytes, totalBytes };
}

/** Little-endian F32/F16/BF16 bytes → f32 values. */
function toF32(bytes: Uint8Array, dtype: TensorDtype): Float32Array<ArrayBuffer> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / (dtype === 'F32' ? 4 : 2);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (dtype === 'F32') out[i] = view.getFloat32(4 * i, true);
    else if (dtype === 'F16') out[i] = f16BitsToF32(view.getUint16(2 * i, true));
    else out[i] = bf16BitsToF32(view.getUint16(2 * i, true));
  }
  return out;
}

const STORAGE = Usage.STORAGE | Usage.COPY_DST | Usage.COPY_SRC;

class Uploader {
  readonly buffers: GPUBuffer[] = [];
  bytesHeld = 0;
  private bytesLoaded = 0;
  private tensorsLoaded = 0;
  private unflushed = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBinding: number,
    private readonly options: UploadOptions,
    private readonly bytesTotal: number,
    private readonly tensorsTotal: number,
  ) {}

  private createBuffer(bytes: number, label: string): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 4) * 4);
    const buffer = this.device.createBuffer({ label, size, usage: STORAGE });
    this.buffers.push(buffer);
    this.bytesHeld += size;
    return buffer;
  }

  private progress(tensor: string): void {
    this.options.onProgress?.({
      bytesLoaded: this.bytesLoaded,
      bytesTotal: this.bytesTotal,
      tensorsLoaded: this.tensorsLoaded,
      tensorsTotal: this.tensorsTotal,
      tensor,
    });
  }

  private async read(entry: TensorEntry, offset: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
    this.options.signal?.throwIfAborted();
    const bytes = await entry.source.read(offset, length);
    this.bytesLoaded += length;
    this.progress(entry.name);
    return bytes;
  }

  private async write(buffer: GPUBuffer, offset: number, data: Uint8Array<ArrayBuffer> | Float32Array<ArrayBuffer>): Promise<void> {
    this.device.queue.writeBuffer(buffer, offset, data);
    this.unflushed += data.byteLength;
    if (this.unflushed >= FLUSH_BYTES) {
      this.unflushed = 0;
      this.device.queue.submit([]);
      await this.device.queue.onSubmittedWorkDone();
    }
  }

  async vector(t: PlannedTensor): Promise<GPUBuffer> {
    const values = toF32(await this.read(t.entry, t.entry.offset, t.entry.byteLength), t.entry.dtype);
    const buffer = this.createBuffer(values.byteLength, t.name);
    await this.write(buffer, 0, values);
    return buffer;
  }

  async matrix(t: PlannedTensor): Promise<WeightTensor> {
    const { entry } = t;
    const rowBytes = entry.byteLength / t.rows;
    const pieceMax = Math.max(4, Math.floor((this.options.pieceBytes ?? PIECE_BYTES) / 4) * 4);
    const parts: WeightPart[] = [];
    for (const range of planRowSplit(t.rows, rowBytes, this.maxBinding)) {
      const partBytes = range.rowCount * rowBytes;
      const label = range.rowCount === t.rows ? t.name : `${t.name}[${range.rowStart}:${range.rowStart + range.rowCount}]`;
      const buffer = this.createBuffer(partBytes, label);
      const start = entry.offset + range.rowStart * rowBytes;
      for (let done = 0; done < partBytes; ) {
        const n = Math.min(pieceMax, partBytes - done);
        await this.write(buffer, done, await this.read(entry, start + done, n));
        done += n;
      }
      parts.push({ buffer, ...range });
    }
    return { dtype: GPU_DTYPE[entry.dtype], rows: t.rows, cols: t.cols, parts };
  }

  /** Uploads one tensor inside GPU error scopes, so an allocation failure names it. */
  async tensor<T>(t: PlannedTensor, upload: () => Promise<T>): Promise<T> {
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
    let result: T | undefined;
    let failure: unknown;
    try {
      result = await upload();
    } catch (e) {
      failure = e;
    }
    const oom = await this.device.popErrorScope();
    const invalid = await this.device.popErrorScope();
    const file = t.entry.source.name;
    if (oom) {
      throw new ModelLoadError(
        file,
        `the GPU ran out of memory while uploading tensor ${t.name} (${mib(this.bytesHeld)} of weights allocated so far): ${oom.message}`,
        { tensor: t.name },
      );
    }
    if (invalid) throw new ModelLoadError(file, `uploading tensor ${t.name} failed on the GPU: ${invalid.message}`, { tensor: t.name });
    if (failure !== undefined) {
      if (failure instanceof ModelLoadError || (failure as { name?: unknown }).name === 'AbortError') throw failure;
      throw new ModelLoadError(file, `reading tensor ${t.name} failed: ${String(failure)}`, { tensor: t.name, cause: failure });
    }
    this.tensorsLoaded++;
    this.progress(t.name);
    return result as T;
  }
}

/**
 * Plans (planWeights) when given a checkpoint, checks the fit (checkFit), then uploads every tensor. On any failure, every buffer created
 * so far is destroyed and a ModelLoadError (or the signal's AbortError) is thrown.
 */
export async function uploadWeights(
  gpu: Pick<Gpu, 'device' | 'maxBindingBytes'>,
  source: WeightsSource,
  options: UploadOptions = {},
): Promise<GpuWeights> {
  const plan = toPlan(source);
  checkFit(plan, gpu, options);
  const all = plannedTensors(plan);
  const bytesTotal = all.reduce((s, t) => s + t.entry.byteLength, 0);
  const up = new Uploader(gpu.device, options.maxBindingBytes ?? gpu.maxBindingBytes, options, bytesTotal, all.length);
  const matrix = (t: PlannedTensor) => up.tensor(t, () => up.matrix(t));
  const vector = (t: PlannedTensor) => up.tensor(t, () => up.vector(t));
  const optional = (t: PlannedTensor | null) => (t ? vector(t) : Promise.resolve(undefined));
  try {
    const embed = await matrix(plan.embed);
    const layers: LayerWeights[] = [];
    for (const l of plan.layers) {
      layers.push({
        inputNorm: await vector(l.inputNorm),
        q: await matrix(l.q),
        k: await matrix(l.k),
        v: await matrix(l.v),
        qBias: await optional(l.qBias),
        kBias: await optional(l.kBias),
        vBias: await optional(l.vBias),
        o: await matrix(l.o),
        oBias: await optional(l.oBias),
        postNorm: await vector(l.postNorm),
        gate: await matrix(l.gate),
        up: await matrix(l.up),
        down: await matrix(l.down),
      });
    }
    const norm = await vector(plan.norm);
    const lmHead = plan.lmHead === plan.embed ? embed : await matrix(plan.lmHead);
    gpu.device.queue.submit([]);
    await gpu.device.queue.onSubmittedWorkDone();
    const buffers = up.buffers;
    return { embed, layers, norm, lmHead, bytes: up.bytesHeld, destroy: () => buffers.forEach((b) => b.destroy()) };
  } catch (e) {
    for (const b of up.buffers) b.destroy();
    throw e;
  }
}
