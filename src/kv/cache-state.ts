/**
 * The binary format of a saved KV cache (Transformer.exportState / importState, Engine.exportCache).
 * Pure code: no WebGPU; the GPU side reads and writes the sections.
 *
 *   bytes 0..7    magic "RDKVSTAT"
 *   u32 @8        format version (CACHE_STATE_VERSION)
 *   u32 @12       JSON header bytes (UTF-8, before padding)
 *   u32 @16       checksum (FNV-1a over the u32 words from byte 24 to the end)
 *   u32 @20       total blob bytes
 *   @24           JSON header (CacheStateHeader), zero-padded to 4 bytes
 *   then          the sections listed in header.sections, in order, each padded to 4 bytes
 *
 * Sections. Rows of a [Hkv, capacity, d] buffer (full cache K/V, zone C K/V) are stored per head for the
 * first n tokens only, each head's row padded to 4 bytes (f16 values two per word, as on the GPU).
 *   full:        k{l}, v{l}                        (Hkv rows of `length` tokens)
 *   compressed:  bits{l}: per head vBits (T) | kBits (d) | kStoredBits (d), u8
 *                arena{l}: the layer arena, arenaWords u32 words (all heads, layout.ts)
 *                zck{l}, zcv{l}: zone C K/V (Hkv rows of `zoneC.length` tokens)
 * A compressed layer's HeadPlans are rebuilt from the stored widths and layout options (planLayout,
 * layoutBytes), checked against the stored word counts; scores are not stored, so nothing is re-scored.
 */
import { layoutBytes } from '../rdkv/bytes';
import { planLayout } from '../rdkv/layout';
import type { HeadPlan } from '../rdkv/policies';
import type { ZeroPoint } from '../rdkv/quantize';

export const CACHE_STATE_VERSION = 1;
const MAGIC = 'RDKVSTAT';
const PREFIX_BYTES = 24;

/** What a cache depends on in the model: an import checks every field. */
export interface CacheModelShape {
  architecture: string;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  kvDtype: 'f32' | 'f16';
}

/** A HeadPlan as saved: its scalar fields (the widths travel as binary sections, the layout is rebuilt). */
export interface HeadPlanState
  extends Pick<HeadPlan, 'policy' | 'kvHead' | 'T' | 'd' | 'budgetTokens' | 'effectiveTokens' | 'compressed' | 'uniformBits' | 'budgetBytes' | 'distortion'> {
  /** planLayout's inputs besides the widths, and what the rebuilt layout must come to. */
  layout: { kFullInZoneB: boolean; tokenGroup: number; storePositions: boolean; zoneCCapacity: number; zeroPoint: ZeroPoint; kept: number; totalWords: number };
}

export interface CompressedLayerState {
  layer: number;
  /** Prompt tokens the layer compressed. */
  T: number;
  splits: number | null;
  arenaWords: number;
  zoneC: { capacity: number; length: number };
  heads: HeadPlanState[];
}

export interface CacheStateHeader {
  format: 'rdkv-web/kv-cache';
  version: number;
  model: CacheModelShape;
  /** Tokens in the cache. */
  length: number;
  mode: 'full' | 'compressed';
  /** Compressed mode: the prompt length T and every layer. */
  compressed?: { T: number; layers: CompressedLayerState[] };
  /** The caller's fields (the engine: pending token, context ids, report). */
  extra: Record<string, unknown>;
  sections: { name: string; bytes: number }[];
}

export class CacheStateError extends Error {
  override name = 'CacheStateError';
}

const align4 = (n: number) => (n + 3) & ~3;

/** FNV-1a over u32 words. */
function checksum(words: Uint32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  return h >>> 0;
}

/** A short hash of token ids (the engine checks that a blob comes with its own ids). */
export function tokensHash(ids: readonly number[]): string {
  return checksum(Uint32Array.from(ids)).toString(16).padStart(8, '0');
}

// JSON has no Infinity or NaN: keep them as tagged strings.
const replacer = (_: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v);
const reviver = (_: string, v: unknown) =>
  v && typeof v === 'object' && '$number' in v && Object.keys(v).length === 1 ? Number((v as { $number: string }).$number) : v;

