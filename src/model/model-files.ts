/**
 * A model as a set of named files (a Node directory, a browser FileList, or a base URL), and
 * openCheckpoint: config, tensor index, tokenizer and generation settings, with an error per missing file.
 */
import { parseConfig, type ModelConfig } from './config';
import { isRecord, ModelLoadError, parseJsonFile } from './errors';
import {
  blobSource,
  nodeFileSource,
  parseShardIndex,
  readAll,
  readSafetensorsHeader,
  readShardedHeaders,
  SHARD_INDEX,
  urlSource,
  type ByteSource,
  type TensorEntry,
  type UrlSourceOptions,
} from './safetensors';

export interface ModelFiles {
  /** Shown in messages: the directory, folder or URL. */
  readonly name: string;
  /** The file, or undefined when there is no such file. */
  get(fileName: string): Promise<ByteSource | undefined>;
  /** The file names known to exist (for a URL: those found so far). */
  list(): string[];
}

/** A directory on disk (Node only). Only its top level is seen. */
export async function nodeModelFiles(dir: string): Promise<ModelFiles> {
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  const path = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
  let names: string[];
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name);
  } catch (e) {
    throw new ModelLoadError(dir, `cannot read the model directory (${(e as Error).message})`, { cause: e });
  }
  const known = new Set(names);
  return {
    name: dir,
    get: (fileName) => (known.has(fileName) ? nodeFileSource(path.join(dir, fileName)) : Promise.resolve(undefined)),
    list: () => [...known].sort(),
  };
}

/**
 * Files picked in the browser (an <input type=file> with or without webkitdirectory, or dropped files).
 * Each is known by its base name; when a folder holds the same name twice, the shallowest wins.
 */
export function fileListModelFiles(files: Iterable<File> | ArrayLike<File>, name?: string): ModelFiles {
  const byName = new Map<string, { file: File; depth: number }>();
  let top: string | undefined;
  for (const file of Array.from(files as ArrayLike<File>)) {
    const rel = (file as { webkitRelativePath?: string }).webkitRelativePath || file.name;
    const parts = rel.split('/').filter((p) => p.length > 0);
    const base = parts[parts.length - 1] ?? file.name;
    if (parts.length > 1) top ??= parts[0];
    const prev = byName.get(base);
    if (!prev || parts.length < prev.depth) byName.set(base, { file, depth: parts.length });
  }
  return {
    name: name ?? top ?? 'selected files',
    get: (fileName) => {
      const hit = byName.get(fileName);
      return Promise.resolve(hit ? blobSource(hit.file, fileName) : undefined);
    },
    list: () => [...byName.keys()].sort(),
  };
}

/** Files under a base URL, probed (HEAD, then Range) only when asked for. */
export function urlModelFiles(baseUrl: string, options: Pick<UrlSourceOptions, 'fetch'> = {}): ModelFiles {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const probes = new Map<string, Promise<ByteSource | undefined>>();
  const found = new Set<string>();
  return {
    name: base,
    get(fileName) {
      let p = probes.get(fileName);
      if (!p) {
        const url = new URL(encodeURIComponent(fileName), new URL(base, globalThis.location?.href ?? 'http://localhost/')).href;
        p = urlSource(url, { ...options, name: fileName }).then((src) => {
          if (src) found.add(fileName);
          return src;
        });
        probes.set(fileName, p);
      }
      return p;
    },
    list: () => [...found].sort(),
  };
}

export interface Checkpoint {
  name: string;
  config: ModelConfig;
  /** Every tensor of the checkpoint (all shards), by name. */
  tensors: Map<string, TensorEntry>;
  /** tokenizer.json as bytes, for Tokenizer.fromJSON. */
  tokenizerJson: Uint8Array;
  /** tokenizer_config.json, or null when absent. */
  tokenizerConfig: Record<string, unknown> | null;
  /** chat_template.jinja, else chat_template.json, else tokenizer_config.json's chat_template; null if none. */
  chatTemplate: string | ChatTemplateList | null;
  /** generation_config.json as parsed JSON (see parseGenerationConfig), or null when absent. */
  generationConfig: Record<string, unknown> | null;
}

