/**
 * The tokenizer: Hugging Face tokenizer.json run by @mlc-ai/web-tokenizers (the Rust `tokenizers` crate
 * in wasm), plus what that library leaves out: BOS/EOS from tokenizer_config.json, skipping special
 * tokens when decoding, and streaming decode that never emits half a UTF-8 character.
 */
import { isRecord, ModelLoadError } from './errors';

/** The part of @mlc-ai/web-tokenizers' Tokenizer used here. */
interface WasmTokenizer {
  encode(text: string): Int32Array;
  decode(ids: Int32Array): string;
  getVocabSize(): number;
  idToToken(id: number): string;
  dispose(): void;
}

export interface TokenizerLib {
  Tokenizer: { fromJSON(json: ArrayBuffer): Promise<WasmTokenizer> };
}

let libPromise: Promise<TokenizerLib> | undefined;

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node && typeof (globalThis as { window?: unknown }).window === 'undefined';
}

/**
 * Loads @mlc-ai/web-tokenizers once. In the browser a plain import. In Node the package's UMD bundle
 * breaks as an ES module (`require is not defined`), so its file is evaluated as CommonJS, with its
 * one `await import('module')` (illegal outside an async function there) turned into a require.
 */
export function loadTokenizerLib(): Promise<TokenizerLib> {
  libPromise ??= (isNode() ? loadInNode() : (import('@mlc-ai/web-tokenizers') as Promise<TokenizerLib>)).catch((e: unknown) => {
    libPromise = undefined;
    throw e;
  });
  return libPromise;
}

async function loadInNode(): Promise<TokenizerLib> {
  const moduleName = 'node:module';
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const { createRequire } = (await import(/* @vite-ignore */ moduleName)) as typeof import('node:module');
  const { readFile } = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  const { dirname } = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-tokenizers');
  const source = (await readFile(file, 'utf8')).replace("await import('module')", "require('module')");
  const module = { exports: {} as Record<string, unknown> };
  const run = new Function('exports', 'require', 'module', '__filename', '__dirname', source) as (...args: unknown[]) => void;
  run.call(globalThis, module.exports, require, module, file, dirname(file));
  return module.exports as unknown as TokenizerLib;
}

export interface EncodeOptions {
  /** Prepend BOS; default: tokenizer_config's add_bos_token (else what tokenizer.json's post-processor does). */
  addBos?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, chat markers); default true. */
  skipSpecial?: boolean;
}

/** config.json's ids, used when tokenizer_config.json names no BOS/EOS token. */
export interface TokenIdDefaults {
  bosTokenId?: number | null;
  eosTokenIds?: number[];
}

/** What tokenizer.json itself says: added (special) tokens, the vocabulary, the post-processor. */
interface TokenizerJsonInfo {
  tokenToId: Map<string, number>;
  special: Set<number>;
  postProcessorBos: string | null;
}