/** Header (its `sections` filled in here) and section bytes, into one blob. */
export function encodeCacheState(header: Omit<CacheStateHeader, 'sections' | 'format' | 'version'>, sections: { name: string; data: Uint8Array }[]): ArrayBuffer {
  const full: CacheStateHeader = {
    format: 'rdkv-web/kv-cache',
    version: CACHE_STATE_VERSION,
    ...header,
    sections: sections.map((s) => ({ name: s.name, bytes: s.data.byteLength })),
  };
  const json = new TextEncoder().encode(JSON.stringify(full, replacer));
  const total = PREFIX_BYTES + align4(json.byteLength) + sections.reduce((n, s) => n + align4(s.data.byteLength), 0);
  const out = new Uint8Array(total);
  out.set(new TextEncoder().encode(MAGIC), 0);
  let at = PREFIX_BYTES;
  out.set(json, at);
  at += align4(json.byteLength);
  for (const s of sections) {
    out.set(s.data, at);
    at += align4(s.data.byteLength);
  }
  const view = new DataView(out.buffer);
  view.setUint32(8, CACHE_STATE_VERSION, true);
  view.setUint32(12, json.byteLength, true);
  view.setUint32(20, total, true);
  view.setUint32(16, checksum(new Uint32Array(out.buffer, PREFIX_BYTES)), true);
  return out.buffer;
}

export interface DecodedCacheState {
  header: CacheStateHeader;
  /** Section bytes by name (views into the blob). */
  sections: Map<string, Uint8Array>;
}

/** Checks and splits a blob; throws CacheStateError saying what is wrong (never returns a partial state). */
export function decodeCacheState(data: ArrayBuffer): DecodedCacheState {
  const fail = (why: string): never => {
    throw new CacheStateError(`cannot restore the KV cache: ${why}`);
  };
  if (!(data instanceof ArrayBuffer)) fail('the saved state is not an ArrayBuffer');
  if (data.byteLength < PREFIX_BYTES || new TextDecoder().decode(new Uint8Array(data, 0, 8)) !== MAGIC) fail('not a saved rdkv-web KV cache (bad magic)');
  const view = new DataView(data);
  const version = view.getUint32(8, true);
  if (version !== CACHE_STATE_VERSION) fail(`format version ${version}, this build reads version ${CACHE_STATE_VERSION}`);
  const total = view.getUint32(20, true);
  if (data.byteLength < total) fail(`truncated: ${data.byteLength} bytes of ${total}`);
  if (data.byteLength > total) fail(`${data.byteLength - total} unexpected bytes after the end (${total} bytes)`);
  if (total % 4 !== 0) fail(`length ${total} is not a whole number of words`);
  if (checksum(new Uint32Array(data, PREFIX_BYTES)) !== view.getUint32(16, true)) fail('checksum mismatch (the data is corrupted)');
  const jsonBytes = view.getUint32(12, true);
  if (PREFIX_BYTES + jsonBytes > total) fail('the header runs past the end');
  let header: CacheStateHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, PREFIX_BYTES, jsonBytes)), reviver) as CacheStateHeader;
  } catch (e) {
    return fail(`unreadable header (${String(e)})`);
  }
  if (header?.format !== 'rdkv-web/kv-cache' || !Array.isArray(header.sections) || !header.model) fail('the header is not a KV cache header');
  const sections = new Map<string, Uint8Array>();
  let at = PREFIX_BYTES + align4(jsonBytes);
  for (const s of header.sections) {
    if (!Number.isInteger(s.bytes) || s.bytes < 0 || at + s.bytes > total) fail(`section ${s.name} runs past the end`);
    sections.set(s.name, new Uint8Array(data, at, s.bytes));
    at += align4(s.bytes);
  }
  if (at !== total) fail(`sections end at byte ${at}, the blob has ${total}`);
  return { header, sections };
}

/** The differences between a stored shape and the model's, as "field: cache X, model Y" (empty when it fits). */
export function shapeMismatches(stored: CacheModelShape, model: CacheModelShape): string[] {
  const keys = Object.keys(model) as (keyof CacheModelShape)[];
  return keys.filter((k) => stored[k] !== model[k]).map((k) => `${k}: cache ${String(stored[k])}, model ${String(model[k])}`);
}

