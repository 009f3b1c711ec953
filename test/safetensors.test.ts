import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  blobSource,
  bytesSource,
  nodeFileSource,
  parseShardIndex,
  readSafetensorsHeader,
  readShardedHeaders,
  urlSource,
  type ByteSource,
} from '../src/model/safetensors';
import { randn } from '../src/ref/random';
import { encodeValues, writeSafetensors, type TestTensor } from './safetensors-writer';
import { loadRejection, writeTempDir } from './model-fixture';

const tensors: TestTensor[] = [
  { name: 'a.weight', dtype: 'F32', shape: [3, 5], values: randn(1, 15) },
  { name: 'b.weight', dtype: 'F16', shape: [7], values: randn(2, 7) },
  { name: 'c.weight', dtype: 'BF16', shape: [2, 3, 2], values: randn(3, 12) },
  { name: 'empty', dtype: 'F32', shape: [0, 4], values: new Float32Array(0) },
];


async function checkRoundTrip(src: ByteSource): Promise<void> {
  const header = await readSafetensorsHeader(src);
  expect([...header.tensors.keys()]).toEqual(tensors.map((t) => t.name));
  for (const t of tensors) {
    const e = header.tensors.get(t.name)!;
    expect(e).toMatchObject({ name: t.name, dtype: t.dtype, shape: t.shape, source: src });
    const bytes = await src.read(e.offset, e.byteLength);
    expect(bytes).toEqual(encodeValues(t.values!, t.dtype));
  }
}

/** A fetch over in-memory files that honours HEAD and single Range requests (optionally not). */
function fakeFetch(files: Record<string, Uint8Array>, opts: { ranges?: boolean; head?: boolean } = {}): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const body = files[url.pathname];
    if (!body) return new Response('not found', { status: 404 });
    if (init?.method === 'HEAD') {
      if (opts.head === false) return new Response(null, { status: 405 });
      return new Response(null, { status: 200, headers: { 'content-length': String(body.length) } });
    }
    const range = new Headers(init?.headers).get('range');
    const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    if (!m || opts.ranges === false) return new Response(body.slice(), { status: 200 });
    const [from, to] = [Number(m[1]), Math.min(Number(m[2]), body.length - 1)];
    return new Response(body.slice(from, to + 1), {
      status: 206,
      headers: { 'content-range': `bytes ${from}-${to}/${body.length}` },
    });
  }) as typeof fetch;
}

describe('safetensors reader', () => {
  const file = writeSafetensors(tensors, { metadata: { format: 'pt' } });

  it('round-trips through memory, a Blob, a Node file and a URL', async () => {
    await checkRoundTrip(bytesSource(file, 'model.safetensors'));
    await checkRoundTrip(blobSource(new Blob([file]), 'model.safetensors'));
    const dir = await writeTempDir({ 'model.safetensors': file });
    const disk = await nodeFileSource(join(dir, 'model.safetensors'));
    expect(disk.name).toBe('model.safetensors');
    expect(disk.size).toBe(file.length);
    await checkRoundTrip(disk);
    const remote = await urlSource('http://host/m/model.safetensors', { fetch: fakeFetch({ '/m/model.safetensors': file }) });
    expect(remote?.name).toBe('model.safetensors');
    await checkRoundTrip(remote!);
  });

  it('gets a URL size from a ranged GET when HEAD is refused, and answers 404 with undefined', async () => {
    const f = fakeFetch({ '/model.safetensors': file }, { head: false });
    const src = await urlSource('http://host/model.safetensors', { fetch: f });
    expect(src?.size).toBe(file.length);
    await checkRoundTrip(src!);
    expect(await urlSource('http://host/missing.safetensors', { fetch: f })).toBeUndefined();
  });

  it('treats a single-page-app fallback (index.html with 200) as a missing file', async () => {
    const spa = (async () => new Response('<!doctype html><html></html>', { status: 200, headers: { 'content-type': 'text/html' } })) as typeof fetch;
    expect(await urlSource('http://host/model.safetensors', { fetch: spa })).toBeUndefined();
  });

  it('refuses a server without Range support', async () => {
    const src = await urlSource('http://host/model.safetensors', { fetch: fakeFetch({ '/model.safetensors': file }, { ranges: false }) });
    const e = await loadRejection(src!.read(8, 16));
    expect(e.message).toMatch(/must support HTTP Range requests/);
  });

  it('rejects reads outside the file', async () => {
    await expect(bytesSource(file, 'x').read(file.length - 2, 4)).rejects.toThrow(/outside the file/);
  });

  const broken: [string, () => ByteSource, RegExp][] = [
    ['a file shorter than 8 bytes', () => bytesSource(file.slice(0, 5), 'model.safetensors'), /is 5 bytes, too small to be a safetensors file/],
    [
      'a header length beyond the file',
      () => bytesSource(file.slice(0, 40), 'model.safetensors'),
      /header length \d+ is beyond the file size \(40 bytes\)/,
    ],
    [
      'an absurd header length',
      () => {
        const prefix = new Uint8Array(8);
        new DataView(prefix.buffer).setBigUint64(0, 200_000_000n, true);
        return { name: 'model.safetensors', size: 2 ** 40, read: () => Promise.resolve(prefix) };
      },
      /header length 200000000 is not plausible/,
    ],
    [
      'corrupt JSON',
      () => {
        const f = file.slice();
        f[8] = 0x5b; // '{' → '['... then garbage
        f[9] = 0x7d;
        return bytesSource(f, 'model.safetensors');
      },
      /model\.safetensors: is not valid JSON/,
    ],
    [
      'truncated data',
      () => bytesSource(file.slice(0, file.length - 3), 'model.safetensors'),
      /tensor c\.weight has data_offsets \[\d+, \d+\] beyond the end of the data/,
    ],
  ];
  it.each(broken)('rejects %s, naming the file', async (_what, make, message) => {
    const e = await loadRejection(readSafetensorsHeader(make()));
    expect(e.file).toBe('model.safetensors');
    expect(e.message).toMatch(message);
  });

  const badHeaders: [string, (h: Record<string, unknown>) => unknown, RegExp][] = [
    [
      'an unsupported dtype',
      (h) => ({ ...h, 'b.weight': { ...(h['b.weight'] as object), dtype: 'I8' } }),
      /tensor b\.weight has dtype I8, supported: F32, F16, BF16/,
    ],
    [
      'offsets beyond the data',
      (h) => ({ ...h, 'a.weight': { dtype: 'F32', shape: [3, 5], data_offsets: [1000, 1060] } }),
      /tensor a\.weight has data_offsets \[1000, 1060\] beyond the end of the data/,
    ],
    [
      'reversed offsets',
      (h) => ({ ...h, 'a.weight': { dtype: 'F32', shape: [3, 5], data_offsets: [60, 0] } }),
      /tensor a\.weight has data_offsets \[60,0\], expected \[begin, end\] with begin <= end/,
    ],
    [
      'a shape that disagrees with the byte count',
      (h) => ({ ...h, 'a.weight': { ...(h['a.weight'] as object), shape: [3, 4] } }),
      /tensor a\.weight has shape \[3,4\] × F32 = 48 bytes, but data_offsets \[0, 60\] span 60/,
    ],
    ['a negative dimension', (h) => ({ ...h, 'a.weight': { ...(h['a.weight'] as object), shape: [-3, 5] } }), /tensor a\.weight has shape \[-3,5\]/],
    ['a header that is a list', () => [1, 2], /header is not a JSON object/],
  ];
  it.each(badHeaders)('rejects %s, naming the tensor', async (_what, header, message) => {
    const src = bytesSource(writeSafetensors(tensors, { header }), 'model-00001-of-00002.safetensors');
    const e = await loadRejection(readSafetensorsHeader(src));
    expect(e.file).toBe('model-00001-of-00002.safetensors');
    expect(e.message).toMatch(message);
  });
});