function readTokenizerJson(bytes: Uint8Array): TokenizerJsonInfo {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ModelLoadError('tokenizer.json', `is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (!isRecord(json) || !isRecord(json.model)) throw new ModelLoadError('tokenizer.json', 'has no "model" object; is it a Hugging Face tokenizer.json?');
  const tokenToId = new Map<string, number>();
  const vocab = json.model.vocab;
  if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], ...], id = position.
    vocab.forEach((entry, id) => {
      if (Array.isArray(entry) && typeof entry[0] === 'string') tokenToId.set(entry[0], id);
    });
  } else if (isRecord(vocab)) {
    for (const [token, id] of Object.entries(vocab)) if (typeof id === 'number') tokenToId.set(token, id);
  }
  const special = new Set<number>();
  if (Array.isArray(json.added_tokens)) {
    for (const t of json.added_tokens) {
      if (!isRecord(t) || typeof t.id !== 'number' || typeof t.content !== 'string') continue;
      tokenToId.set(t.content, t.id);
      if (t.special === true) special.add(t.id);
    }
  }
  return { tokenToId, special, postProcessorBos: leadingSpecial(json.post_processor) };
}

/** The special token a TemplateProcessing post-processor puts first for a single sequence, if any. */
function leadingSpecial(pp: unknown): string | null {
  if (!isRecord(pp)) return null;
  if (pp.type === 'Sequence' && Array.isArray(pp.processors)) {
    for (const p of pp.processors) {
      const hit = leadingSpecial(p);
      if (hit) return hit;
    }
    return null;
  }
  if (pp.type !== 'TemplateProcessing' || !Array.isArray(pp.single)) return null;
  const first: unknown = pp.single[0];
  return isRecord(first) && isRecord(first.SpecialToken) && typeof first.SpecialToken.id === 'string' ? first.SpecialToken.id : null;
}

/** tokenizer_config's bos_token/eos_token: a string, an AddedToken object {content}, or null. */
export function tokenContent(x: unknown): string | null {
  if (typeof x === 'string') return x;
  if (isRecord(x) && typeof x.content === 'string') return x.content;
  return null;
}

export class Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosIds: number[];
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  /** Whether encode() prepends BOS by default. */
  readonly addBos: boolean;
  private readonly info: TokenizerJsonInfo;

  private constructor(
    private readonly wasm: WasmTokenizer,
    info: TokenizerJsonInfo,
    tc: Record<string, unknown>,
    defaults: TokenIdDefaults,
  ) {
    this.info = info;
    const idOf = (token: string | null) => (token === null ? undefined : info.tokenToId.get(token));
    const bosToken = tokenContent(tc.bos_token);
    const eosToken = tokenContent(tc.eos_token);
    this.bosId = idOf(bosToken) ?? defaults.bosTokenId ?? null;
    this.bosToken = bosToken ?? (this.bosId === null ? null : wasm.idToToken(this.bosId) || null);
    const eosFromConfig = idOf(eosToken);
    const eos = [...(eosFromConfig === undefined ? [] : [eosFromConfig]), ...(defaults.eosTokenIds ?? [])];
    this.eosIds = [...new Set(eos)];
    this.eosToken = eosToken ?? (this.eosIds.length ? wasm.idToToken(this.eosIds[0]) || null : null);
    const flag = tc.add_bos_token;
    this.addBos = this.bosId !== null && (typeof flag === 'boolean' ? flag : info.postProcessorBos !== null && idOf(info.postProcessorBos) === this.bosId);
    this.vocabSize = wasm.getVocabSize();
  }

  /** tokenizer.json bytes, with tokenizer_config.json (parsed) and config.json's ids when available. */
  static async load(
    tokenizerJson: Uint8Array,
    tokenizerConfig: Record<string, unknown> | null = null,
    defaults: TokenIdDefaults = {},
  ): Promise<Tokenizer> {
    const info = readTokenizerJson(tokenizerJson);
    const lib = await loadTokenizerLib();
    const copy = tokenizerJson.slice().buffer;
    let wasm: WasmTokenizer;
    try {
      wasm = await lib.Tokenizer.fromJSON(copy);
    } catch (e) {
      throw new ModelLoadError('tokenizer.json', `could not be loaded by the tokenizer library: ${String(e)}`, { cause: e });
    }
    return new Tokenizer(wasm, info, tokenizerConfig ?? {}, defaults);
  }

  /** Token ids of `text`. BOS is not doubled when the text already starts with it (a rendered chat template). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = Array.from(this.wasm.encode(text));
    const addBos = options.addBos ?? this.addBos;
    if (addBos && this.bosId !== null && ids[0] !== this.bosId) ids.unshift(this.bosId);
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecial ?? true;
    const kept = skip ? Array.from(ids).filter((id) => !this.info.special.has(id)) : Array.from(ids);
    return kept.length === 0 ? '' : this.wasm.decode(Int32Array.from(kept));
  }

  idToToken(id: number): string {
    return this.wasm.idToToken(id);
  }

  tokenToId(token: string): number | undefined {
    return this.info.tokenToId.get(token);
  }

  isSpecial(id: number): boolean {
    return this.info.special.has(id);
  }

  /** A streaming decoder; pass the prompt's ids as context so the first new token keeps its leading space. */
  streamDecoder(context: ArrayLike<number> = [], options: DecodeOptions = {}): TokenStream {
    return new TokenStream(this, Array.from(context), options);
  }

  dispose(): void {
    this.wasm.dispose();
  }
}

/** Context tokens kept before the first streamed one: enough for decoders that look at neighbours. */
const STREAM_CONTEXT = 4;

/**
 * Incremental detokenization: decodes the window [0, read) and [0, end) of the pending ids and emits
 * the new suffix, holding text back while it ends in U+FFFD (a byte-fallback or byte-level token that is
 * only part of a UTF-8 character). The last emitted tokens stay as the next window's start, because
 * decoders strip spaces from the start of a text and a lone token would lose its leading space.
 */
export class TokenStream {
  private readonly ids: number[];
  private readOffset: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    context: number[],
    private readonly options: DecodeOptions,
  ) {
    this.ids = context.slice(-STREAM_CONTEXT);
    this.readOffset = this.ids.length;
  }

  /** The text that token `id` completes ('' while a character is still incomplete). */
  push(id: number): string {
    this.ids.push(id);
    return this.emit(false);
  }

  /** Whatever is held back, replacement characters included (call at the end of generation). */
  flush(): string {
    return this.emit(true);
  }

  private emit(force: boolean): string {
    const prefix = this.tokenizer.decode(this.ids.slice(0, this.readOffset), this.options);
    const full = this.tokenizer.decode(this.ids, this.options);
    if (full.length <= prefix.length || (!force && full.endsWith('\uFFFD'))) return '';
    this.ids.splice(0, this.readOffset);
    this.readOffset = this.ids.length;
    return full.slice(prefix.length);
  }
}
