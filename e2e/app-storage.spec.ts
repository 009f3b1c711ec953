import { expect, test } from '@playwright/test';
import { serveFixtures } from './fixture-route';
import { openApp, SHORT_DOC, shot } from './app-helpers';

test('conversations persist in IndexedDB and reopen with their document', async ({ page }) => {
  await openApp(page);
  await page.click('#paste-toggle');
  await page.fill('#doc-paste', SHORT_DOC);
  await page.click('#use-paste');
  await expect(page.locator('#doc-name')).toHaveText('Pasted text');
  await expect(page.locator('#conv-list li[data-conv]')).toHaveCount(1);
  await page.click('#new-conv');
  await expect(page.locator('#doc-name')).toHaveText('');
  await page.reload();
  await page.locator('#conv-list li[data-conv] button.name').first().click();
  await expect(page.locator('#doc-name')).toHaveText('Pasted text');
  await expect(page.locator('#doc-preview')).toContainText('Marta Olsen');
  await page.locator('#conv-list li[data-conv] button', { hasText: 'Delete' }).first().click();
  await expect(page.locator('#conv-list li[data-conv]')).toHaveCount(0);
});

test('a full quota gives a clear message and keeps the conversation open', async ({ page }) => {
  await openApp(page);
  await page.evaluate(() => {
    IDBObjectStore.prototype.put = function () {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    };
  });
  await page.click('#paste-toggle');
  await page.fill('#doc-paste', SHORT_DOC);
  await page.click('#use-paste');
  const banner = page.locator('#banner');
  await expect(banner).toHaveAttribute('data-kind', 'storage');
  await expect(banner).toContainText('Browser storage is full');
  await expect(banner).toContainText('still open');
  await expect(page.locator('#doc-preview')).toContainText('Marta Olsen');
  await shot(page, 'quota-full');
});

test('a model loaded from a URL is stored in chunks, listed with its size, and deleted', async ({ page }) => {
  await serveFixtures(page);
  await openApp(page);
  await page.fill('#model-url', new URL('/test-models/llama-f32/', page.url()).href);
  await page.click('#url-form button[type=submit]');
  const item = page.locator('#stored-models li[data-model]');
  await expect(item).toHaveCount(1, { timeout: 60_000 });
  await expect(item).toContainText('llama-f32');
  await expect(item).toContainText(/\d+(\.\d+)? (KiB|MiB)/);
  await expect(item.locator('button', { hasText: 'Load' })).toBeVisible();
  await expect(page.locator('#storage-info')).toContainText('Using');
  await shot(page, 'stored-model');
  await item.locator('button', { hasText: 'Delete' }).click();
  await expect(page.locator('#stored-models li[data-model]')).toHaveCount(0);
});