/** A list of named templates, as tokenizer_config.json may hold: [{ name, template }]. */
export type ChatTemplateList = { name: string; template: string }[];

/** Largest JSON side file read whole (tokenizer.json of large vocabularies is ~10 MB). */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

async function readSmall(src: ByteSource): Promise<Uint8Array> {
  if (src.size > MAX_JSON_BYTES) throw new ModelLoadError(src.name, `is ${src.size} bytes, too large for a JSON side file`);
  return readAll(src);
}

async function required(files: ModelFiles, fileName: string, why: string): Promise<ByteSource> {
  const src = await files.get(fileName);
  if (!src) throw new ModelLoadError(fileName, `is missing from ${files.name}; it is required (${why})`);
  return src;
}

async function optionalJson(files: ModelFiles, fileName: string): Promise<unknown> {
  const src = await files.get(fileName);
  return src ? parseJsonFile(await readSmall(src), fileName) : undefined;
}

function chatTemplateFrom(x: unknown, file: string): string | ChatTemplateList | null {
  if (x === undefined || x === null) return null;
  if (typeof x === 'string') return x;
  if (Array.isArray(x) && x.every((t) => isRecord(t) && typeof t.name === 'string' && typeof t.template === 'string')) {
    return x as ChatTemplateList;
  }
  throw new ModelLoadError(file, 'field chat_template is neither a string nor a list of {name, template}');
}

async function readTensors(files: ModelFiles): Promise<Map<string, TensorEntry>> {
  const single = await files.get('model.safetensors');
  if (single) return (await readSafetensorsHeader(single)).tensors;
  const indexSrc = await files.get(SHARD_INDEX);
  if (indexSrc) {
    const index = parseShardIndex(parseJsonFile(await readSmall(indexSrc), SHARD_INDEX));
    return readShardedHeaders(index, (shard) => files.get(shard));
  }
  const hasBin = (await files.get('pytorch_model.bin')) ?? (await files.get('pytorch_model.bin.index.json'));
  throw new ModelLoadError(
    'model.safetensors',
    `no weights in ${files.name}: neither model.safetensors nor ${SHARD_INDEX} is there` +
      (hasBin ? ' (only PyTorch .bin weights, which are not supported: convert them to safetensors)' : ''),
  );
}

export async function openCheckpoint(files: ModelFiles): Promise<Checkpoint> {
  const configSrc = await required(files, 'config.json', 'the model architecture');
  const tokenizerSrc = await required(files, 'tokenizer.json', 'the Hugging Face fast-tokenizer file');
  const config = parseConfig(parseJsonFile(await readSmall(configSrc), 'config.json'));
  const tensors = await readTensors(files);
  const tokenizerJson = await readSmall(tokenizerSrc);

  const tc = await optionalJson(files, 'tokenizer_config.json');
  if (tc !== undefined && !isRecord(tc)) throw new ModelLoadError('tokenizer_config.json', 'expected a JSON object at the top level');
  const tokenizerConfig = tc ?? null;

  let chatTemplate: string | ChatTemplateList | null = null;
  const jinja = await files.get('chat_template.jinja');
  if (jinja) {
    chatTemplate = new TextDecoder().decode(await readSmall(jinja));
  } else {
    const ct = await optionalJson(files, 'chat_template.json');
    if (ct !== undefined) {
      chatTemplate = chatTemplateFrom(isRecord(ct) ? ct.chat_template : undefined, 'chat_template.json');
    } else if (tokenizerConfig) {
      chatTemplate = chatTemplateFrom(tokenizerConfig.chat_template, 'tokenizer_config.json');
    }
  }

  const gen = await optionalJson(files, 'generation_config.json');
  if (gen !== undefined && !isRecord(gen)) throw new ModelLoadError('generation_config.json', 'expected a JSON object at the top level');
  const generationConfig = gen ?? null;
  return { name: files.name, config, tensors, tokenizerJson, tokenizerConfig, chatTemplate, generationConfig };
}
