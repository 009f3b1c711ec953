/**
 * safetensors: byte sources (Blob/File, a Node file, a URL with Range requests), the header reader with
 * full validation, and the sharded checkpoint index. Reading tensor data is left to the uploader, which
 * streams it in pieces.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {...} }`, then the data; offsets
 * are relative to the first data byte.
 */
import { isRecord, ModelLoadError, parseJsonFile } from './errors';

/** Random access to the bytes of one file. */
export interface ByteSource {
  /** The file's name (no directory), used in error messages. */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`; rejects when the range is outside the file. */
  read(offset: number, length: number): Promise<Uint8Array<ArrayBuffer>>;
  /** The whole file in one plain request, where that is cheaper or more robust than a ranged read. */
  readWhole?(): Promise<Uint8Array<ArrayBuffer>>;
}

export type TensorDtype = 'F32' | 'F16' | 'BF16';

export const ELEMENT_BYTES: Record<TensorDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** One tensor of a checkpoint: where its bytes are and what they hold. */
export interface TensorEntry {
  name: string;
  source: ByteSource;
  dtype: TensorDtype;
  shape: number[];
  /** Absolute byte offset in `source`. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  /** 8 + header length: where the data starts. */
  dataStart: number;
  tensors: Map<string, TensorEntry>;
}

/** The safetensors format caps the header at 100 MB; a larger length means a corrupt or foreign file. */
const MAX_HEADER_BYTES = 100_000_000;

function checkRange(src: ByteSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new RangeError(`${src.name}: read of ${length} bytes at ${offset} is outside the file (${src.size} bytes)`);
  }
}

export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? 'blob'): ByteSource {
  const src: ByteSource = {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(src, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
  return src;
}

/** Bytes already in memory (tests, embedded models). */
export function bytesSource(bytes: Uint8Array, name: string): ByteSource {
  const src: ByteSource = {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(src, offset, length);
      return bytes.slice(offset, offset + length);
    },
  };
  return src;
}

/** A file on disk (Node only). Each read opens and closes the file, so nothing is left open. */
export async function nodeFileSource(path: string): Promise<ByteSource> {
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  const { basename } = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
  const { size } = await fs.stat(path);
  const src: ByteSource = {
    name: basename(path),
    size,
    async read(offset, length) {
      checkRange(src, offset, length);
      const out = new Uint8Array(length);
      const fh = await fs.open(path, 'r');
      try {
        let done = 0;
        while (done < length) {
          const { bytesRead } = await fh.read(out, done, length - done, offset + done);
          if (bytesRead === 0) throw new Error(`${basename(path)}: file ended early (it changed while loading?)`);
          done += bytesRead;
        }
      } finally {
        await fh.close();
      }
      return out;
    },
  };
  return src;
}

export interface UrlSourceOptions {
  fetch?: typeof fetch;
  name?: string;
}

/**
 * A file behind a URL, read with Range requests. The size comes from HEAD, or from the Content-Range of
 * a one-byte ranged GET when HEAD gives none. Resolves to undefined on 404.
 */
export async function urlSource(url: string, options: UrlSourceOptions = {}): Promise<ByteSource | undefined> {
  const get = options.fetch ?? fetch;
  const name = options.name ?? decodeURIComponent(new URL(url, 'http://x/').pathname.split('/').pop() ?? url);
  // The size comes from a one-byte ranged GET (Content-Range carries the identity size; a HEAD's
  // Content-Length may describe a compressed body), else from HEAD for servers that ignore Range.
  let size: number | undefined;
  const probe = await get(url, { headers: { Range: 'bytes=0-0' } });
  await probe.body?.cancel();
  if (probe.status === 404 || isHtmlFallback(probe, name)) return undefined;
  const total = /\/(\d+)\s*$/.exec(probe.headers.get('content-range') ?? '')?.[1];
  if (probe.status === 206 && total !== undefined) {
    size = Number(total);
  } else {
    const head = await get(url, { method: 'HEAD' });
    if (head.status === 404 || isHtmlFallback(head, name)) return undefined;
    const len = head.ok ? head.headers.get('content-length') : null;
    if (len !== null && head.headers.get('content-encoding') === null) size = Number(len);
    if (size === undefined || !Number.isSafeInteger(size)) {
      throw new ModelLoadError(name, `the server at ${url} answered ${probe.status} without a Content-Range; it must support HTTP Range requests`);
    }
  }
  const fileSize = size;
  const src: ByteSource = {
    name,
    size: fileSize,
    async read(offset, length) {
      checkRange(src, offset, length);
      if (length === 0) return new Uint8Array(0);
      const res = await get(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
      const whole = res.status === 200 && offset === 0 && length === fileSize;
      if (res.status !== 206 && !whole) {
        await res.body?.cancel();
        throw new ModelLoadError(name, `ranged read of ${url} answered ${res.status}; the server must support HTTP Range requests`);
      }
      let out = new Uint8Array(await res.arrayBuffer());
      // A compressing server may answer a range with the whole (decoded) file from byte 0.
      const from0 = /^bytes 0-/.test(res.headers.get('content-range') ?? '');
      if (out.byteLength > length && from0 && out.byteLength >= offset + length) out = out.slice(offset, offset + length);
      if (out.byteLength !== length) {
        throw new ModelLoadError(name, `ranged read of ${length} bytes at ${offset} returned ${out.byteLength} bytes`);
      }
      return out;
    },
    async readWhole() {
      const res = await get(url);
      if (!res.ok) throw new ModelLoadError(name, `reading ${url} answered ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
  return src;
}

