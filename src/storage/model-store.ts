/**
 * Models kept in IndexedDB (idb-keyval): one metadata record per model and its files cut into chunks,
 * so large weights never need one huge value and an interrupted download resumes at the next chunk.
 *   meta:<id>                    StoredModel
 *   chunk:<id>:<file>:<index>    ArrayBuffer (CHUNK_BYTES, the last one shorter)
 */
import { createStore, del, delMany, get, getMany, keys, set, type UseStore } from 'idb-keyval';
import { guardQuota } from './quota';

export const CHUNK_BYTES = 8 * 1024 * 1024;

export interface StoredFile {
  name: string;
  size: number;
  /** Chunks stored so far (complete when chunks = ceil(size / CHUNK_BYTES)). */
  chunks: number;
}

export interface StoredModel {
  id: string;
  name: string;
  /** The base URL it came from, or 'files'. */
  source: string;
  files: StoredFile[];
  createdAt: number;
  complete: boolean;
}

let store: UseStore | null = null;
function db(): UseStore {
  store ??= createStore('rdkv-models', 'kv');
  return store;
}

export const chunkCount = (size: number) => Math.ceil(size / CHUNK_BYTES);
export const totalBytes = (m: StoredModel) => m.files.reduce((s, f) => s + f.size, 0);
export const storedBytes = (m: StoredModel) => m.files.reduce((s, f) => s + Math.min(f.size, f.chunks * CHUNK_BYTES), 0);
export const isFileComplete = (f: StoredFile) => f.chunks >= chunkCount(f.size);

const metaKey = (id: string) => `meta:${id}`;
const chunkKey = (id: string, file: string, i: number) => `chunk:${id}:${file}:${i}`;

export async function listModels(): Promise<StoredModel[]> {
  const metaKeys = (await keys(db())).filter((k): k is string => typeof k === 'string' && k.startsWith('meta:'));
  const metas = await getMany<StoredModel>(metaKeys, db());
  return metas.filter((m): m is StoredModel => !!m).sort((a, b) => a.createdAt - b.createdAt);
}

export async function getModel(id: string): Promise<StoredModel | undefined> {
  return get<StoredModel>(metaKey(id), db());
}

export async function putModel(m: StoredModel): Promise<void> {
  await guardQuota(`the model "${m.name}"`, () => set(metaKey(m.id), m, db()));
}

export async function putChunk(m: StoredModel, file: string, index: number, bytes: ArrayBuffer): Promise<void> {
  await guardQuota(`the model "${m.name}"`, () => set(chunkKey(m.id, file, index), bytes, db()));
}

export async function deleteModel(id: string): Promise<void> {
  const prefix = `chunk:${id}:`;
  const chunkKeys = (await keys(db())).filter((k) => typeof k === 'string' && k.startsWith(prefix));
  await delMany(chunkKeys, db());
  await del(metaKey(id), db());
}

/** Bytes [offset, offset + length) of a stored file, read from the chunks that cover them. */
export async function readStored(m: StoredModel, f: StoredFile, offset: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
  if (offset < 0 || length < 0 || offset + length > f.size) throw new RangeError(`${f.name}: read of ${length} bytes at ${offset} is outside the file`);
  const out = new Uint8Array(length);
  if (length === 0) return out;
  const first = Math.floor(offset / CHUNK_BYTES);
  const last = Math.floor((offset + length - 1) / CHUNK_BYTES);
  const ks: string[] = [];
  for (let i = first; i <= last; i++) ks.push(chunkKey(m.id, f.name, i));
  const chunks = await getMany<ArrayBuffer>(ks, db());
  for (let i = first; i <= last; i++) {
    const c = chunks[i - first];
    if (!c) throw new Error(`${f.name}: chunk ${i} is missing from browser storage (the download was not finished)`);
    const start = i * CHUNK_BYTES;
    const from = Math.max(offset, start) - start;
    const to = Math.min(offset + length, start + c.byteLength) - start;
    out.set(new Uint8Array(c, from, to - from), start + from - offset);
  }
  return out;
}
