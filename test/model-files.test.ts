import { describe, expect, it } from 'vitest';
import { fileListModelFiles, nodeModelFiles, openCheckpoint, urlModelFiles, type ModelFiles } from '../src/model/model-files';
import { loadRejection, syntheticTensors, tinyConfigJson, wordLevelTokenizerJson, writeTempDir } from './model-fixture';
import { writeSafetensors } from './safetensors-writer';

const configJson = tinyConfigJson('llama');
const tensors = syntheticTensors(configJson, 'F32', 3);
const enc = (x: unknown) => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));

type Bytes = Uint8Array<ArrayBuffer>;

function modelFiles(extra: Record<string, Bytes> = {}, without: string[] = []): Record<string, Bytes> {
  const all: Record<string, Bytes> = {
    'config.json': enc(configJson),
    'tokenizer.json': enc(wordLevelTokenizerJson(['hello', 'world'])),
    'tokenizer_config.json': enc({ bos_token: '<s>', eos_token: { content: '</s>' }, chat_template: '{{ messages[0].content }}' }),
    'generation_config.json': enc({ eos_token_id: [2, 5], temperature: 0.7 }),
    'model.safetensors': writeSafetensors(tensors),
    ...extra,
  };
  for (const w of without) delete all[w];
  return all;
}


function asFiles(files: Record<string, Bytes>, folder: string): File[] {
  return Object.entries(files).map(([name, data]) => {
    const f = new File([data], name);
    Object.defineProperty(f, 'webkitRelativePath', { value: `${folder}/${name}` });
    return f;
  });
}

function fakeServer(files: Record<string, Uint8Array>): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const body = files[decodeURIComponent(new URL(String(input)).pathname.replace(/^\/models\/tiny\//, ''))];
    if (!body) return new Response(null, { status: 404 });
    if (init?.method === 'HEAD') return new Response(null, { headers: { 'content-length': String(body.length) } });
    const m = /^bytes=(\d+)-(\d+)$/.exec(new Headers(init?.headers).get('range') ?? '');
    if (!m) return new Response(body.slice());
    const [a, b] = [Number(m[1]), Number(m[2])];
    return new Response(body.slice(a, b + 1), { status: 206, headers: { 'content-range': `bytes ${a}-${b}/${body.length}` } });
  }) as typeof fetch;
}

async function expectCheckpoint(files: ModelFiles): Promise<void> {
  const ck = await openCheckpoint(files);
  expect(ck.config.hiddenSize).toBe(24);
  expect(ck.tensors.size).toBe(tensors.length);
  const e = ck.tensors.get('model.layers.1.mlp.down_proj.weight')!;
  expect(e.shape).toEqual([24, 40]);
  const bytes = await e.source.read(e.offset, e.byteLength);
  const want = tensors.find((t) => t.name === e.name)!.values!;
  expect(new Float32Array(bytes.buffer)).toEqual(want);
  expect(JSON.parse(new TextDecoder().decode(ck.tokenizerJson)).model.type).toBe('WordLevel');
  expect(ck.tokenizerConfig?.bos_token).toBe('<s>');
  expect(ck.chatTemplate).toBe('{{ messages[0].content }}');
  expect(ck.generationConfig).toEqual({ eos_token_id: [2, 5], temperature: 0.7 });
}

describe('model files and openCheckpoint', () => {
  it('opens a Node directory', async () => {
    const files = await nodeModelFiles(await writeTempDir(modelFiles()));
    expect(files.list()).toContain('model.safetensors');
    await expectCheckpoint(files);
  });

  it('opens a browser folder selection by webkitRelativePath', async () => {
    const files = fileListModelFiles(asFiles(modelFiles(), 'tiny'));
    expect(files.name).toBe('tiny');
    await expectCheckpoint(files);
  });

  it('opens a base URL, probing only the files it asks for', async () => {
    const files = urlModelFiles('http://host/models/tiny', { fetch: fakeServer(modelFiles()) });
    await expectCheckpoint(files);
    expect(files.list()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  });

  it('opens a sharded checkpoint through its index', async () => {
    const half = Math.floor(tensors.length / 2);
    const shards = { 'model-00001-of-00002.safetensors': tensors.slice(0, half), 'model-00002-of-00002.safetensors': tensors.slice(half) };
    const weightMap: Record<string, string> = {};
    for (const [shard, list] of Object.entries(shards)) for (const t of list) weightMap[t.name] = shard;
    const files = modelFiles(
      {
        'model.safetensors.index.json': enc({ metadata: {}, weight_map: weightMap }),
        'model-00001-of-00002.safetensors': writeSafetensors(shards['model-00001-of-00002.safetensors']),
        'model-00002-of-00002.safetensors': writeSafetensors(shards['model-00002-of-00002.safetensors']),
      },
      ['model.safetensors'],
    );
    const ck = await openCheckpoint(await nodeModelFiles(await writeTempDir(files)));
    expect(ck.tensors.size).toBe(tensors.length);
    expect(ck.tensors.get('lm_head.weight')?.source.name).toBe('model-00002-of-00002.safetensors');
  });

  it('prefers chat_template.jinja, and leaves optional files null', async () => {
    const files = modelFiles({ 'chat_template.jinja': enc('{{ bos_token }}') }, ['tokenizer_config.json', 'generation_config.json']);
    const ck = await openCheckpoint(await nodeModelFiles(await writeTempDir(files)));
    expect(ck.chatTemplate).toBe('{{ bos_token }}');
    expect(ck.tokenizerConfig).toBeNull();
    expect(ck.generationConfig).toBeNull();
  });

  it.each([
    ['config.json', /config\.json: is missing from .*; it is required \(the model architecture\)/],
    ['tokenizer.json', /tokenizer\.json: is missing from .*; it is required/],
    ['model.safetensors', /no weights in .*: neither model\.safetensors nor model\.safetensors\.index\.json is there$/],
  ])('names a missing %s', async (missing, message) => {
    const e = await loadRejection(openCheckpoint(fileListModelFiles(asFiles(modelFiles({}, [missing]), 'tiny'))));
    expect(e.file).toBe(missing);
    expect(e.message).toMatch(message);
  });

  it('says that PyTorch .bin weights are not supported', async () => {
    const files = fileListModelFiles(asFiles(modelFiles({ 'pytorch_model.bin': new Uint8Array(8) }, ['model.safetensors']), 'tiny'));
    expect((await loadRejection(openCheckpoint(files))).message).toMatch(/only PyTorch \.bin weights, which are not supported/);
  });

  it('names a config.json that is not JSON', async () => {
    const files = fileListModelFiles(asFiles(modelFiles({ 'config.json': enc('{"vocab_size": 3,') }), 'tiny'));
    const e = await loadRejection(openCheckpoint(files));
    expect(e.file).toBe('config.json');
    expect(e.message).toMatch(/^config\.json: is not valid JSON/);
  });
});
