import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from '@playwright/test';

/** Serves test/fixtures/<name>/<file> at /test-models/<name>/<file> (honouring Range requests). */
export async function serveFixtures(page: Page): Promise<void> {
  await page.route('**/test-models/**', async (route) => {
    const url = new URL(route.request().url());
    const rel = decodeURIComponent(url.pathname.replace(/^.*\/test-models\//, ''));
    if (rel.includes('..')) return route.fulfill({ status: 400 });
    let body: Buffer;
    try {
      body = await readFile(join('test/fixtures', rel));
    } catch {
      return route.fulfill({ status: 404, body: 'not found' });
    }
    const range = route.request().headers()['range'];
    const m = range && /^bytes=(\d+)-(\d*)$/.exec(range);
    if (m) {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
      return route.fulfill({
        status: 206,
        headers: { 'content-range': `bytes ${start}-${end}/${body.length}`, 'accept-ranges': 'bytes' },
        body: body.subarray(start, end + 1),
      });
    }
    return route.fulfill({ status: 200, headers: { 'accept-ranges': 'bytes' }, body });
  });
}
