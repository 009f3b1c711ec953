import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfig, type ModelConfig } from '../src/model/config';
import { PREFILL_CHUNK_BYTES, prefillChunkFor } from '../src/model/forward';
import { SHAPES } from '../bench/random-model';
import { loadErrorOf, tinyConfigJson } from './model-fixture';


describe('parseConfig', () => {
  it('reads a Llama config', () => {
    const c = parseConfig(tinyConfigJson('llama', { head_dim: 10, rms_norm_eps: 1e-6, eos_token_id: [2, 7] }));
    expect(c).toMatchObject({
      architecture: 'llama',
      vocabSize: 37,
      hiddenSize: 24,
      intermediateSize: 40,
      nLayers: 2,
      nHeads: 3,
      nKvHeads: 1,
      headDim: 10,
      ropeTheta: 10000,
      ropeScaling: null,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: false,
      attentionBias: false,
      outputBias: false,
      slidingWindow: null,
      maxPositionEmbeddings: 128,
      bosTokenId: 1,
      eosTokenIds: [2, 7],
      torchDtype: 'float32',
    });
    expect(c.layerSlidingWindow).toEqual([false, false]);
  });

  it('derives head_dim and num_key_value_heads when absent, and takes Llama attention_bias for q/k/v and o', () => {
    const json = tinyConfigJson('llama', { attention_bias: true });
    delete json.num_key_value_heads;
    const c = parseConfig(json);
    expect(c.headDim).toBe(8);
    expect(c.nKvHeads).toBe(3);
    expect(c.attentionBias).toBe(true);
    expect(c.outputBias).toBe(true);
  });

  it('reads a Qwen2 config: q/k/v biases, no o bias, sliding window only when enabled', () => {
    const base = tinyConfigJson('qwen2', { sliding_window: 64, max_window_layers: 1, tie_word_embeddings: true });
    delete base.bos_token_id;
    const off = parseConfig({ ...base, use_sliding_window: false });
    expect(off).toMatchObject({ architecture: 'qwen2', attentionBias: true, outputBias: false, slidingWindow: null, tieWordEmbeddings: true, bosTokenId: null });
    const on = parseConfig({ ...base, use_sliding_window: true });
    expect(on.slidingWindow).toBe(64);
    expect(on.layerSlidingWindow).toEqual([false, true]);
    const typed = parseConfig({ ...base, use_sliding_window: true, layer_types: ['sliding_attention', 'full_attention'] });
    expect(typed.layerSlidingWindow).toEqual([true, false]);
  });

  it('reads a Mistral config with and without a sliding window', () => {
    const c = parseConfig(tinyConfigJson('mistral', { sliding_window: 32, head_dim: null }));
    expect(c).toMatchObject({ architecture: 'mistral', slidingWindow: 32, attentionBias: false, outputBias: false, headDim: 8 });
    expect(c.layerSlidingWindow).toEqual([true, true]);
    expect(parseConfig(tinyConfigJson('mistral', { sliding_window: null })).slidingWindow).toBeNull();
  });

  it('reads llama3 rope scaling (rope_type or type), and "default" as none', () => {
    const scaling = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const want = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
    expect(parseConfig(tinyConfigJson('llama', { rope_scaling: { rope_type: 'llama3', ...scaling } })).ropeScaling).toEqual(want);
    expect(parseConfig(tinyConfigJson('llama', { rope_scaling: { type: 'llama3', ...scaling } })).ropeScaling).toEqual(want);
    expect(parseConfig(tinyConfigJson('llama', { rope_scaling: { rope_type: 'default' } })).ropeScaling).toBeNull();
  });

  it("reads transformers 5's rope_parameters and dtype", () => {
    const json = tinyConfigJson('llama', { rope_parameters: { rope_type: 'default', rope_theta: 500000 }, dtype: 'bfloat16' });
    delete json.rope_theta;
    delete json.torch_dtype;
    const c = parseConfig(json);
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling).toBeNull();
    expect(c.torchDtype).toBe('bfloat16');
  });

  const errors: [string, Record<string, unknown>, RegExp][] = [
    ['unsupported model_type', { model_type: 'gemma' }, /model_type 'gemma' is not supported; supported: llama, qwen2, mistral/],
    ['a non-causal-LM class', { architectures: ['LlamaForSequenceClassification'] }, /field architectures .* expected \["LlamaForCausalLM"\]/],
    ['another activation', { hidden_act: 'gelu' }, /field hidden_act is "gelu", expected "silu"/],
    ['MLP biases', { mlp_bias: true }, /field mlp_bias is true, expected false/],
    ['yarn rope scaling', { rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope_scaling has type "yarn", which is not supported; supported: "default", "llama3"/],
    ['llama3 without its fields', { rope_scaling: { rope_type: 'llama3', factor: 8 } }, /field rope_scaling\.low_freq_factor is missing, expected a positive number/],
    ['a missing hidden_size', { hidden_size: undefined }, /field hidden_size is missing, expected a positive integer/],
    ['a fractional layer count', { num_hidden_layers: 2.5 }, /field num_hidden_layers is 2\.5, expected a positive integer/],
    ['kv heads not dividing heads', { num_key_value_heads: 2 }, /num_key_value_heads is 2, expected a divisor of num_attention_heads \(3\)/],
    ['heads not dividing hidden', { hidden_size: 25 }, /num_attention_heads is 3, expected a divisor of hidden_size \(25\)/],
    ['an odd head dimension', { head_dim: 7 }, /head dimension 7 is odd/],
    ['a quantized checkpoint', { quantization_config: { quant_method: 'gptq' } }, /quantized checkpoints are not supported/],
    ['a bad eos id', { eos_token_id: 'x' }, /field eos_token_id is "x", expected a token id or a list of token ids/],
  ];
  it.each(errors)('rejects %s, naming the file and field', (_what, overrides, message) => {
    const json = tinyConfigJson('llama', overrides);
    for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete json[k];
    const e = loadErrorOf(() => parseConfig(json));
    expect(e.file).toBe('config.json');
    expect(e.message).toMatch(/^config\.json: /);
    expect(e.message).toMatch(message);
  });

  it('rejects a non-object and names a custom file name', () => {
    expect(loadErrorOf(() => parseConfig([1, 2], 'x/config.json')).message).toBe('x/config.json: expected a JSON object at the top level');
  });
});

describe('prefillChunkFor', () => {
  const rowBytes = (c: ModelConfig) => 4 * (2 * c.hiddenSize + (3 * c.nHeads + 2 * c.nKvHeads) * c.headDim + 3 * c.intermediateSize + 1);
  it('keeps 256 rows for a large model and gives a small one long chunks within the byte budget', () => {
    const big = SHAPES['llama-3.2-1b'];
    expect(prefillChunkFor(big)).toBe(256);
    const small = parseConfig(JSON.parse(readFileSync('public/models/default/config.json', 'utf8')));
    const rows = prefillChunkFor(small);
    expect(rows).toBe(2048);
    expect(rows * rowBytes(small)).toBeLessThanOrEqual(PREFILL_CHUNK_BYTES);
    expect(2 * rows * rowBytes(small)).toBeGreaterThan(PREFILL_CHUNK_BYTES);
    expect(prefillChunkFor({ ...small, hiddenSize: 8, intermediateSize: 8, nHeads: 1, nKvHeads: 1, headDim: 8 })).toBe(4096);
  });
});
