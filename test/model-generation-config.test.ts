import { describe, expect, it } from 'vitest';
import { defaultGenerationConfig, parseGenerationConfig } from '../src/model/generation-config';

const model = { eosTokenIds: [2], bosTokenId: 1 };

describe('parseGenerationConfig', () => {
  it('takes transformers defaults and the model config ids when absent', () => {
    expect(parseGenerationConfig(null, model)).toEqual({
      eosTokenIds: [2],
      bosTokenId: 1,
      doSample: false,
      temperature: 1,
      topK: 50,
      topP: 1,
      repetitionPenalty: 1,
      maxNewTokens: null,
    });
    expect(defaultGenerationConfig().eosTokenIds).toEqual([]);
  });

  it('reads every field, eos as a list or a single id', () => {
    const g = parseGenerationConfig(
      { eos_token_id: [151645, 151643], do_sample: true, temperature: 0.7, top_k: 20, top_p: 0.8, repetition_penalty: 1.05, max_new_tokens: 512 },
      model,
    );
    expect(g).toEqual({
      eosTokenIds: [151645, 151643],
      bosTokenId: 1,
      doSample: true,
      temperature: 0.7,
      topK: 20,
      topP: 0.8,
      repetitionPenalty: 1.05,
      maxNewTokens: 512,
    });
    expect(parseGenerationConfig({ eos_token_id: 7 }, model).eosTokenIds).toEqual([7]);
  });

  it.each([
    [{ top_p: 0 }, /field top_p is 0, expected a number in \(0, 1\]/],
    [{ temperature: -1 }, /field temperature is -1, expected a number >= 0/],
    [{ top_k: 1.5 }, /field top_k is 1\.5/],
    [{ do_sample: 'yes' }, /field do_sample is "yes", expected true or false/],
    [{ max_new_tokens: 0 }, /field max_new_tokens is 0, expected a positive integer/],
    [{ eos_token_id: [2, -1] }, /field eos_token_id is \[2,-1\]/],
    [[1], /expected a JSON object/],
  ])('rejects %j, naming the file', (json, message) => {
    expect(() => parseGenerationConfig(json, model)).toThrow(message);
    expect(() => parseGenerationConfig(json, model)).toThrow(/^generation_config\.json: /);
  });
});
