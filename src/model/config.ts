/**
 * Hugging Face config.json → ModelConfig for the decoder-only families this engine runs (Llama, Qwen2,
 * Mistral). Defaults follow transformers' config classes; anything the forward pass cannot honour is
 * rejected here, at load, in words.
 */
import { isRecord, ModelLoadError } from './errors';

export type Architecture = 'llama' | 'qwen2' | 'mistral';

/** Llama 3's frequency-dependent RoPE rescaling (transformers `_compute_llama3_parameters`). */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases. */
  attentionBias: boolean;
  /** o_proj carries a bias (Llama's attention_bias covers it; Qwen2 and Mistral never). */
  outputBias: boolean;
  /** The sliding-window size, or null when no layer uses one. */
  slidingWindow: number | null;
  /** Per layer: whether it attends through the sliding window (length nLayers). */
  layerSlidingWindow: boolean[];
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** torch_dtype (or transformers 5's dtype) as written, e.g. 'bfloat16'; null when absent. */
  torchDtype: string | null;
}

const CAUSAL_LM: Record<Architecture, string> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  mistral: 'MistralForCausalLM',
};

interface Defaults {
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  bos: number | null;
  eos: number | null;
}

const DEFAULTS: Record<Architecture, Defaults> = {
  llama: { maxPositionEmbeddings: 2048, rmsNormEps: 1e-6, bos: 1, eos: 2 },
  qwen2: { maxPositionEmbeddings: 32768, rmsNormEps: 1e-6, bos: null, eos: null },
  mistral: { maxPositionEmbeddings: 4096 * 32, rmsNormEps: 1e-6, bos: 1, eos: 2 },
};

/** Reads typed fields of one JSON object, with errors that say which file and which field. */
class Fields {
  constructor(
    readonly obj: Record<string, unknown>,
    readonly file: string,
    readonly prefix = '',
  ) {}

  fail(field: string, expected: string): never {
    const got = this.obj[field];
    const shown = got === undefined ? 'missing' : `${JSON.stringify(got)}`;
    throw new ModelLoadError(this.file, `field ${this.prefix}${field} is ${shown}, expected ${expected}`);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  positiveInt(field: string, fallback?: number): number {
    const v = this.obj[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) this.fail(field, 'a positive integer');
    return v;
  }

  positiveNumber(field: string, fallback?: number): number {
    const v = this.obj[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(field, 'a positive number');
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.obj[field] ?? fallback;
    if (typeof v !== 'boolean') this.fail(field, 'true or false');
    return v;
  }

  tokenId(field: string, fallback: number | null): number | null {
    const v = this.obj[field] === undefined ? fallback : this.obj[field];
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(field, 'a token id (a non-negative integer) or null');
    return v;
  }

  tokenIds(field: string, fallback: number | null): number[] {
    const v = this.obj[field] === undefined ? fallback : this.obj[field];
    if (v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      this.fail(field, 'a token id or a list of token ids');
    }
    return list as number[];
  }
}

function architectureOf(f: Fields): Architecture {
  const supported = Object.keys(CAUSAL_LM).join(', ');
  const modelType = f.obj.model_type;
  const archs = f.obj.architectures;
  if (archs !== undefined && archs !== null && (!Array.isArray(archs) || !archs.every((a) => typeof a === 'string'))) {
    f.fail('architectures', 'a list of class names');
  }
  let arch: Architecture | undefined;
  if (modelType !== undefined) {
    if (typeof modelType !== 'string') f.fail('model_type', `one of ${supported}`);
    if (!(modelType in CAUSAL_LM)) {
      throw new ModelLoadError(f.file, `model_type '${modelType}' is not supported; supported: ${supported}`);
    }
    arch = modelType as Architecture;
  } else if (Array.isArray(archs)) {
    arch = (Object.keys(CAUSAL_LM) as Architecture[]).find((a) => archs.includes(CAUSAL_LM[a]));
    if (!arch) f.fail('architectures', `one of ${Object.values(CAUSAL_LM).join(', ')}`);
  } else {
    f.fail('model_type', `one of ${supported}`);
  }
  if (Array.isArray(archs) && archs.length > 0 && !archs.includes(CAUSAL_LM[arch])) {
    f.fail('architectures', `["${CAUSAL_LM[arch]}"] for model_type '${arch}'`);
  }
  return arch;
}

/** RoPE base and scaling, from transformers 4's rope_theta/rope_scaling or transformers 5's rope_parameters. */
function parseRope(f: Fields): { ropeTheta: number; ropeScaling: Llama3RopeScaling | null } {
  const params = f.obj.rope_parameters;
  if (params !== undefined && params !== null && !isRecord(params)) f.fail('rope_parameters', 'an object');
  const p = isRecord(params) ? new Fields(params, f.file, 'rope_parameters.') : null;
  const ropeTheta = p?.has('rope_theta') ? p.positiveNumber('rope_theta') : f.positiveNumber('rope_theta', 10000);

  const scalingRaw = f.obj.rope_scaling ?? params;
  if (scalingRaw === undefined || scalingRaw === null) return { ropeTheta, ropeScaling: null };
  const field = f.has('rope_scaling') ? 'rope_scaling' : 'rope_parameters';
  if (!isRecord(scalingRaw)) f.fail(field, 'an object or null');
  const s = new Fields(scalingRaw, f.file, `${field}.`);
  const type = scalingRaw.rope_type ?? scalingRaw.type ?? 'default';
  if (type === 'default') return { ropeTheta, ropeScaling: null };
  if (type !== 'llama3') {
    throw new ModelLoadError(
      f.file,
      `field ${field} has type ${JSON.stringify(type)}, which is not supported; supported: "default", "llama3"`,
    );
  }
  const ropeScaling: Llama3RopeScaling = {
    type: 'llama3',
    factor: s.positiveNumber('factor'),
    lowFreqFactor: s.positiveNumber('low_freq_factor'),
    highFreqFactor: s.positiveNumber('high_freq_factor'),
    originalMaxPositionEmbeddings: s.positiveInt('original_max_position_embeddings'),
  };
  if (ropeScaling.highFreqFactor <= ropeScaling.lowFreqFactor) {
    s.fail('high_freq_factor', `a number above low_freq_factor (${ropeScaling.lowFreqFactor})`);
  }
  return { ropeTheta, ropeScaling };
}

function parseSlidingWindow(f: Fields, arch: Architecture, nLayers: number): { slidingWindow: number | null; layerSlidingWindow: boolean[] } {
  const none = { slidingWindow: null, layerSlidingWindow: new Array<boolean>(nLayers).fill(false) };
  if (arch === 'llama') return none;
  const window = f.has('sliding_window') ? f.positiveInt('sliding_window') : null;
  if (arch === 'mistral') {
    return window === null ? none : { slidingWindow: window, layerSlidingWindow: new Array<boolean>(nLayers).fill(true) };
  }
  // Qwen2: the window applies only with use_sliding_window, and only from layer max_window_layers on,
  // unless transformers 5's layer_types spells it out per layer.
  if (!f.bool('use_sliding_window', false) || window === null) return none;
  const types = f.obj.layer_types;
  let layers: boolean[];
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== nLayers || !types.every((t) => t === 'full_attention' || t === 'sliding_attention')) {
      f.fail('layer_types', `a list of ${nLayers} entries, each "full_attention" or "sliding_attention"`);
    }
    layers = types.map((t) => t === 'sliding_attention');
  } else {
    const from = f.has('max_window_layers') ? f.positiveInt('max_window_layers') : 28;
    layers = Array.from({ length: nLayers }, (_, i) => i >= from);
  }
  return layers.some((x) => x) ? { slidingWindow: window, layerSlidingWindow: layers } : none;
}

