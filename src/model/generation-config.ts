/**
 * generation_config.json → sampling defaults. Absent fields take transformers' GenerationConfig
 * defaults; end-of-sequence ids fall back to config.json's.
 */
import type { ModelConfig } from './config';
import { isRecord, ModelLoadError } from './errors';

export interface GenerationConfig {
  /** Stop on any of these (generation_config's eos_token_id, else config.json's). */
  eosTokenIds: number[];
  bosTokenId: number | null;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  /** null when the file does not set max_new_tokens. */
  maxNewTokens: number | null;
}

export function defaultGenerationConfig(model?: Pick<ModelConfig, 'eosTokenIds' | 'bosTokenId'>): GenerationConfig {
  return {
    eosTokenIds: model?.eosTokenIds.slice() ?? [],
    bosTokenId: model?.bosTokenId ?? null,
    doSample: false,
    temperature: 1,
    topK: 50,
    topP: 1,
    repetitionPenalty: 1,
    maxNewTokens: null,
  };
}

export function parseGenerationConfig(
  json: unknown,
  model?: Pick<ModelConfig, 'eosTokenIds' | 'bosTokenId'>,
  fileName = 'generation_config.json',
): GenerationConfig {
  const out = defaultGenerationConfig(model);
  if (json === null || json === undefined) return out;
  if (!isRecord(json)) throw new ModelLoadError(fileName, 'expected a JSON object at the top level');
  const fail = (field: string, expected: string): never => {
    throw new ModelLoadError(fileName, `field ${field} is ${JSON.stringify(json[field])}, expected ${expected}`);
  };
  const isId = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  const num = (field: string, ok: (x: number) => boolean, expected: string, fallback: number): number => {
    const v = json[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) fail(field, expected);
    return v as number;
  };

  const eos = json.eos_token_id;
  if (eos !== undefined && eos !== null) {
    const list = Array.isArray(eos) ? eos : [eos];
    if (!list.every(isId)) fail('eos_token_id', 'a token id or a list of token ids');
    out.eosTokenIds = [...new Set(list as number[])];
  }
  if (json.bos_token_id !== undefined && json.bos_token_id !== null) {
    if (!isId(json.bos_token_id)) fail('bos_token_id', 'a token id');
    out.bosTokenId = json.bos_token_id as number;
  }
  if (json.do_sample !== undefined && json.do_sample !== null) {
    if (typeof json.do_sample !== 'boolean') fail('do_sample', 'true or false');
    out.doSample = json.do_sample as boolean;
  }
  out.temperature = num('temperature', (x) => x >= 0, 'a number >= 0', out.temperature);
  out.topK = num('top_k', (x) => Number.isSafeInteger(x) && x >= 0, 'a non-negative integer', out.topK);
  out.topP = num('top_p', (x) => x > 0 && x <= 1, 'a number in (0, 1]', out.topP);
  out.repetitionPenalty = num('repetition_penalty', (x) => x > 0, 'a positive number', out.repetitionPenalty);
  const mnt = json.max_new_tokens;
  if (mnt !== undefined && mnt !== null) {
    if (typeof mnt !== 'number' || !Number.isSafeInteger(mnt) || mnt <= 0) fail('max_new_tokens', 'a positive integer');
    out.maxNewTokens = mnt as number;
  }
  return out;
}
