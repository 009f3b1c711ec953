/**
 * Model shapes for benchmarks and random weights generated on the GPU for them (uniform values with the
 * std of a typical initialisation; norms at 1), so a 1B-parameter model costs no download or upload.
 */
import type { Gpu } from '../src/gpu/device';
import { bytesPerElement, type WeightDtype } from '../src/gpu/dtype';
import { createStorage, uploadStorage } from '../src/gpu/kernel';
import { createFillRandom } from '../src/gpu/ops/fill-random';
import { planRowSplit } from '../src/gpu/split';
import type { ModelConfig } from '../src/model/config';
import type { GpuWeights, LayerWeights, WeightTensor } from '../src/model/upload';

function llamaShape(s: Partial<ModelConfig> & Pick<ModelConfig, 'hiddenSize' | 'intermediateSize' | 'nLayers' | 'nHeads' | 'nKvHeads' | 'headDim' | 'vocabSize'>): ModelConfig {
  return {
    architecture: 'llama',
    ropeTheta: 500000,
    ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    rmsNormEps: 1e-5,
    tieWordEmbeddings: true,
    attentionBias: false,
    outputBias: false,
    slidingWindow: null,
    layerSlidingWindow: Array(s.nLayers).fill(false),
    maxPositionEmbeddings: 131072,
    bosTokenId: 128000,
    eosTokenIds: [128001],
    torchDtype: 'bfloat16',
    ...s,
  };
}

export const SHAPES: Record<string, ModelConfig> = {
  // meta-llama/Llama-3.2-1B's config.json shape.
  'llama-3.2-1b': llamaShape({ hiddenSize: 2048, intermediateSize: 8192, nLayers: 16, nHeads: 32, nKvHeads: 8, headDim: 64, vocabSize: 128256 }),
  // A small shape for trying the benchmark on a CPU adapter.
  tiny: llamaShape({ hiddenSize: 256, intermediateSize: 704, nLayers: 4, nHeads: 4, nKvHeads: 2, headDim: 64, vocabSize: 4096, maxPositionEmbeddings: 131072 }),
};

export interface WeightStats {
  /** Parameters in the per-token matrix products (all layers + LM head). */
  matmulParams: number;
  /** Bytes one decode step must read: every layer matrix, the LM head, one embedding row, the norms. */
  decodeWeightBytes: number;
  totalParams: number;
}

export function weightStats(c: ModelConfig, dtype: WeightDtype): WeightStats {
  const D = c.hiddenSize;
  const perLayer = D * (c.nHeads * c.headDim) * 2 + D * (c.nKvHeads * c.headDim) * 2 + 3 * D * c.intermediateSize;
  const head = c.vocabSize * D;
  const matmulParams = c.nLayers * perLayer + head;
  const b = bytesPerElement(dtype);
  return {
    matmulParams,
    decodeWeightBytes: matmulParams * b + D * b + (2 * c.nLayers + 1) * D * 4,
    totalParams: matmulParams + (c.tieWordEmbeddings ? 0 : head) + (2 * c.nLayers + 1) * D,
  };
}

export async function randomWeights(gpu: Gpu, c: ModelConfig, dtype: WeightDtype, seed = 1): Promise<GpuWeights> {
  const fill = await createFillRandom(gpu, dtype);
  const buffers: GPUBuffer[] = [];
  let bytes = 0;
  let n = seed;
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  const matrix = (rows: number, cols: number, name: string): WeightTensor => {
    const rowBytes = cols * bytesPerElement(dtype);
    const scale = Math.sqrt(3 / cols); // uniform with std 1/sqrt(cols): activations keep their scale
    const parts = planRowSplit(rows, rowBytes, gpu.maxBindingBytes).map((r) => {
      const buffer = createStorage(gpu, r.rowCount * rowBytes, `${name}[${r.rowStart}]`);
      fill.encode(pass, buffer, (r.rowCount * rowBytes) / 4, n++, scale);
      buffers.push(buffer);
      bytes += buffer.size;
      return { ...r, buffer };
    });
    return { dtype, rows, cols, parts };
  };
  const ones = (len: number, name: string) => {
    const b = uploadStorage(gpu, new Float32Array(len).fill(1), name);
    buffers.push(b);
    bytes += b.size;
    return b;
  };
  const D = c.hiddenSize;
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const embed = matrix(c.vocabSize, D, 'embed');
  const layers: LayerWeights[] = Array.from({ length: c.nLayers }, (_, l) => ({
    inputNorm: ones(D, `l${l}.ln1`),
    q: matrix(q, D, `l${l}.q`),
    k: matrix(kv, D, `l${l}.k`),
    v: matrix(kv, D, `l${l}.v`),
    o: matrix(D, q, `l${l}.o`),
    qBias: undefined,
    kBias: undefined,
    vBias: undefined,
    oBias: undefined,
    postNorm: ones(D, `l${l}.ln2`),
    gate: matrix(c.intermediateSize, D, `l${l}.gate`),
    up: matrix(c.intermediateSize, D, `l${l}.up`),
    down: matrix(D, c.intermediateSize, `l${l}.down`),
  }));
  const lmHead = c.tieWordEmbeddings ? embed : matrix(c.vocabSize, D, 'lm_head');
  const norm = ones(D, 'norm');
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return {
    embed,
    layers,
    norm,
    lmHead,
    bytes,
    destroy: () => buffers.forEach((b) => b.destroy()),
  };
}
