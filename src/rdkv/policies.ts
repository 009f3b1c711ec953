/**
 * One entry point for RDKV and the rdkv.md §6 baselines, per (layer, KV head), with the same budget
 * and the same byte accounting (bytes.ts).
 *
 * Equal memory. Every policy gets the byte budget of B full-precision tokens, budgetBytes(B, d) =
 * 2·B·d·2 bytes per head:
 *   full       the full cache, always (withinBudget only when T <= B).
 *   rdkv       rdkv.md §3 with code bits 2·B·d·16: the V and K means land within 1% of their targets;
 *              metadata comes on top and 16-bit K channels stored at 8 bits save some. So by default
 *              total bytes ≈ budget·(1 ± 1%) + metadata - K savings. fitMetadata: shrink B until the
 *              total, metadata included, is <= budgetBytes.
 *   uniform    every token quantised (K per channel, V per token), the last `recentWindow` tokens
 *              (default 32) at f16 for K and V, at the largest width in {16, 8, 4, 2} whose total
 *              bytes incl. metadata are <= budgetBytes (16 = the full cache). When even 2 bits do not
 *              fit, 2 bits with withinBudget = false.
 *   snapkv     the floor(B) tokens with the largest pooled window scores (ties: lower position first),
 *              K and V at f16, no metadata: exactly 4·floor(B)·d bytes.
 *   streaming  `sinks` (default 4) first tokens + the last floor(B) - sinks tokens, at f16.
 * T <= B: every policy returns the full cache (identity: all 16 bits, nothing evicted).
 *
 * Predicted distortion, the same formula for every policy:
 *   D_V = Σ_t w_V[t]·ε_V(vBits[t])
 *   D_K = (nQ / kept)·Σ_c w_K[c]·ε_K(stored K width of c)   (full-precision K counts ε = 0; the factor
 *         is the share of kept tokens whose K is quantised; no kept token: D_K = Σ_c w_K[c])
 * With stored widths, an RDKV channel allocated 16 bits counts ε_K(8). D_V and D_K are on different
 * scales (w_V is attention mass, w_K scales with mean q²·mean k²), so `total` is only
 * meaningful between plans of the same head; compare policies on v and k separately.
 */
import { allocateHead, budgetBytes, budgetTokens, type Budget } from './budget';
import { layoutBytes, type ByteBreakdown } from './bytes';
import { EPS_K_DEFAULT, EPS_V_DEFAULT, epsOf } from './epsilon';
import { planLayout, type HeadLayout } from './layout';
import type { ZeroPoint } from './quantize';

import type { Policy } from './policy-names';

export { POLICIES, type Policy } from './policy-names';

export interface EpsilonPair {
  v: readonly number[];
  k: readonly number[];
}

/** One layer's scores (the shapes scoring.ts returns). */
export interface LayerInputs {
  T: number;
  d: number;
  Hkv: number;
  /** (Hkv, T) row-major pooled V token weights. */
  wV: Float32Array;
  /** (Hkv, d) row-major K channel weights. */
  wK: Float32Array;
  /** ε tables: one pair for every head, or (Hkv) pairs (measured per head). Default the rdkv.md tables. */
  epsilon?: EpsilonPair | readonly EpsilonPair[];
}

export interface PolicyOptions {
  /** uniform: full-precision recent tokens. Default 32. */
  recentWindow?: number;
  /** streaming: sink tokens. Default 4. */
  sinks?: number;
  /** K quantisation token group (slots); default one group over all quantised slots. */
  tokenGroup?: number;
  /** rdkv: shrink the bit budget until bytes incl. metadata <= budgetBytes. Default false. */
  fitMetadata?: boolean;
  /** Store kept positions in the arena (counted). Default false. */
  storePositions?: boolean;
  /** Zone C capacity (tokens) recorded in the layout. Default 0. */
  zoneCCapacity?: number;
  /** How zero points are stored (and counted): the spec's clamped integer, or f32. Default 'integer'. */
  zeroPoint?: ZeroPoint;
}

export interface Distortion {
  v: number;
  k: number;
  total: number;
}

export interface HeadPlan {
  policy: Policy;
  kvHead: number;
  T: number;
  d: number;
  /** Budget tokens asked for. */
  budgetTokens: number;
  /** Budget tokens actually used by the allocation (rdkv with fitMetadata: the shrunk B). */
  effectiveTokens: number;
  /** false: the full cache (T <= B, or policy 'full'). */
  compressed: boolean;
  /** (T) V width per prompt token, 0 = evicted. */
  vBits: Uint8Array;
  /** (d) allocated K width per channel (0 = dropped). */
  kBits: Uint8Array;
  /** (d) stored K width per channel: 16 (f16), 8, 4, 2, or 0 (dropped). */
  kStoredBits: Uint8Array;
  /** uniform only: the chosen width. */
  uniformBits?: number;
  layout: HeadLayout;
  bytes: ByteBreakdown;
  budgetBytes: number;
  withinBudget: boolean;
  distortion: Distortion;
}

/** Plans every KV head of one layer. */
export function planCompression(policy: Policy, inputs: LayerInputs, budget?: Budget, opts: PolicyOptions = {}): HeadPlan[] {
  const { T, d, Hkv, wV, wK } = inputs;
  if (wV.length !== Hkv * T) throw new Error(`rdkv: wV has ${wV.length} entries, expected Hkv·T = ${Hkv * T}`);
  if (wK.length !== Hkv * d) throw new Error(`rdkv: wK has ${wK.length} entries, expected Hkv·d = ${Hkv * d}`);
  const B = budgetTokens(budget, T);
  const plans: HeadPlan[] = [];
  for (let h = 0; h < Hkv; h++) {
    const eps = epsilonFor(inputs.epsilon, h, Hkv);
    plans.push(planHead(policy, h, wV.subarray(h * T, (h + 1) * T), wK.subarray(h * d, (h + 1) * d), B, eps, opts));
  }
  return plans;
}