export function parseConfig(json: unknown, fileName = 'config.json'): ModelConfig {
  if (!isRecord(json)) throw new ModelLoadError(fileName, 'expected a JSON object at the top level');
  const f = new Fields(json, fileName);
  const arch = architectureOf(f);
  const d = DEFAULTS[arch];

  if (f.has('quantization_config')) {
    throw new ModelLoadError(fileName, 'has a quantization_config; quantized checkpoints are not supported, use an F32, F16 or BF16 one');
  }
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') f.fail('hidden_act', '"silu"');
  if (arch === 'llama' && f.bool('mlp_bias', false)) f.fail('mlp_bias', 'false (MLP biases are not supported)');

  const vocabSize = f.positiveInt('vocab_size');
  const hiddenSize = f.positiveInt('hidden_size');
  const intermediateSize = f.positiveInt('intermediate_size');
  const nLayers = f.positiveInt('num_hidden_layers');
  const nHeads = f.positiveInt('num_attention_heads');
  const nKvHeads = f.positiveInt('num_key_value_heads', nHeads);
  if (nHeads % nKvHeads !== 0) {
    f.fail('num_key_value_heads', `a divisor of num_attention_heads (${nHeads})`);
  }
  let headDim: number;
  if (f.has('head_dim')) {
    headDim = f.positiveInt('head_dim');
  } else {
    if (hiddenSize % nHeads !== 0) {
      f.fail('num_attention_heads', `a divisor of hidden_size (${hiddenSize}) when head_dim is not given`);
    }
    headDim = hiddenSize / nHeads;
  }
  if (headDim % 2 !== 0) throw new ModelLoadError(fileName, `head dimension ${headDim} is odd; rotary embeddings need an even one`);

  const qkvBias = arch === 'qwen2' ? true : arch === 'llama' ? f.bool('attention_bias', false) : false;
  const dtypeRaw = json.torch_dtype ?? json.dtype ?? null;
  if (dtypeRaw !== null && typeof dtypeRaw !== 'string') f.fail('torch_dtype', 'a dtype name such as "bfloat16"');
  const torchDtype = dtypeRaw as string | null;

  return {
    architecture: arch,
    vocabSize,
    hiddenSize,
    intermediateSize,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    ...parseRope(f),
    rmsNormEps: f.positiveNumber('rms_norm_eps', d.rmsNormEps),
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    attentionBias: qkvBias,
    outputBias: arch === 'llama' && qkvBias,
    ...parseSlidingWindow(f, arch, nLayers),
    maxPositionEmbeddings: f.positiveInt('max_position_embeddings', d.maxPositionEmbeddings),
    bosTokenId: f.tokenId('bos_token_id', d.bos),
    eosTokenIds: f.tokenIds('eos_token_id', d.eos),
    torchDtype,
  };
}
