import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { readBuffer, readF32 } from '../src/gpu/kernel';
import { parseConfig } from '../src/model/config';
import { bytesSource, readSafetensorsHeader } from '../src/model/safetensors';
import { checkFit, uploadWeights, type UploadProgress, type WeightTensor } from '../src/model/upload';
import { plannedTensors, planWeights, type PlannedTensor, type WeightsPlan } from '../src/model/weights-plan';
import { roundTo } from '../src/ref/pack';
import { requireGpu } from './gpu';
import { loadErrorOf, syntheticTensors, tinyConfigJson, type Arch } from './model-fixture';
import { writeSafetensors } from './safetensors-writer';

type Dtype = 'F32' | 'F16' | 'BF16';
const LOWER: Record<Dtype, 'f32' | 'f16' | 'bf16'> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

async function tinyPlan(arch: Arch, dtype: Dtype, over: Record<string, unknown> = {}): Promise<WeightsPlan> {
  const json = tinyConfigJson(arch, over);
  const file = writeSafetensors(syntheticTensors(json, dtype, 7));
  const { tensors } = await readSafetensorsHeader(bytesSource(file, 'model.safetensors'));
  return planWeights(parseConfig(json), tensors);
}

async function fileBytes(t: PlannedTensor): Promise<Uint8Array> {
  return t.entry.source.read(t.entry.offset, t.entry.byteLength);
}

/** Every part holds exactly its rows of the stored bytes, and the parts cover the rows in order. */
async function expectMatrix(gpu: Gpu, w: WeightTensor, t: PlannedTensor): Promise<void> {
  expect(w).toMatchObject({ dtype: LOWER[t.entry.dtype], rows: t.rows, cols: t.cols });
  const stored = await fileBytes(t);
  const rowBytes = t.entry.byteLength / t.rows;
  let next = 0;
  for (const p of w.parts) {
    expect(p.rowStart).toBe(next);
    const got = new Uint8Array(await readBuffer(gpu, p.buffer, p.rowCount * rowBytes));
    expect(got).toEqual(stored.subarray(p.rowStart * rowBytes, (p.rowStart + p.rowCount) * rowBytes));
    next += p.rowCount;
  }
  expect(next).toBe(t.rows);
}

/** Vectors arrive as f32: the stored values widened exactly. */
async function expectVector(gpu: Gpu, buf: GPUBuffer | undefined, t: PlannedTensor | null, values: Float32Array): Promise<void> {
  expect(buf && t).toBeTruthy();
  expect(await readF32(gpu, buf!, t!.cols)).toEqual(roundTo(values, LOWER[t!.entry.dtype]));
}

