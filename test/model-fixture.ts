/**
 * Tiny synthetic Hugging Face checkpoints for tests: a config.json, seeded random tensors named and
 * shaped as transformers writes them (listed here by hand, independently of src/model/weights-plan.ts),
 * and helpers that put the files in a temporary directory.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ModelLoadError } from '../src/model/errors';
import { randn } from '../src/ref/random';
import type { TestTensor } from './safetensors-writer';

export type Arch = 'llama' | 'qwen2' | 'mistral';

const CLASS: Record<Arch, string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', mistral: 'MistralForCausalLM' };

/** A small config.json; every size even so 16-bit rows pack into whole words. */
export function tinyConfigJson(arch: Arch = 'llama', overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: [CLASS[arch]],
    model_type: arch,
    vocab_size: 37,
    hidden_size: 24,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 3,
    num_key_value_heads: 1,
    hidden_act: 'silu',
    max_position_embeddings: 128,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
    ...overrides,
  };
}

interface Sizes {
  V: number;
  D: number;
  F: number;
  L: number;
  qDim: number;
  kvDim: number;
}

function sizes(c: Record<string, unknown>): Sizes {
  const D = c.hidden_size as number;
  const H = c.num_attention_heads as number;
  const d = (c.head_dim as number | undefined) ?? D / H;
  return {
    V: c.vocab_size as number,
    D,
    F: c.intermediate_size as number,
    L: c.num_hidden_layers as number,
    qDim: H * d,
    kvDim: ((c.num_key_value_heads as number | undefined) ?? H) * d,
  };
}

/** Every tensor the config implies, with seeded values; `dtype` for all of them. */
export function syntheticTensors(configJson: Record<string, unknown>, dtype: 'F32' | 'F16' | 'BF16', seed = 1): TestTensor[] {
  const { V, D, F, L, qDim, kvDim } = sizes(configJson);
  const arch = configJson.model_type as Arch;
  const qkvBias = arch === 'qwen2' || (arch === 'llama' && configJson.attention_bias === true);
  const oBias = arch === 'llama' && configJson.attention_bias === true;
  const list: [string, number[]][] = [['model.embed_tokens.weight', [V, D]]];
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    list.push(
      [`${p}input_layernorm.weight`, [D]],
      [`${p}self_attn.q_proj.weight`, [qDim, D]],
      [`${p}self_attn.k_proj.weight`, [kvDim, D]],
      [`${p}self_attn.v_proj.weight`, [kvDim, D]],
      [`${p}self_attn.o_proj.weight`, [D, qDim]],
      [`${p}post_attention_layernorm.weight`, [D]],
      [`${p}mlp.gate_proj.weight`, [F, D]],
      [`${p}mlp.up_proj.weight`, [F, D]],
      [`${p}mlp.down_proj.weight`, [D, F]],
    );
    if (qkvBias) list.push([`${p}self_attn.q_proj.bias`, [qDim]], [`${p}self_attn.k_proj.bias`, [kvDim]], [`${p}self_attn.v_proj.bias`, [kvDim]]);
    if (oBias) list.push([`${p}self_attn.o_proj.bias`, [D]]);
  }
  list.push(['model.norm.weight', [D]]);
  if (configJson.tie_word_embeddings !== true) list.push(['lm_head.weight', [V, D]]);
  return list.map(([name, shape], i) => ({
    name,
    dtype,
    shape,
    values: randn(seed * 1000 + i, shape.reduce((a, b) => a * b, 1)),
  }));
}

/** Writes `files` into a fresh temporary directory and returns its path. */
export async function writeTempDir(files: Record<string, Uint8Array | string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rdkv-model-'));
  await mkdir(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
  return dir;
}

/** A minimal tokenizer.json (WordLevel over whitespace) for checkpoints whose tokenizer is not under test. */
export function wordLevelTokenizerJson(words: string[]): string {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (const w of words) vocab[w] ??= Object.keys(vocab).length;
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  });
}

/** The ModelLoadError `fn` throws (fails the test when it throws nothing or something else). */
export function loadErrorOf(fn: () => unknown): ModelLoadError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    return e as ModelLoadError;
  }
  throw new Error('expected a ModelLoadError');
}

/** The ModelLoadError `p` rejects with (fails the test when it resolves or rejects with something else). */
export async function loadRejection(p: Promise<unknown>): Promise<ModelLoadError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    return e as ModelLoadError;
  }
  throw new Error('expected a ModelLoadError');
}