function epsilonFor(e: LayerInputs['epsilon'], h: number, Hkv: number): EpsilonPair {
  if (e === undefined) return { v: EPS_V_DEFAULT, k: EPS_K_DEFAULT };
  if (Array.isArray(e)) {
    if (e.length !== Hkv) throw new Error(`rdkv: ${e.length} ε pairs for ${Hkv} heads`);
    return e[h] as EpsilonPair;
  }
  return e as EpsilonPair;
}

/** Plans one head. wV: (T) token weights; wK: (d) channel weights; B: budget tokens. */
export function planHead(policy: Policy, kvHead: number, wV: Float32Array, wK: Float32Array, B: number, eps: EpsilonPair, opts: PolicyOptions = {}): HeadPlan {
  const T = wV.length;
  const d = wK.length;
  const bb = budgetBytes(B, d);
  const base = { policy, kvHead, T, d, budgetTokens: B, budgetBytes: bb };
  const layoutOpts = { tokenGroup: opts.tokenGroup, storePositions: opts.storePositions, zoneCCapacity: opts.zoneCCapacity, zeroPoint: opts.zeroPoint };

  const finish = (
    vBits: Uint8Array,
    kBits: Uint8Array,
    kFullInZoneB: boolean,
    compressed: boolean,
    effectiveTokens: number,
    uniformBits?: number,
  ): HeadPlan => {
    const layout = planLayout({ vBits, kBits, kFullInZoneB, ...layoutOpts });
    const bytes = layoutBytes(layout);
    const kStoredBits = layout.nQ > 0 ? layout.k.storedBits.slice() : new Uint8Array(d).fill(layout.kept > 0 ? 16 : 0);
    return {
      ...base,
      effectiveTokens,
      compressed,
      vBits,
      kBits,
      kStoredBits,
      uniformBits,
      layout,
      bytes,
      withinBudget: bytes.total <= bb,
      distortion: predictedDistortion(wV, wK, vBits, kStoredBits, layout, eps),
    };
  };
  const identity = () => finish(new Uint8Array(T).fill(16), new Uint8Array(d).fill(16), true, false, T);

  if (policy === 'full' || T <= B) return identity();

  switch (policy) {
    case 'rdkv': {
      const run = (Beff: number) => {
        const hb = allocateHead(wV, wK, Beff, eps.v, eps.k);
        return finish(hb.vBits, hb.kBits, false, true, Beff);
      };
      let plan = run(B);
      if (opts.fitMetadata) {
        let Beff = B;
        for (let it = 0; it < 32 && plan.bytes.total > bb && Beff > 0; it++) {
          // proportional step, a little extra after a few tries so it cannot hover just above
          Beff *= (bb / plan.bytes.total) * (it < 4 ? 1 : 0.99);
          plan = run(Beff);
        }
        plan = { ...plan, budgetTokens: B, budgetBytes: bb };
      }
      return plan;
    }
    case 'uniform': {
      const R = Math.min(opts.recentWindow ?? 32, T);
      let best: HeadPlan | undefined;
      for (const b of [8, 4, 2]) {
        const vBits = new Uint8Array(T).fill(b);
        vBits.fill(16, T - R);
        const plan = finish(vBits, new Uint8Array(d).fill(b), true, true, B, b);
        best = plan;
        if (plan.withinBudget) break;
      }
      return best as HeadPlan;
    }
    case 'snapkv': {
      const n = Math.min(Math.floor(B), T);
      const order = Array.from({ length: T }, (_, t) => t).sort((a, b) => wV[b] - wV[a] || a - b);
      const vBits = new Uint8Array(T);
      for (let i = 0; i < n; i++) vBits[order[i]] = 16;
      return finish(vBits, new Uint8Array(d).fill(16), true, true, B);
    }
    case 'streaming': {
      const n = Math.min(Math.floor(B), T);
      const sinks = Math.min(opts.sinks ?? 4, n);
      const vBits = new Uint8Array(T);
      vBits.fill(16, 0, sinks);
      vBits.fill(16, T - (n - sinks));
      return finish(vBits, new Uint8Array(d).fill(16), true, true, B);
    }
    default:
      throw new Error(`rdkv: unknown policy ${String(policy)}`);
  }
}

/** The formula in the module comment. wV: (T); wK: (d); vBits: (T); kStoredBits: (d). */
export function predictedDistortion(
  wV: Float32Array,
  wK: Float32Array,
  vBits: Uint8Array,
  kStoredBits: Uint8Array,
  layout: HeadLayout,
  eps: EpsilonPair,
): Distortion {
  let v = 0;
  for (let t = 0; t < wV.length; t++) v += wV[t] * epsOf(eps.v, vBits[t]);
  let k = 0;
  if (layout.kept === 0) {
    for (let c = 0; c < wK.length; c++) k += wK[c];
  } else {
    const share = layout.nQ / layout.kept;
    for (let c = 0; c < wK.length; c++) k += wK[c] * epsOf(eps.k, kStoredBits[c]);
    k *= share;
  }
  return { v, k, total: v + k };
}
