/*
 * rdkv-web service worker: precaches every built file listed in asset-manifest.json (shell, engine
 * worker, wasm, pdf.js worker, the embedded model) so the app works with the network off. Answers
 * GET, HEAD and Range requests for them from the cache; everything else goes to the network untouched.
 */
const PREFIX = 'rdkv-web-';
const MANIFEST = 'asset-manifest.json';
const scope = new URL(self.registration.scope);

async function readManifest() {
  const res = await fetch(new URL(MANIFEST, scope), { cache: 'no-store' });
  if (!res.ok) throw new Error(`${MANIFEST}: ${res.status}`);
  return res.json();
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const m = await readManifest();
      const cache = await caches.open(PREFIX + m.version);
      // One by one, so that one huge model file does not hold every other response in memory.
      for (const asset of m.assets) {
        const url = new URL(asset, scope).href;
        if (await cache.match(url)) continue;
        const res = await fetch(url, { cache: 'no-store' });
        if (!res.ok) throw new Error(`precache ${asset}: ${res.status}`);
        await cache.put(url, res);
      }
      await cache.put(new URL(MANIFEST, scope).href, new Response(JSON.stringify(m), { headers: { 'content-type': 'application/json' } }));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      cacheNamePromise = null; // computed before install filled the new cache
      const current = await currentCacheName();
      for (const name of await caches.keys()) if (name.startsWith(PREFIX) && name !== current) await caches.delete(name);
      await loadPrecached();
      await self.clients.claim();
    })(),
  );
});

let cacheNamePromise = null;
async function currentCacheName() {
  cacheNamePromise ??= (async () => {
    const names = (await caches.keys()).filter((n) => n.startsWith(PREFIX));
    for (const n of names.reverse()) {
      const c = await caches.open(n);
      const m = await c.match(new URL(MANIFEST, scope).href);
      if (m) return n;
    }
    return null;
  })();
  return cacheNamePromise;
}

/** The precached URLs: only those are answered here, the rest goes to the network untouched. */
let precached = null;
async function loadPrecached() {
  const name = await currentCacheName();
  if (!name) return (precached = new Set());
  const keys = await (await caches.open(name)).keys();
  return (precached = new Set(keys.map((r) => r.url)));
}
loadPrecached();

/** A 206 response for `bytes=a-b` (or `a-`, or `-n`) from a cached full response. */
async function rangeResponse(full, header) {
  const buf = await full.arrayBuffer();
  const size = buf.byteLength;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return new Response(null, { status: 416, headers: { 'content-range': `bytes */${size}` } });
  let start;
  let end;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return new Response(null, { status: 416, headers: { 'content-range': `bytes */${size}` } });
  const headers = new Headers(full.headers);
  headers.set('content-range', `bytes ${start}-${end}/${size}`);
  headers.set('content-length', String(end - start + 1));
  headers.set('accept-ranges', 'bytes');
  return new Response(buf.slice(start, end + 1), { status: 206, headers });
}

async function fromCache(request) {
  const name = await currentCacheName();
  if (!name) return null;
  const cache = await caches.open(name);
  const url = new URL(request.url);
  url.hash = '';
  const key = request.mode === 'navigate' ? new URL('./', scope).href : url.href;
  const hit = (await cache.match(key, { ignoreSearch: request.mode === 'navigate' })) ?? null;
  if (!hit) return null;
  if (request.method === 'HEAD') {
    const headers = new Headers(hit.headers);
    const len = headers.get('content-length') ?? String((await hit.clone().arrayBuffer()).byteLength);
    headers.set('content-length', len);
    headers.set('accept-ranges', 'bytes');
    return new Response(null, { status: 200, headers });
  }
  const range = request.headers.get('range');
  return range ? rangeResponse(hit, range) : hit;
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' && request.method !== 'HEAD') return;
  const url = new URL(request.url);
  if (url.origin !== scope.origin) return;
  url.hash = '';
  if (request.mode !== 'navigate' && precached && !precached.has(url.href)) return;
  if (request.mode === 'navigate') {
    // Network first for the page itself (fresh deploys), the cached shell when offline.
    event.respondWith(fetch(request).catch(async () => (await fromCache(request)) ?? Response.error()));
    return;
  }
  event.respondWith(
    (async () => {
      const cached = await fromCache(request).catch(() => null);
      return cached ?? fetch(request);
    })(),
  );
});
