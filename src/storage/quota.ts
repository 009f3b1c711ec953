/** Storage quota: estimates, persistence, and one error type for "the browser's storage is full". */

export class StorageFullError extends Error {
  override name = 'StorageFullError';
  constructor(
    what: string,
    readonly usage: number | null,
    readonly quota: number | null,
    options?: { cause?: unknown },
  ) {
    super(`Browser storage is full: could not save ${what}.`, options);
  }
}

export function isQuotaError(e: unknown): boolean {
  if (!(e instanceof Error || e instanceof DOMException)) return false;
  if (e.name === 'QuotaExceededError' || e.name === 'StorageFullError') return true;
  // IndexedDB aborts a transaction with an AbortError whose cause is the quota.
  return /quota/i.test(e.message);
}

export interface StorageInfo {
  usage: number | null;
  quota: number | null;
  persisted: boolean | null;
}

export async function storageInfo(): Promise<StorageInfo> {
  const s = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!s?.estimate) return { usage: null, quota: null, persisted: null };
  const [est, persisted] = await Promise.all([s.estimate(), s.persisted ? s.persisted() : Promise.resolve(null)]);
  return { usage: est.usage ?? null, quota: est.quota ?? null, persisted };
}

/** Asks the browser not to evict this site's storage; resolves to whether it is persistent now. */
export async function requestPersistence(): Promise<boolean> {
  const s = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!s?.persist) return false;
  return s.persist();
}

/** Runs a write; a quota failure becomes a StorageFullError with the current usage and quota. */
export async function guardQuota<T>(what: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    if (!isQuotaError(e)) throw e;
    const info = await storageInfo().catch(() => ({ usage: null, quota: null }));
    throw new StorageFullError(what, info.usage, info.quota, { cause: e });
  }
}
