/** Number formatting for the page: bytes, durations, rates, percentages. */

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const digits = u === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
  return `${n < 0 ? '-' : ''}${v.toFixed(digits)} ${units[u]}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

export function formatRate(tokens: number, ms: number): string {
  if (ms <= 0 || !Number.isFinite(ms)) return '—';
  const r = (tokens * 1000) / ms;
  return `${r < 10 ? r.toFixed(2) : r < 100 ? r.toFixed(1) : Math.round(r)} tokens/s`;
}

export function formatPct(f: number, digits = 1): string {
  return Number.isFinite(f) ? `${(100 * f).toFixed(digits)}%` : '—';
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
