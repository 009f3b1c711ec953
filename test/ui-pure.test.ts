import { describe, expect, it } from 'vitest';
import { DocumentError, binaryReason, decodeText, kindFromName, pastedDocument, textDocument, MAX_TEXT_FILE_BYTES } from '../src/ui/doc/ingest';
import { htmlToText } from '../src/ui/doc/html-text';
import { normalizeSettings, loadSettings, saveSettings, budgetOf, DEFAULT_SETTINGS, SETTINGS_KEY } from '../src/storage/settings';
import { continuationSuffix } from '../src/worker/continuation';
import { compressedCacheBytes, fullCacheBytes, cacheVerdict, deviceBudget } from '../src/ui/cost';
import { modelFit, modelShape } from '../src/ui/model-fit';
import { explainError } from '../src/ui/errors';
import { contextMessages, documentPrompt } from '../src/ui/prompt';
import { formatBytes } from '../src/ui/format';

const enc = (s: string) => new TextEncoder().encode(s);

describe('document ingestion', () => {
  it('turns HTML into readable text without scripts, styles or tags', () => {
    const html = '<!doctype html><html><head><title>The Title</title><style>p{}</style></head><body><h1>Head&amp;ing</h1><p>One <b>two</b><br>three</p><script>alert(1)</script><ul><li>a</li><li>b</li></ul>&#233;&eacute;&#x41;</body></html>';
    const t = htmlToText(html);
    expect(t.startsWith('The Title\n\nHead&ing')).toBe(true);
    expect(t).toContain('One two\nthree');
    expect(t).toContain('• a\n• b');
    expect(t).not.toContain('alert');
    expect(t).not.toContain('<');
    expect(t).toContain('é&eacute;A'); // unknown named entities stay as written
  });

  it('detects binary files by magic bytes and NUL bytes', () => {
    expect(binaryReason(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2]))).toMatch(/PNG/);
    expect(binaryReason(new Uint8Array([0x41, 0x00, 0x42]))).toMatch(/NUL/);
    expect(binaryReason(enc('plain text\n'))).toBeNull();
    expect(() => textDocument('x.bin', new Uint8Array([1, 2, 3, 0, 5]))).toThrow(DocumentError);
    try {
      textDocument('img.txt', new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0]));
    } catch (e) {
      expect((e as DocumentError).reason).toBe('binary');
      expect((e as Error).message).toMatch(/JPEG/);
    }
  });

  it('decodes UTF-8, UTF-16 with BOM, and legacy 8-bit text', () => {
    expect(decodeText(enc('\ufeffhé'))).toBe('hé');
    expect(decodeText(new Uint8Array([0xff, 0xfe, 0x68, 0x00, 0x69, 0x00]))).toBe('hi');
    expect(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9]))).toBe('café');
  });

  it('classifies by name and sniffs HTML in .txt', () => {
    expect(kindFromName('a.PDF')).toBe('pdf');
    expect(kindFromName('a.htm')).toBe('html');
    expect(kindFromName('a.md')).toBe('md');
    expect(kindFromName('a.bin')).toBeNull();
    expect(textDocument('page.txt', enc('<!DOCTYPE html><p>hi</p>')).kind).toBe('html');
    expect(textDocument('notes.md', enc('# T\r\nbody')).text).toBe('# T\nbody');
  });

  it('rejects empty and oversized documents with the reason', () => {
    expect(() => pastedDocument('   ')).toThrow(/no text/);
    const big = new Uint8Array(MAX_TEXT_FILE_BYTES + 1).fill(0x61);
    expect(() => textDocument('big.txt', big)).toThrow(/MiB/);
    expect(() => pastedDocument('a'.repeat(1_000_001))).toThrow(/characters/);
  });
});

