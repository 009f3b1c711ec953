/**
 * The per-(layer, KV head) budget and its V-then-K split (rdkv.md §3).
 *
 * Budget B = FP16-equivalent tokens per (layer, KV head), default 1024, or a retention fraction f of
 * the full cache, B = f·T (fractional B is fine). The code-bit budget of a head is 2·B·d·16 bits,
 * half for V and half for K; metadata (scales, zero points, permutation, header) is not part of it
 * and is counted by bytes.ts.
 *
 *   1. T <= B: nothing is compressed; every V token and every K channel is 16 bits and stays full
 *      precision (the result equals the full cache).
 *   2. V: units = the T tokens, target b̄_V = 16·B/T. 0-bit tokens are evicted.
 *   3. K: units = the d channels, target b̄_K = 16·B/|kept|, kept = tokens with V bits > 0. A 16-bit
 *      channel is later stored at 8 bits (layout.ts), a 0-bit channel is dropped. No kept token →
 *      every channel 0.
 */
import { allocateBitsDetailed } from './allocate';
import { EPS_K_DEFAULT, EPS_V_DEFAULT } from './epsilon';

export const DEFAULT_BUDGET_TOKENS = 1024;

/** Either B tokens per (layer, KV head), or a fraction of the full cache (B = fraction·T). */
export type Budget = { tokens: number } | { retention: number };

/** B for a prompt of T tokens. */
export function budgetTokens(budget: Budget | undefined, T: number): number {
  if (budget === undefined) return DEFAULT_BUDGET_TOKENS;
  if ('tokens' in budget) {
    if (!Number.isFinite(budget.tokens) || budget.tokens < 0) throw new Error(`rdkv: budget tokens must be finite and >= 0, got ${budget.tokens}`);
    return budget.tokens;
  }
  if (!Number.isFinite(budget.retention) || budget.retention < 0) throw new Error(`rdkv: retention must be finite and >= 0, got ${budget.retention}`);
  return budget.retention * T;
}

/** Bytes of B full-precision (f16) tokens of K and V for one head: 2·B·d·2 — the shared equal-memory budget. */
export function budgetBytes(B: number, d: number): number {
  return 4 * B * d;
}

/** Target mean V width over the T tokens. */
export function vTargetBits(T: number, B: number): number {
  return (16 * B) / T;
}

/** Target mean K width over the d channels, given the number of kept tokens. */
export function kTargetBits(B: number, kept: number): number {
  return kept > 0 ? (16 * B) / kept : 0;
}

export interface HeadBits {
  /** false when T <= B (identity: everything 16 bits, full precision). */
  compressed: boolean;
  /** (T) V width per prompt token; 0 = evicted. */
  vBits: Uint8Array;
  /** (d) allocated K width per channel (16 is stored as 8 when compressed; 0 = dropped). */
  kBits: Uint8Array;
  vTarget: number;
  kTarget: number;
  /** Tokens with V width > 0. */
  kept: number;
}

/**
 * V-then-K allocation for one head. wV: (T) token weights; wK: (d) channel weights; B: budget tokens.
 */
export function allocateHead(
  wV: Float32Array,
  wK: Float32Array,
  B: number,
  epsV: readonly number[] = EPS_V_DEFAULT,
  epsK: readonly number[] = EPS_K_DEFAULT,
): HeadBits {
  const T = wV.length;
  const d = wK.length;
  if (T <= B) {
    return { compressed: false, vBits: new Uint8Array(T).fill(16), kBits: new Uint8Array(d).fill(16), vTarget: 16, kTarget: 16, kept: T };
  }
  const vTarget = vTargetBits(T, B);
  const vBits = allocateBitsDetailed(wV, vTarget, epsV).bits;
  let kept = 0;
  for (let t = 0; t < T; t++) if (vBits[t] > 0) kept++;
  const kTarget = kTargetBits(B, kept);
  const kBits = kept > 0 ? allocateBitsDetailed(wK, kTarget, epsK).bits : new Uint8Array(d);
  return { compressed: true, vBits, kBits, vTarget, kTarget, kept };
}
