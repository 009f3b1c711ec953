import { beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../src/model/errors';
import { Tokenizer } from '../src/model/tokenizer';
import { wordLevelTokenizerJson } from './model-fixture';

/**
 * A hand-written Llama-style tokenizer.json: BPE over "▁"-prefixed text with byte fallback (<0xNN>
 * tokens 3..258), a decoder that turns "▁" back into spaces and strips the first one, and a
 * post-processor that prepends <s>.
 */
function llamaStyleTokenizerJson(): Uint8Array {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', 'he', 'll', '▁he', 'llo', '▁hello', '▁w', 'or', '▁wor', 'ld', '▁world', ','];
  for (const p of pieces) vocab[p] = Object.keys(vocab).length;
  const merges = [['h', 'e'], ['l', 'l'], ['▁', 'he'], ['ll', 'o'], ['▁he', 'llo'], ['▁', 'w'], ['o', 'r'], ['▁w', 'or'], ['l', 'd'], ['▁wor', 'ld']];
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: false },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges },
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

const byte = (b: number) => 3 + b;

describe('Tokenizer (Llama-style BPE with byte fallback)', () => {
  let tok: Tokenizer;
  let ids: Record<string, number>;
  beforeAll(async () => {
    tok = await Tokenizer.load(llamaStyleTokenizerJson(), { bos_token: { content: '<s>', special: true }, eos_token: '</s>', add_bos_token: true }, { eosTokenIds: [2] });
    ids = { hello: tok.tokenToId('▁hello')!, world: tok.tokenToId('▁world')!, space: tok.tokenToId('▁')! };
  });

  it('encodes with BOS by default, without when asked', () => {
    expect(tok.encode('hello world')).toEqual([1, ids.hello, ids.world]);
    expect(tok.encode('hello world', { addBos: false })).toEqual([ids.hello, ids.world]);
    expect(tok.encode('hello, world', { addBos: false })).toEqual([ids.hello, tok.tokenToId(',')!, ids.world]);
  });

  it('falls back to bytes for characters outside the vocabulary', () => {
    expect(tok.encode('hello ü', { addBos: false })).toEqual([ids.hello, ids.space, byte(0xc3), byte(0xbc)]);
  });

  it('decodes, skipping special tokens unless asked', () => {
    const all = tok.encode('hello ü world');
    expect(tok.decode([...all, 2])).toBe('hello ü world');
    expect(tok.decode([...all, 2], { skipSpecial: false })).toContain('</s>');
    expect(tok.decode([])).toBe('');
  });

  it('knows its ids, tokens, vocabulary and special tokens', () => {
    expect(tok.vocabSize).toBe(3 + 256 + 19);
    expect(tok.idToToken(ids.hello)).toBe('▁hello');
    expect(tok.idToToken(byte(0x41))).toBe('<0x41>');
    expect(tok.bosId).toBe(1);
    expect(tok.bosToken).toBe('<s>');
    expect(tok.eosIds).toEqual([2]);
    expect(tok.eosToken).toBe('</s>');
    expect(tok.isSpecial(2)).toBe(true);
    expect(tok.isSpecial(ids.hello)).toBe(false);
  });

  it('streams text deltas that never split a character and add up to the whole decode', () => {
    const text = 'hello ü world 😀 hello';
    const all = tok.encode(text);
    const stream = tok.streamDecoder();
    const deltas = all.map((id) => stream.push(id));
    deltas.push(stream.flush());
    expect(deltas.join('')).toBe(text);
    expect(deltas.some((d) => d.includes('\uFFFD'))).toBe(false);
    // The first byte of ü completes nothing; the second completes the character.
    const at = all.indexOf(byte(0xc3));
    expect(deltas[at]).toBe('');
    expect(deltas[at + 1]).toBe('ü');
    // The four bytes of 😀 emit once, on the last.
    const emoji = all.indexOf(byte(0xf0));
    expect(deltas.slice(emoji, emoji + 4)).toEqual(['', '', '', '😀']);
  });

  it('keeps the leading space of the first streamed token after a prompt', () => {
    const prompt = tok.encode('hello');
    const stream = tok.streamDecoder(prompt);
    expect(stream.push(ids.world)).toBe(' world');
    expect(stream.push(2)).toBe('');
    expect(stream.push(ids.hello)).toBe(' hello');
  });

  it('flushes an incomplete character at the end', () => {
    const stream = tok.streamDecoder();
    expect(stream.push(ids.hello)).toBe('hello');
    expect(stream.push(byte(0xc3))).toBe('');
    expect(stream.flush()).toBe('\uFFFD');
  });

  it('infers add-BOS from the post-processor when tokenizer_config does not say', async () => {
    const t = await Tokenizer.load(llamaStyleTokenizerJson(), { bos_token: '<s>' });
    expect(t.addBos).toBe(true);
    const off = await Tokenizer.load(llamaStyleTokenizerJson(), { bos_token: '<s>', add_bos_token: false });
    expect(off.encode('hello')).toEqual([ids.hello]);
  });
});

describe('Tokenizer (WordLevel, ids from config.json)', () => {
  it('uses config ids when tokenizer_config names no tokens, and adds no BOS without a post-processor', async () => {
    const t = await Tokenizer.load(new TextEncoder().encode(wordLevelTokenizerJson(['hello', 'world'])), null, { bosTokenId: 1, eosTokenIds: [2, 4] });
    expect(t.bosId).toBe(1);
    expect(t.bosToken).toBe('<s>');
    expect(t.eosIds).toEqual([2, 4]);
    expect(t.addBos).toBe(false);
    expect(t.encode('hello world')).toEqual([3, 4]);
    expect(t.encode('hello world', { addBos: true })).toEqual([1, 3, 4]);
    expect(t.encode('hello moon')).toEqual([3, 0]);
  });

  it('has no BOS when neither file names one (Qwen2 style)', async () => {
    const t = await Tokenizer.load(new TextEncoder().encode(wordLevelTokenizerJson(['a'])), { bos_token: null, eos_token: '</s>' }, { bosTokenId: null });
    expect(t.bosId).toBeNull();
    expect(t.addBos).toBe(false);
    expect(t.encode('a', { addBos: true })).toEqual([3]);
  });

  it('rejects a tokenizer.json that is not one, naming the file', async () => {
    await expect(Tokenizer.load(new TextEncoder().encode('{"version": "1.0"}'))).rejects.toThrow(ModelLoadError);
    await expect(Tokenizer.load(new TextEncoder().encode('not json'))).rejects.toThrow(/^tokenizer\.json: is not valid JSON/);
  });
});