describe('settings', () => {
  it('normalises stored values: unknown policy, clamps, wrong types', () => {
    const s = normalizeSettings({ policy: 'bogus', budgetTokens: -5, retentionPct: '250', greedy: 'yes', maxTokens: 12.6, extra: 1 });
    expect(s.policy).toBe(DEFAULT_SETTINGS.policy);
    expect(s.budgetTokens).toBe(1);
    expect(s.retentionPct).toBe(100);
    expect(s.greedy).toBe(DEFAULT_SETTINGS.greedy);
    expect(s.maxTokens).toBe(13);
    expect(Object.keys(s)).not.toContain('extra');
  });

  it('round-trips through a storage and survives garbage', () => {
    const mem = new Map<string, string>();
    const store = { getItem: (k: string) => mem.get(k) ?? null, setItem: (k: string, v: string) => void mem.set(k, v) };
    const s = { ...DEFAULT_SETTINGS, policy: 'snapkv' as const, budgetMode: 'retention' as const, retentionPct: 5 };
    expect(saveSettings(s, store)).toBe(true);
    expect(loadSettings(store)).toEqual(s);
    expect(budgetOf(loadSettings(store))).toEqual({ retention: 0.05 });
    mem.set(SETTINGS_KEY, '{not json');
    expect(loadSettings(store)).toEqual(normalizeSettings({}));
  });
});

describe('continuation and prompts', () => {
  it('prefills only what the cache does not hold', () => {
    expect(continuationSuffix('<u>doc Q1</u><a>A1', '<u>doc Q1</u><a>A1</a><u>Q2</u><a>')).toBe('</a><u>Q2</u><a>');
    // A template that trims the answer: the suffix starts where the texts part.
    expect(continuationSuffix('<a> A1 ', '<a> A1</a><u>Q2')).toBe('</a><u>Q2');
  });

  it('puts the document in front of the first cached question, the question last', () => {
    const doc = { name: 'd', text: 'The cat is named Tom.' };
    const p = documentPrompt(doc, 'What is the cat called?');
    // the same turn as `cli ask` and `npm run eval`: the format the embedded model was trained on
    expect(p).toBe('The cat is named Tom.\n\nQuestion: What is the cat called?');
    const msgs = contextMessages(doc, [{ role: 'user', content: 'old' }, { role: 'assistant', content: 'x' }, { role: 'user', content: 'Q' }], 2);
    expect(msgs).toEqual([{ role: 'user', content: documentPrompt(doc, 'Q') }]);
  });
});

describe('cost and fit', () => {
  const shape = { nLayers: 32, nKvHeads: 8, headDim: 128, elementBytes: 2 };
  it('full cache bytes are 2·L·H·T·d·bytes', () => {
    expect(fullCacheBytes(shape, 1000)).toBe(2 * 32 * 8 * 1000 * 128 * 2);
  });
  it('compressed is the full cache when T <= B, and ~B tokens per head otherwise', () => {
    expect(compressedCacheBytes(shape, 500, 1024, 'rdkv')).toBe(fullCacheBytes(shape, 500));
    const c = compressedCacheBytes(shape, 100_000, 1024, 'snapkv');
    expect(c).toBe(32 * 8 * 4 * 1024 * 128);
    expect(compressedCacheBytes(shape, 100_000, 1024, 'rdkv')).toBeGreaterThan(c);
  });
  it('says by how much a model does not fit', () => {
    const cfg = { hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 131072, torch_dtype: 'bfloat16' };
    const s = modelShape(cfg);
    expect(s?.headDim).toBe(128);
    const dev = deviceBudget({ maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 }, 8);
    const big = modelFit(16e9, s, dev);
    expect(big.fits).toBe(false);
    expect(big.shortBy).toBeGreaterThan(16e9 - 4 * 2 ** 30);
    expect(big.message).toContain(formatBytes(big.shortBy));
    expect(modelFit(1e6, s, dev, 256).fits).toBe(true);
    const v = cacheVerdict(shape, 128_000, 1024, 'rdkv', 1e9, dev);
    expect(v.fitsFull).toBe(false);
  });
});

describe('error messages', () => {
  it('classifies engine and page errors', () => {
    expect(explainError(Object.assign(new Error('x'), { name: 'NoWebGpuError' })).kind).toBe('no-webgpu');
    const oom = explainError(Object.assign(new Error('GPU out of memory'), { name: 'OutOfMemoryError', requestedBytes: 2 ** 31 }), { budgetTokens: 1024 });
    expect(oom.kind).toBe('oom');
    expect(oom.message).toContain('2.00 GiB');
    expect(oom.hints[0]).toContain('512');
    expect(explainError(Object.assign(new Error('model.safetensors: bad header'), { name: 'ModelLoadError' })).kind).toBe('model');
    expect(explainError(new DocumentError('binary', 'no')).kind).toBe('document');
    expect(explainError(Object.assign(new Error('full'), { name: 'StorageFullError', usage: 10, quota: 10 })).kind).toBe('storage');
    expect(explainError('weird').kind).toBe('generic');
  });
});
