/**
 * The tensors a config implies (Hugging Face names and shapes), matched against a checkpoint's tensors.
 * Every expected tensor must be present with exactly the implied shape; extra tensors (rotary_emb.inv_freq,
 * ...) are ignored. Dtypes may differ per tensor.
 */
import type { ModelConfig } from './config';
import { ModelLoadError } from './errors';
import type { TensorEntry } from './safetensors';

/** A matrix is uploaded as stored (rows × cols); a vector (norm weight, bias) is uploaded as f32. */
export interface PlannedTensor {
  name: string;
  entry: TensorEntry;
  kind: 'matrix' | 'vector';
  rows: number;
  cols: number;
}

export interface LayerPlan {
  inputNorm: PlannedTensor; // (D)
  q: PlannedTensor; // (Hq·d, D)
  k: PlannedTensor; // (Hkv·d, D)
  v: PlannedTensor; // (Hkv·d, D)
  o: PlannedTensor; // (D, Hq·d)
  qBias: PlannedTensor | null; // (Hq·d)
  kBias: PlannedTensor | null; // (Hkv·d)
  vBias: PlannedTensor | null; // (Hkv·d)
  oBias: PlannedTensor | null; // (D)
  postNorm: PlannedTensor; // (D)
  gate: PlannedTensor; // (F, D)
  up: PlannedTensor; // (F, D)
  down: PlannedTensor; // (D, F)
}

export interface WeightsPlan {
  config: ModelConfig;
  embed: PlannedTensor; // (V, D)
  layers: LayerPlan[];
  norm: PlannedTensor; // (D)
  /** (V, D); the same object as `embed` when the embeddings are tied and no lm_head is stored. */
  lmHead: PlannedTensor;
}

/** Every distinct tensor of a plan once, in load order (a tied lm_head is not repeated). */
export function plannedTensors(plan: WeightsPlan): PlannedTensor[] {
  const all: PlannedTensor[] = [plan.embed];
  for (const l of plan.layers) {
    const list = [l.inputNorm, l.q, l.k, l.v, l.qBias, l.kBias, l.vBias, l.o, l.oBias, l.postNorm, l.gate, l.up, l.down];
    for (const t of list) if (t) all.push(t);
  }
  all.push(plan.norm);
  if (plan.lmHead !== plan.embed) all.push(plan.lmHead);
  return all;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function planWeights(config: ModelConfig, tensors: Map<string, TensorEntry>): WeightsPlan {
  const anyFile = tensors.values().next().value?.source.name ?? 'model.safetensors';
  const take = (name: string, shape: number[]): PlannedTensor => {
    const entry = tensors.get(name);
    if (!entry) {
      throw new ModelLoadError(anyFile, `tensor ${name} is missing from the checkpoint; config.json implies shape ${shapeText(shape)}`, {
        tensor: name,
      });
    }
    if (entry.shape.length !== shape.length || entry.shape.some((n, i) => n !== shape[i])) {
      throw new ModelLoadError(
        entry.source.name,
        `tensor ${name} has shape ${shapeText(entry.shape)} in ${entry.source.name}, config.json implies ${shapeText(shape)}`,
        { tensor: name },
      );
    }
    const matrix = shape.length === 2;
    return { name, entry, kind: matrix ? 'matrix' : 'vector', rows: matrix ? shape[0] : 1, cols: matrix ? shape[1] : shape[0] };
  };

  const { vocabSize: V, hiddenSize: D, intermediateSize: F, headDim: d } = config;
  const qDim = config.nHeads * d;
  const kvDim = config.nKvHeads * d;
  const layers: LayerPlan[] = [];
  for (let i = 0; i < config.nLayers; i++) {
    const p = `model.layers.${i}.`;
    const bias = (name: string, n: number, on: boolean): PlannedTensor | null => (on ? take(`${p}self_attn.${name}.bias`, [n]) : null);
    layers.push({
      inputNorm: take(`${p}input_layernorm.weight`, [D]),
      q: take(`${p}self_attn.q_proj.weight`, [qDim, D]),
      k: take(`${p}self_attn.k_proj.weight`, [kvDim, D]),
      v: take(`${p}self_attn.v_proj.weight`, [kvDim, D]),
      o: take(`${p}self_attn.o_proj.weight`, [D, qDim]),
      qBias: bias('q_proj', qDim, config.attentionBias),
      kBias: bias('k_proj', kvDim, config.attentionBias),
      vBias: bias('v_proj', kvDim, config.attentionBias),
      oBias: bias('o_proj', D, config.outputBias),
      postNorm: take(`${p}post_attention_layernorm.weight`, [D]),
      gate: take(`${p}mlp.gate_proj.weight`, [F, D]),
      up: take(`${p}mlp.up_proj.weight`, [F, D]),
      down: take(`${p}mlp.down_proj.weight`, [D, F]),
    });
  }
  const embed = take('model.embed_tokens.weight', [V, D]);
  const norm = take('model.norm.weight', [D]);
  // Tied checkpoints usually omit lm_head.weight; when one is stored anyway it is used as is.
  const lmHead = config.tieWordEmbeddings && !tensors.has('lm_head.weight') ? embed : take('lm_head.weight', [V, D]);
  return { config, embed, layers, norm, lmHead };
}
