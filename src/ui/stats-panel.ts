/** The stats panel: adapter and limits, model, prefill and decode speed, cache and peak GPU bytes. */
import type { DeviceProbe, EngineStats } from '../worker/api';
import { byId, fillDl } from './dom';
import { formatBytes, formatRate } from './format';

export function renderStats(probe: DeviceProbe | null, s: EngineStats | null, reportBytes: number | null): void {
  const a = s?.adapter ?? probe?.adapter ?? null;
  const limits = s && Object.keys(s.limits).length ? s.limits : (probe?.limits ?? {});
  const adapter = a ? `${a.vendor || 'unknown vendor'} ${a.architecture || a.device || ''}`.trim() + (a.isFallbackAdapter ? ' (software)' : '') : 'none';
  const cache = s?.cacheBytes ?? reportBytes;
  fillDl(byId('stats'), [
    ['Adapter', adapter],
    ['Max buffer', formatBytes(limits.maxBufferSize)],
    ['Max binding', formatBytes(limits.maxStorageBufferBindingSize)],
    ['Workgroup memory', formatBytes(limits.maxComputeWorkgroupStorageSize)],
    ['Model', s?.model ? `${s.model} · ${formatBytes(s.weightBytes)}` : '—'],
    ['Prefill', s?.lastPrefill ? `${formatRate(s.lastPrefill.tokens, s.lastPrefill.ms)} (${s.lastPrefill.tokens} tokens)` : '—'],
    ['Decode', s?.lastDecode ? `${formatRate(s.lastDecode.tokens, s.lastDecode.ms)} (${s.lastDecode.tokens} tokens)` : '—'],
    ['Cache', formatBytes(cache)],
    ['Peak GPU', s?.peakGpuBytes != null ? formatBytes(s.peakGpuBytes) : 'not reported yet'],
  ]);
}
