/**
 * Continuing a chat from the cache: the cache holds the text of earlier turns (rendered prompt plus the
 * generated answer); the next turn prefills only what the freshly rendered conversation adds after it.
 */

/** Length of the longest common prefix of a and b. */
export function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * The part of `full` (the whole conversation rendered now) that the cache does not hold yet, given
 * `cached` (what it holds). When the template renders the earlier answer differently (trimmed, say),
 * the suffix starts where the two texts part.
 */
export function continuationSuffix(cached: string, full: string): string {
  if (full.startsWith(cached)) return full.slice(cached.length);
  return full.slice(commonPrefixLength(cached, full));
}