describe('sharded checkpoints', () => {
  const shard1 = writeSafetensors(tensors.slice(0, 2));
  const shard2 = writeSafetensors(tensors.slice(2));
  const index = {
    metadata: { total_size: 0 },
    weight_map: { 'a.weight': 's1.safetensors', 'b.weight': 's1.safetensors', 'c.weight': 's2.safetensors', empty: 's2.safetensors' },
  };

  it('maps every tensor to its shard', async () => {
    const dir = await writeTempDir({ 's1.safetensors': shard1, 's2.safetensors': shard2 });
    const map = parseShardIndex(index);
    expect(map.get('c.weight')).toBe('s2.safetensors');
    const all = await readShardedHeaders(map, (s) => nodeFileSource(join(dir, s)));
    expect(all.get('a.weight')?.source.name).toBe('s1.safetensors');
    expect(all.get('c.weight')?.source.name).toBe('s2.safetensors');
    const c = all.get('c.weight')!;
    expect(await c.source.read(c.offset, c.byteLength)).toEqual(encodeValues(tensors[2].values!, 'BF16'));
  });

  it('names a missing shard and a tensor its shard lacks', async () => {
    const open = (s: string) => Promise.resolve(s === 's1.safetensors' ? bytesSource(shard1, s) : undefined);
    const missing = await loadRejection(readShardedHeaders(parseShardIndex(index), open));
    expect(missing.file).toBe('s2.safetensors');
    expect(missing.message).toMatch(/s2\.safetensors: is missing: model\.safetensors\.index\.json places tensor c\.weight in it/);

    const wrong = { weight_map: { ...index.weight_map, 'c.weight': 's1.safetensors' } };
    const both = (s: string) => Promise.resolve(bytesSource(s === 's1.safetensors' ? shard1 : shard2, s));
    const lacks = await loadRejection(readShardedHeaders(parseShardIndex(wrong), both));
    expect(lacks.message).toBe('s1.safetensors: does not contain tensor c.weight, which model.safetensors.index.json places in it');
    expect(lacks.tensor).toBe('c.weight');
  });

  it('rejects an index without a weight_map or with a path as shard', () => {
    expect(() => parseShardIndex({ metadata: {} })).toThrow(/field weight_map is missing/);
    expect(() => parseShardIndex({ weight_map: { a: '../x.safetensors' } })).toThrow(/weight_map entry for tensor a is "\.\.\/x\.safetensors"/);
  });

  it('reads a file written to disk in pieces the same as in memory', async () => {
    const dir = await writeTempDir({});
    await writeFile(join(dir, 'm.safetensors'), shard2);
    const src = await nodeFileSource(join(dir, 'm.safetensors'));
    expect(await src.read(3, 50)).toEqual(shard2.slice(3, 53));
  });
});