/**
 * A web page where a model file was asked for: single-page-app servers (Vite's preview among them) answer
 * unknown paths with index.html and 200. No model file is HTML, so the file is not there.
 */
function isHtmlFallback(res: Response, name: string): boolean {
  return res.ok && /text\/html/i.test(res.headers.get('content-type') ?? '') && !/\.html?$/i.test(name);
}

export async function readAll(src: ByteSource): Promise<Uint8Array<ArrayBuffer>> {
  return src.readWhole ? src.readWhole() : src.read(0, src.size);
}

function describe(x: unknown): string {
  return JSON.stringify(x) ?? String(x);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Reads and validates the header of one safetensors file. Errors name the file and the tensor. */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsHeader> {
  const file = src.name;
  if (src.size < 8) throw new ModelLoadError(file, `is ${src.size} bytes, too small to be a safetensors file`);
  const prefix = new DataView((await src.read(0, 8)).buffer);
  const lo = prefix.getUint32(0, true);
  const hi = prefix.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > src.size - 8) {
    throw new ModelLoadError(file, `header length ${n} is beyond the file size (${src.size} bytes): the file is truncated or not safetensors`);
  }
  if (n > MAX_HEADER_BYTES || n < 2) {
    throw new ModelLoadError(file, `header length ${n} is not plausible (expected 2 to ${MAX_HEADER_BYTES} bytes): not a safetensors file`);
  }
  const json = parseJsonFile(await src.read(8, n), file);
  if (!isRecord(json)) throw new ModelLoadError(file, 'header is not a JSON object');

  const dataStart = 8 + n;
  const dataBytes = src.size - dataStart;
  const tensors = new Map<string, TensorEntry>();
  for (const [name, info] of Object.entries(json)) {
    if (name === '__metadata__') continue;
    const bad: (what: string) => never = (what) => {
      throw new ModelLoadError(file, `tensor ${name} ${what}`, { tensor: name });
    };
    if (!isRecord(info)) bad('has no {dtype, shape, data_offsets} entry in the header');
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string') bad(`has dtype ${describe(dtype)}, expected a string`);
    if (!(dtype in ELEMENT_BYTES)) bad(`has dtype ${dtype}, supported: ${Object.keys(ELEMENT_BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) bad(`has shape ${describe(shape)}, expected a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt) || offsets[0] > offsets[1]) {
      bad(`has data_offsets ${describe(offsets)}, expected [begin, end] with begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataBytes) bad(`has data_offsets [${begin}, ${end}] beyond the end of the data (${dataBytes} bytes): the file is truncated`);
    const dims = shape as number[];
    const expected = dims.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[dtype as TensorDtype];
    if (end - begin !== expected) {
      bad(`has shape ${describe(dims)} × ${dtype} = ${expected} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    tensors.set(name, {
      name,
      source: src,
      dtype: dtype as TensorDtype,
      shape: dims,
      offset: dataStart + begin,
      byteLength: end - begin,
    });
  }
  return { dataStart, tensors };
}

export const SHARD_INDEX = 'model.safetensors.index.json';

/** model.safetensors.index.json → tensor name → shard file name. */
export function parseShardIndex(json: unknown, file = SHARD_INDEX): Map<string, string> {
  if (!isRecord(json) || !isRecord(json.weight_map)) {
    throw new ModelLoadError(file, 'field weight_map is missing, expected an object mapping tensor names to shard files');
  }
  const map = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(json.weight_map)) {
    if (typeof shard !== 'string' || shard.length === 0 || shard.includes('/') || shard.includes('\\')) {
      throw new ModelLoadError(file, `weight_map entry for tensor ${tensor} is ${describe(shard)}, expected a shard file name`, { tensor });
    }
    map.set(tensor, shard);
  }
  if (map.size === 0) throw new ModelLoadError(file, 'weight_map is empty');
  return map;
}

/**
 * Reads every shard named by the index and checks that each holds the tensors the index assigns it.
 * Tensors a shard holds but the index does not list are ignored, as transformers does.
 */
export async function readShardedHeaders(
  index: Map<string, string>,
  open: (shard: string) => Promise<ByteSource | undefined>,
  indexFile = SHARD_INDEX,
): Promise<Map<string, TensorEntry>> {
  const shards = [...new Set(index.values())];
  const headers = new Map<string, SafetensorsHeader>();
  for (const shard of shards) {
    const src = await open(shard);
    if (!src) {
      const first = [...index].find(([, s]) => s === shard)?.[0];
      throw new ModelLoadError(shard, `is missing: ${indexFile} places tensor ${first} in it`, { tensor: first });
    }
    headers.set(shard, await readSafetensorsHeader(src));
  }
  const tensors = new Map<string, TensorEntry>();
  for (const [tensor, shard] of index) {
    const entry = headers.get(shard)?.tensors.get(tensor);
    if (!entry) throw new ModelLoadError(shard, `does not contain tensor ${tensor}, which ${indexFile} places in it`, { tensor });
    tensors.set(tensor, entry);
  }
  return tensors;
}