/** A section of the expected size, or a clear error. */
export function section(s: DecodedCacheState, name: string, bytes: number): Uint8Array {
  const b = s.sections.get(name);
  if (!b) throw new CacheStateError(`cannot restore the KV cache: section ${name} is missing`);
  if (b.byteLength !== bytes) throw new CacheStateError(`cannot restore the KV cache: section ${name} has ${b.byteLength} bytes, expected ${bytes}`);
  return b;
}

/** Bytes of Hkv per-head rows of n tokens, each row padded to 4 bytes. */
export function headRowsBytes(nKvHeads: number, n: number, headDim: number, f16: boolean): number {
  return nKvHeads * align4(n * headDim * (f16 ? 2 : 4));
}

/** One head plan as JSON fields plus its width arrays (vBits | kBits | kStoredBits). */
export function planToState(p: HeadPlan): { state: HeadPlanState; bits: Uint8Array } {
  const l = p.layout;
  const bits = new Uint8Array(p.T + 2 * p.d);
  bits.set(p.vBits, 0);
  bits.set(p.kBits, p.T);
  bits.set(p.kStoredBits, p.T + p.d);
  const state: HeadPlanState = {
    policy: p.policy,
    kvHead: p.kvHead,
    T: p.T,
    d: p.d,
    budgetTokens: p.budgetTokens,
    effectiveTokens: p.effectiveTokens,
    compressed: p.compressed,
    budgetBytes: p.budgetBytes,
    distortion: { ...p.distortion },
    layout: {
      kFullInZoneB: l.kFullInZoneB,
      tokenGroup: l.tokenGroup,
      storePositions: l.positions.words > 0,
      zoneCCapacity: l.zoneC.capacity,
      zeroPoint: l.zeroPoint,
      kept: l.kept,
      totalWords: l.totalWords,
    },
  };
  if (p.uniformBits !== undefined) state.uniformBits = p.uniformBits;
  return { state, bits };
}

/** Bytes of a head's width arrays. */
export function planBitsBytes(s: Pick<HeadPlanState, 'T' | 'd'>): number {
  return s.T + 2 * s.d;
}

/** Rebuilds a head plan (layout, bytes, withinBudget) from its stored fields and widths. */
export function planFromState(s: HeadPlanState, bits: Uint8Array): HeadPlan {
  const fail = (why: string): never => {
    throw new CacheStateError(`cannot restore the KV cache: head ${s.kvHead}: ${why}`);
  };
  if (bits.byteLength !== planBitsBytes(s)) fail(`${bits.byteLength} width bytes, expected ${planBitsBytes(s)}`);
  const vBits = bits.slice(0, s.T);
  const kBits = bits.slice(s.T, s.T + s.d);
  const kStoredBits = bits.slice(s.T + s.d, s.T + 2 * s.d);
  let layout;
  try {
    layout = planLayout({
      vBits,
      kBits,
      kFullInZoneB: s.layout.kFullInZoneB,
      tokenGroup: s.layout.tokenGroup,
      storePositions: s.layout.storePositions,
      zoneCCapacity: s.layout.zoneCCapacity,
      zeroPoint: s.layout.zeroPoint,
    });
  } catch (e) {
    return fail(`invalid widths (${e instanceof Error ? e.message : String(e)})`);
  }
  if (layout.totalWords !== s.layout.totalWords || layout.kept !== s.layout.kept) {
    fail(`the rebuilt layout has ${layout.totalWords} words and ${layout.kept} kept tokens, the cache ${s.layout.totalWords} and ${s.layout.kept}`);
  }
  const bytes = layoutBytes(layout);
  const plan: HeadPlan = {
    policy: s.policy,
    kvHead: s.kvHead,
    T: s.T,
    d: s.d,
    budgetTokens: s.budgetTokens,
    effectiveTokens: s.effectiveTokens,
    compressed: s.compressed,
    vBits,
    kBits,
    kStoredBits,
    layout,
    bytes,
    budgetBytes: s.budgetBytes,
    withinBudget: bytes.total <= s.budgetBytes,
    distortion: { ...s.distortion },
  };
  if (s.uniformBits !== undefined) plan.uniformBits = s.uniformBits;
  return plan;
}
