import { expect, test } from '@playwright/test';
import { openApp, showSyntheticReport, shot } from './app-helpers';

test('after the first visit the app works with the network off', async ({ page, context }) => {
  await openApp(page);
  // Wait for the service worker to precache everything and take control.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.reload();
  await expect.poll(() => page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  const manifest = await page.evaluate(async () => (await fetch('asset-manifest.json')).json() as Promise<{ assets: string[] }>);
  expect(manifest.assets.some((a) => /engine\.worker.*\.js$/.test(a))).toBe(true);
  expect(manifest.assets.some((a) => /pdf\.worker.*\.mjs$/.test(a))).toBe(true);

  await context.setOffline(true);
  await page.reload();
  await expect(page.locator('h1')).toHaveText('rdkv-web');
  await expect(page.locator('#net-chip')).toBeVisible();
  // The worker starts from the cache and probes the adapter.
  await expect(page.locator('#adapter')).toHaveAttribute('data-webgpu', 'true');
  await showSyntheticReport(page, 20);
  await expect(page.getByTestId('doc-view').locator('.tok')).toHaveCount(20);
  await shot(page, 'offline');
  await context.setOffline(false);
});
