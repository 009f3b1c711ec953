/** The `cache` object of the CLI's JSON output: bytes and per-layer width histograms of a CacheReport. */
import type { CacheReport } from '../engine/cache-report';
import type { Budget } from '../rdkv/budget';
import { POLICIES } from '../rdkv/policy-names';
import { type Args, num, oneOf } from './args';

/** The options policyArgs reads (generate, ask and eval take them). */
export const POLICY_FLAGS = { policy: POLICIES.join('|'), budget: 'TOKENS|RETENTION|P%' } as const;

const WIDTHS = [0, 2, 4, 8, 16] as const;

function histogram(widths: Uint8Array, from: number, to: number): Record<string, number> {
  const h: Record<string, number> = { 0: 0, 2: 0, 4: 0, 8: 0, 16: 0 };
  for (let i = from; i < to; i++) h[widths[i]]++;
  return h;
}

export function cacheJson(r: CacheReport) {
  const perLayerV = r.nKvHeads * r.T;
  const perLayerK = r.nKvHeads * r.headDim;
  return {
    policy: r.policy,
    tokens: r.T,
    fullBytes: r.fullBytes,
    compressedBytes: r.compressedBytes,
    metadataBytes: r.metadataBytes,
    retention: r.retention,
    budgetTokens: r.budgetTokens,
    widths: WIDTHS,
    layers: Array.from({ length: r.nLayers }, (_, l) => ({
      layer: l,
      v: histogram(r.vWidths, l * perLayerV, (l + 1) * perLayerV),
      k: histogram(r.kWidths, l * perLayerK, (l + 1) * perLayerK),
    })),
  };
}

/** --policy and --budget (tokens per KV head, or a retention like 0.1 or 10%). */
export function policyArgs(args: Args): { policy: CacheReport['policy']; budget?: Budget } {
  const policy = oneOf(args, 'policy', POLICIES, 'full');
  const b = args.budget;
  if (b === undefined) return { policy };
  if (typeof b === 'string' && b.endsWith('%')) {
    const pct = Number(b.slice(0, -1));
    if (b.slice(0, -1).trim() === '' || !(pct > 0 && pct <= 100)) throw new Error(`--budget as a percentage must be above 0% and at most 100%, got '${b}'`);
    return { policy, budget: { retention: pct / 100 } };
  }
  const n = num(args, 'budget');
  if (!(n > 0)) throw new Error(`--budget must be positive, got ${String(b)}`);
  return { policy, budget: n < 1 ? { retention: n } : { tokens: Math.floor(n) } };
}
