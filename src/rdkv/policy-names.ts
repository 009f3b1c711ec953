/**
 * The KV cache policies by name (rdkv.md §6 for the baselines), with no code behind them, so the page,
 * the Worker interface and the CLI can name a policy without importing the allocators (policies.ts).
 */
export type Policy = 'full' | 'rdkv' | 'uniform' | 'snapkv' | 'streaming';
export const POLICIES: readonly Policy[] = ['full', 'rdkv', 'uniform', 'snapkv', 'streaming'];
