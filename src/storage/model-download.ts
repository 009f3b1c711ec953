/**
 * "Load from URL": finds the files of a Hugging Face model folder under a base URL and downloads them
 * into IndexedDB chunk by chunk with Range requests. Progress is in bytes; calling it again for the same
 * URL resumes after the last stored chunk.
 */
import { CHUNK_BYTES, chunkCount, getModel, putChunk, putModel, type StoredFile, type StoredModel } from './model-store';

export const REQUIRED_FILES = ['config.json', 'tokenizer.json'];
export const OPTIONAL_FILES = ['tokenizer_config.json', 'generation_config.json', 'chat_template.jinja', 'chat_template.json', 'special_tokens_map.json'];
export const SHARD_INDEX = 'model.safetensors.index.json';

export interface RemoteModel {
  baseUrl: string;
  files: { name: string; size: number }[];
  /** config.json as parsed. */
  config: Record<string, unknown>;
}

export interface DownloadProgress {
  bytesLoaded: number;
  bytesTotal: number;
  file: string;
}

type Fetch = typeof fetch;

export function normalizeBaseUrl(url: string, base = globalThis.location?.href ?? 'http://localhost/'): string {
  const u = new URL(url, base).href;
  return u.endsWith('/') ? u : `${u}/`;
}

/** Size of a file behind a URL, or undefined on 404. */
async function remoteSize(url: string, f: Fetch): Promise<number | undefined> {
  const head = await f(url, { method: 'HEAD' });
  // An SPA server answers unknown paths with its index page: no model file is HTML.
  if (head.status === 404 || /text\/html/i.test(head.headers.get('content-type') ?? '')) return undefined;
  const len = head.ok ? head.headers.get('content-length') : null;
  if (len !== null && !head.headers.get('content-encoding')) return Number(len);
  const probe = await f(url, { headers: { Range: 'bytes=0-0' } });
  if (probe.status === 404) return undefined;
  const total = /\/(\d+)\s*$/.exec(probe.headers.get('content-range') ?? '')?.[1];
  await probe.body?.cancel();
  if (total === undefined) throw new Error(`${url}: the server gives no size (no Content-Length, no Range support)`);
  return Number(total);
}

/** Lists the model's files with their sizes and reads config.json. Throws naming what is missing. */
export async function inspectRemoteModel(baseUrl: string, f: Fetch = fetch): Promise<RemoteModel> {
  const base = normalizeBaseUrl(baseUrl);
  const at = (n: string) => new URL(encodeURIComponent(n), base).href;
  const files: { name: string; size: number }[] = [];
  for (const name of REQUIRED_FILES) {
    const size = await remoteSize(at(name), f);
    if (size === undefined) throw new Error(`${name} is missing at ${base}; a Hugging Face model folder needs it`);
    files.push({ name, size });
  }
  for (const name of OPTIONAL_FILES) {
    const size = await remoteSize(at(name), f);
    if (size !== undefined) files.push({ name, size });
  }
  const single = await remoteSize(at('model.safetensors'), f);
  if (single !== undefined) {
    files.push({ name: 'model.safetensors', size: single });
  } else {
    const res = await f(at(SHARD_INDEX));
    if (!res.ok) throw new Error(`no weights at ${base}: neither model.safetensors nor ${SHARD_INDEX} is there`);
    const text = await res.text();
    files.push({ name: SHARD_INDEX, size: new TextEncoder().encode(text).byteLength });
    const index = JSON.parse(text) as { weight_map?: Record<string, string> };
    for (const shard of new Set(Object.values(index.weight_map ?? {}))) {
      const size = await remoteSize(at(shard), f);
      if (size === undefined) throw new Error(`${shard} (listed in ${SHARD_INDEX}) is missing at ${base}`);
      files.push({ name: shard, size });
    }
  }
  const cfgRes = await f(at('config.json'));
  let config: unknown;
  try {
    config = await cfgRes.json();
  } catch {
    throw new Error(`config.json at ${base} is not valid JSON`);
  }
  if (typeof config !== 'object' || config === null) throw new Error(`config.json at ${base} is not a JSON object`);
  return { baseUrl: base, files, config: config as Record<string, unknown> };
}

export function modelIdForUrl(baseUrl: string): string {
  return `url:${normalizeBaseUrl(baseUrl)}`;
}

function displayName(base: string): string {
  const parts = new URL(base).pathname.split('/').filter(Boolean);
  return parts[parts.length - 1] ?? base;
}

async function fetchChunk(url: string, file: StoredFile, i: number, f: Fetch, signal?: AbortSignal): Promise<ArrayBuffer> {
  const start = i * CHUNK_BYTES;
  const end = Math.min(file.size, start + CHUNK_BYTES) - 1;
  const res = await f(url, { headers: { Range: `bytes=${start}-${end}` }, signal });
  if (res.status === 206) return res.arrayBuffer();
  if (res.status === 200) {
    // No Range support: take the slice out of the whole file (no resume inside this file).
    const all = await res.arrayBuffer();
    return all.slice(start, end + 1);
  }
  throw new Error(`${file.name}: the server answered ${res.status} for bytes ${start}-${end}`);
}

/**
 * Downloads (or resumes) the model at baseUrl into IndexedDB and returns its record. Stops with an
 * AbortError when `signal` aborts; what was stored stays and the next call resumes.
 */
export async function downloadModel(
  baseUrl: string,
  o: { onProgress?: (p: DownloadProgress) => void; signal?: AbortSignal; fetch?: Fetch; remote?: RemoteModel } = {},
): Promise<StoredModel> {
  const f = o.fetch ?? fetch;
  const remote = o.remote ?? (await inspectRemoteModel(baseUrl, f));
  const id = modelIdForUrl(remote.baseUrl);
  const old = await getModel(id);
  const sameFiles = old && old.files.length === remote.files.length && old.files.every((x, i) => x.name === remote.files[i].name && x.size === remote.files[i].size);
  const m: StoredModel = sameFiles
    ? old
    : { id, name: displayName(remote.baseUrl), source: remote.baseUrl, files: remote.files.map((x) => ({ ...x, chunks: 0 })), createdAt: Date.now(), complete: false };
  await putModel(m);
  const bytesTotal = m.files.reduce((s, x) => s + x.size, 0);
  let bytesLoaded = m.files.reduce((s, x) => s + Math.min(x.size, x.chunks * CHUNK_BYTES), 0);
  o.onProgress?.({ bytesLoaded, bytesTotal, file: '' });
  for (const file of m.files) {
    const url = new URL(encodeURIComponent(file.name), remote.baseUrl).href;
    for (let i = file.chunks; i < chunkCount(file.size); i++) {
      o.signal?.throwIfAborted();
      const bytes = await fetchChunk(url, file, i, f, o.signal);
      await putChunk(m, file.name, i, bytes);
      file.chunks = i + 1;
      await putModel(m);
      bytesLoaded += bytes.byteLength;
      o.onProgress?.({ bytesLoaded, bytesTotal, file: file.name });
    }
  }
  m.complete = true;
  await putModel(m);
  return m;
}
