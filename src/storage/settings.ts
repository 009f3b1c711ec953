/**
 * User settings (policy, budget, sampling): defaults, validation of whatever was stored, and persistence
 * in localStorage (synchronous, so the page renders restored values before anything else).
 */
import { POLICIES, type BudgetSetting, type Policy, type SamplingOptions } from '../worker/api';

export interface Settings {
  policy: Policy;
  budgetMode: 'tokens' | 'retention';
  /** B, FP16-equivalent tokens per (layer, KV head). */
  budgetTokens: number;
  /** Retention of the full cache, percent. */
  retentionPct: number;
  greedy: boolean;
  temperature: number;
  topP: number;
  topK: number;
  maxTokens: number;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  policy: 'rdkv',
  budgetMode: 'tokens',
  budgetTokens: 1024,
  retentionPct: 10,
  greedy: true,
  temperature: 0.7,
  topP: 0.95,
  topK: 40,
  maxTokens: 256,
});

export const SETTINGS_KEY = 'rdkv-web.settings.v1';

function num(x: unknown, lo: number, hi: number, fallback: number, integer = false): number {
  const n = typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x) : NaN;
  if (!Number.isFinite(n)) return fallback;
  const c = Math.min(hi, Math.max(lo, n));
  return integer ? Math.round(c) : c;
}

/** Any stored value → valid Settings (unknown fields dropped, bad ones defaulted, numbers clamped). */
export function normalizeSettings(raw: unknown): Settings {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const d = DEFAULT_SETTINGS;
  return {
    policy: POLICIES.includes(r.policy as Policy) ? (r.policy as Policy) : d.policy,
    budgetMode: r.budgetMode === 'retention' ? 'retention' : r.budgetMode === 'tokens' ? 'tokens' : d.budgetMode,
    budgetTokens: num(r.budgetTokens, 1, 1 << 20, d.budgetTokens, true),
    retentionPct: num(r.retentionPct, 0.1, 100, d.retentionPct),
    greedy: typeof r.greedy === 'boolean' ? r.greedy : d.greedy,
    temperature: num(r.temperature, 0, 2, d.temperature),
    topP: num(r.topP, 0.01, 1, d.topP),
    topK: num(r.topK, 0, 1000, d.topK, true),
    maxTokens: num(r.maxTokens, 1, 8192, d.maxTokens, true),
  };
}

export function budgetOf(s: Settings): BudgetSetting {
  return s.budgetMode === 'tokens' ? { tokens: s.budgetTokens } : { retention: s.retentionPct / 100 };
}

/** B in tokens per head for a prompt of T tokens. */
export function budgetTokensFor(s: Settings, T: number): number {
  return s.budgetMode === 'tokens' ? s.budgetTokens : (s.retentionPct / 100) * T;
}

export function samplingOf(s: Settings, seed = Date.now() % 1e9): SamplingOptions {
  return s.greedy ? { greedy: true } : { temperature: s.temperature, topP: s.topP, topK: s.topK || undefined, seed };
}

type KeyValue = Pick<Storage, 'getItem' | 'setItem'>;

export function loadSettings(store: KeyValue = localStorage): Settings {
  try {
    const text = store.getItem(SETTINGS_KEY);
    return normalizeSettings(text ? (JSON.parse(text) as unknown) : {});
  } catch {
    return normalizeSettings({});
  }
}

/** False when the browser refused to store them (private mode, full quota). */
export function saveSettings(s: Settings, store: KeyValue = localStorage): boolean {
  try {
    store.setItem(SETTINGS_KEY, JSON.stringify(normalizeSettings(s)));
    return true;
  } catch {
    return false;
  }
}