describe('uploadWeights', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });

  it.each<Dtype>(['F32', 'F16', 'BF16'])('uploads a Qwen2-shaped %s checkpoint that reads back bit for bit', async (dtype) => {
    const json = tinyConfigJson('qwen2');
    const source = syntheticTensors(json, dtype, 7);
    const values = new Map(source.map((t) => [t.name, t.values!]));
    const plan = await tinyPlan('qwen2', dtype);
    const w = await uploadWeights(gpu, plan);
    try {
      await expectMatrix(gpu, w.embed, plan.embed);
      await expectMatrix(gpu, w.lmHead, plan.lmHead);
      await expectVector(gpu, w.norm, plan.norm, values.get('model.norm.weight')!);
      for (const [i, l] of plan.layers.entries()) {
        const g = w.layers[i];
        for (const k of ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const) await expectMatrix(gpu, g[k], l[k]);
        for (const k of ['inputNorm', 'postNorm', 'qBias', 'kBias', 'vBias'] as const) await expectVector(gpu, g[k], l[k], values.get(l[k]!.name)!);
        expect(g.oBias).toBeUndefined();
        expect(w.embed.parts).toHaveLength(1);
      }
      expect(w.bytes).toBeGreaterThanOrEqual(checkFit(plan, gpu).weightBytes);
    } finally {
      w.destroy();
    }
  });

  it('splits tensors over the binding limit by rows, and shares a tied lm_head', async () => {
    const plan = await tinyPlan('llama', 'F32', { tie_word_embeddings: true });
    // embed: 37 rows of 96 bytes; 400 bytes per binding → at most 4 rows per part → 10 parts.
    const w = await uploadWeights(gpu, plan, { maxBindingBytes: 400 });
    try {
      expect(w.embed.parts).toHaveLength(10);
      expect(Math.max(...w.embed.parts.map((p) => p.rowCount))).toBeLessThanOrEqual(4);
      for (const p of w.embed.parts) expect(p.buffer.size).toBeLessThanOrEqual(400);
      await expectMatrix(gpu, w.embed, plan.embed);
      expect(w.lmHead).toBe(w.embed);
      // down: 24 rows of 160 bytes → 2 rows per part.
      expect(w.layers[1].down.parts).toHaveLength(12);
      await expectMatrix(gpu, w.layers[1].down, plan.layers[1].down);
      await expectMatrix(gpu, w.layers[0].gate, plan.layers[0].gate);
    } finally {
      w.destroy();
    }
  });

  it('reports progress per piece and per tensor, ending at the totals', async () => {
    const plan = await tinyPlan('llama', 'BF16');
    const events: UploadProgress[] = [];
    const w = await uploadWeights(gpu, plan, { pieceBytes: 64, onProgress: (p) => events.push({ ...p }) });
    w.destroy();
    const all = plannedTensors(plan);
    const total = all.reduce((s, t) => s + t.entry.byteLength, 0);
    expect(events.length).toBeGreaterThan(all.length * 2);
    for (let i = 1; i < events.length; i++) {
      expect(events[i].bytesLoaded).toBeGreaterThanOrEqual(events[i - 1].bytesLoaded);
      expect(events[i].tensorsLoaded).toBeGreaterThanOrEqual(events[i - 1].tensorsLoaded);
    }
    const last = events[events.length - 1];
    expect(last).toEqual({ bytesLoaded: total, bytesTotal: total, tensorsLoaded: all.length, tensorsTotal: all.length, tensor: 'lm_head.weight' });
    // Pieces never exceed 64 bytes.
    const steps = events.slice(1).map((e, i) => e.bytesLoaded - events[i].bytesLoaded);
    expect(Math.max(...steps)).toBeLessThanOrEqual(64);
  });

  it('stops at an aborted signal', async () => {
    const plan = await tinyPlan('llama', 'F32');
    const ctrl = new AbortController();
    let n = 0;
    const p = uploadWeights(gpu, plan, { onProgress: () => ++n === 5 && ctrl.abort(), signal: ctrl.signal });
    await expect(p).rejects.toThrow(/abort/i);
  });
});

describe('checkFit', () => {

  it('counts matrices as stored and vectors as f32', async () => {
    const plan = await tinyPlan('qwen2', 'BF16');
    const { weightBytes } = checkFit(plan, { maxBindingBytes: 1 << 20 }, { cacheBytes: 1000 });
    const want = plannedTensors(plan).reduce((s, t) => s + (t.kind === 'vector' ? t.cols * 4 : t.rows * t.cols * 2), 0);
    expect(weightBytes).toBe(want);
  });

  it('refuses a row wider than one binding', async () => {
    const plan = await tinyPlan('llama', 'F32');
    const e = loadErrorOf(() => checkFit(plan, { maxBindingBytes: 100 }));
    expect(e.message).toMatch(/tensor model\.layers\.0\.mlp\.down_proj\.weight: one row is 160 bytes, over this device's binding limit of 100 bytes/);
    expect(e.tensor).toBe('model.layers.0.mlp.down_proj.weight');
  });

  it('refuses weights plus cache over the memory budget, in MiB', async () => {
    const plan = await tinyPlan('llama', 'F32');
    const MiB = 1 << 20;
    const e = loadErrorOf(() => checkFit(plan, { maxBindingBytes: MiB }, { memoryBudgetBytes: 512 * MiB, cacheBytes: 812 * MiB - 100_000 }));
    expect(e.message).toMatch(/needs 812 MiB \(weights 1 MiB \+ cache 812 MiB\), budget 512 MiB: 300 MiB over/);
  });

  it('refuses 16-bit matrices with rows of odd length', async () => {
    const plan = await tinyPlan('llama', 'F16', { intermediate_size: 41 });
    const e = loadErrorOf(() => checkFit(plan, { maxBindingBytes: 1 << 20 }));
    expect(e.message).toMatch(/tensor model\.layers\.0\.mlp\.down_proj\.weight is F16 with rows of odd length 41/);
    const f32 = await tinyPlan('llama', 'F32', { intermediate_size: 41 });
    expect(() => checkFit(f32, { maxBindingBytes: 1 << 20 })).not.toThrow();
  });
});
