import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/model/config';
import { bytesSource, readSafetensorsHeader, type TensorEntry } from '../src/model/safetensors';
import { plannedTensors, planWeights } from '../src/model/weights-plan';
import { loadErrorOf, syntheticTensors, tinyConfigJson, type Arch } from './model-fixture';
import { writeSafetensors, type TestTensor } from './safetensors-writer';

async function entries(list: TestTensor[], file = 'model.safetensors'): Promise<Map<string, TensorEntry>> {
  return (await readSafetensorsHeader(bytesSource(writeSafetensors(list), file))).tensors;
}


describe('planWeights', () => {
  it.each<[Arch, Record<string, unknown>, number]>([
    ['llama', {}, 2 + 2 * 9 + 1],
    ['llama', { attention_bias: true }, 2 + 2 * 13 + 1],
    ['qwen2', {}, 2 + 2 * 12 + 1],
    ['mistral', {}, 2 + 2 * 9 + 1],
  ])('%s %j: every expected tensor, with biases where the config has them', async (arch, over, count) => {
    const json = tinyConfigJson(arch, over);
    const config = parseConfig(json);
    const plan = planWeights(config, await entries(syntheticTensors(json, 'F32')));
    expect(plannedTensors(plan)).toHaveLength(count);
    expect(plan.layers[1].k).toMatchObject({ name: 'model.layers.1.self_attn.k_proj.weight', kind: 'matrix', rows: 8, cols: 24 });
    expect(plan.layers[0].postNorm).toMatchObject({ kind: 'vector', rows: 1, cols: 24 });
    expect(plan.layers[0].qBias !== null).toBe(config.attentionBias);
    expect(plan.layers[0].oBias !== null).toBe(config.outputBias);
    expect(plan.lmHead).not.toBe(plan.embed);
  });

  it('ties lm_head to the embeddings when it is absent, and uses a stored one anyway', async () => {
    const json = tinyConfigJson('qwen2', { tie_word_embeddings: true });
    const config = parseConfig(json);
    const tensors = syntheticTensors(json, 'BF16');
    const tied = planWeights(config, await entries(tensors));
    expect(tied.lmHead).toBe(tied.embed);
    const withHead = [...tensors, { name: 'lm_head.weight', dtype: 'F16', shape: [37, 24], values: new Float32Array(37 * 24).fill(0.5) }];
    const stored = planWeights(config, await entries(withHead));
    expect(stored.lmHead.name).toBe('lm_head.weight');
    expect(stored.lmHead.entry.dtype).toBe('F16');
  });

  it('ignores extra tensors such as rotary_emb.inv_freq', async () => {
    const json = tinyConfigJson('llama');
    const extra = { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'F32', shape: [4], values: new Float32Array(4).fill(1) };
    const plan = planWeights(parseConfig(json), await entries([...syntheticTensors(json, 'F32'), extra]));
    expect(plannedTensors(plan).some((t) => t.name.includes('inv_freq'))).toBe(false);
  });

  it('names the tensor, its shape, its file and the implied shape on a mismatch', async () => {
    const json = tinyConfigJson('llama');
    const tensors = syntheticTensors(json, 'F32');
    const bad = tensors.map((t) =>
      t.name === 'model.layers.1.self_attn.k_proj.weight' ? { ...t, shape: [24, 24], values: new Float32Array(24 * 24).fill(1) } : t,
    );
    const map = new Map([...(await entries(bad.slice(0, 5))), ...(await entries(bad.slice(5), 'model-00002-of-00002.safetensors'))]);
    const e = loadErrorOf(() => planWeights(parseConfig(json), map));
    expect(e.message).toBe(
      'model-00002-of-00002.safetensors: tensor model.layers.1.self_attn.k_proj.weight has shape [24, 24] in model-00002-of-00002.safetensors, config.json implies [8, 24]',
    );
    expect(e.file).toBe('model-00002-of-00002.safetensors');
    expect(e.tensor).toBe('model.layers.1.self_attn.k_proj.weight');
  });

  it('names a missing tensor and its implied shape', async () => {
    const json = tinyConfigJson('qwen2');
    const tensors = syntheticTensors(json, 'F32').filter((t) => t.name !== 'model.layers.0.self_attn.v_proj.bias');
    const e = loadErrorOf(() => planWeights(parseConfig(json), new Map()));
    expect(e.message).toMatch(/tensor model\.layers\.0\.input_layernorm\.weight is missing from the checkpoint; config\.json implies shape \[24\]/);
    const map = await entries(tensors);
    const e2 = loadErrorOf(() => planWeights(parseConfig(json), map));
    expect(e2.message).toBe(
      'model.safetensors: tensor model.layers.0.self_attn.v_proj.bias is missing from the checkpoint; config.json implies shape [8]',
    );
    expect(e2.tensor).toBe('model.layers.0.self_attn.v_proj.bias');
  });
});
