import { expect, test } from '@playwright/test';
import { cellColor, openApp, showSyntheticReport, shot, WIDTH_RGB } from './app-helpers';

const W = [0, 2, 4, 8, 16];
const expected = (row: number, t: number) => (t === 3 ? 0 : t === 4 ? 16 : W[(row + t) % 5]);

test('the V heatmap paints each (layer, head) × token cell in its width colour', async ({ page }) => {
  await openApp(page);
  await showSyntheticReport(page, 60);
  const canvas = page.locator('canvas[data-testid="v-heatmap"]');
  await expect(canvas).toHaveAttribute('data-cols', '60');
  await expect.poll(() => canvas.getAttribute('data-cols-per-px')).not.toBeNull();
  for (const [row, t] of [[0, 0], [1, 0], [2, 7], [3, 3], [0, 4], [3, 59], [1, 30]]) {
    expect(await cellColor(page, 'v-heatmap', row, t), `cell (${row}, ${t})`).toEqual(WIDTH_RGB[expected(row, t)]);
  }
  // K channels: width of (row, c) = W[((row·d + c)·3) % 5].
  for (const [row, c] of [[0, 0], [0, 1], [2, 5], [3, 15]]) {
    expect(await cellColor(page, 'k-heatmap', row, c), `K cell (${row}, ${c})`).toEqual(WIDTH_RGB[W[((row * 16 + c) * 3) % 5]]);
  }
  await expect(page.getByTestId('cache-summary')).toContainText('15.00%');
  await expect(page.getByTestId('cache-summary')).toContainText('metadata');
  await shot(page, 'heatmap');
});

test('zoom, scroll and hover on the heatmap', async ({ page }) => {
  await openApp(page);
  await showSyntheticReport(page, 2000);
  const canvas = page.locator('canvas[data-testid="v-heatmap"]');
  await expect.poll(async () => Number(await canvas.getAttribute('data-cols-per-px'))).toBeGreaterThan(1);
  const before = Number(await canvas.getAttribute('data-cols-per-px'));
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + 20, box.y + 5);
  for (let i = 0; i < 6; i++) await page.mouse.wheel(0, -400);
  await expect.poll(async () => Number(await canvas.getAttribute('data-cols-per-px'))).toBeLessThan(before / 4);
  // Zoomed in enough to see single tokens: colours are exact again.
  await page.locator('.heatmap-tools button[title="Zoom in"]').first().click();
  await page.locator('.heatmap-tools button[title="Zoom in"]').first().click();
  await expect.poll(async () => Number(await canvas.getAttribute('data-cols-per-px'))).toBeLessThan(1);
  await page.locator('.heatmap-scroll').first().fill('0');
  await expect(canvas).toHaveAttribute('data-col0', '0');
  expect(await cellColor(page, 'v-heatmap', 2, 1)).toEqual(WIDTH_RGB[expected(2, 1)]);
  // Scroll with the slider to the end.
  await page.locator('.heatmap-scroll').first().fill('1000');
  await expect.poll(async () => Number(await canvas.getAttribute('data-col0'))).toBeGreaterThan(1500);
  expect(await cellColor(page, 'v-heatmap', 1, 1999)).toEqual(WIDTH_RGB[expected(1, 1999)]);
  // Back to everything, then hover token 4 (kept at 16 bits) on row 0.
  await page.locator('.heatmap-tools button[title="Show everything"]').first().click();
  await page.locator('.heatmap-tools button[title="Zoom in"]').first().click();
  for (let i = 0; i < 8; i++) await page.locator('.heatmap-tools button[title="Zoom in"]').first().click();
  await page.locator('.heatmap-scroll').first().fill('0');
  const d = await canvas.evaluate((c: HTMLCanvasElement) => ({ ...c.dataset }));
  const x = (4.5 - Number(d.col0)) / Number(d.colsPerPx);
  await page.mouse.move(box.x + x, box.y + 0.5 * Number(d.rowPx));
  await expect(canvas).toHaveAttribute('data-hover-col', '4');
  await expect(page.locator('.tooltip').first()).toContainText('token 4 " kept"');
  await expect(page.locator('.tooltip').first()).toContainText('16 bits');
  await shot(page, 'heatmap-zoomed');
});

test('the document view tints tokens by mean width, marks evicted ones, and shows widths on click', async ({ page }) => {
  await openApp(page);
  await showSyntheticReport(page, 40);
  const view = page.getByTestId('doc-view');
  await expect(view.locator('.tok')).toHaveCount(40);
  const evicted = view.locator('[data-t="3"]');
  await expect(evicted).toHaveClass(/evicted/);
  await expect(evicted).toHaveAttribute('data-mean', '0.00');
  await expect(view.locator('[data-t="4"]')).toHaveAttribute('data-mean', '16.00');
  await expect(view.locator('[data-t="0"]')).toHaveAttribute('data-mean', '3.50'); // 0, 2, 4, 8
  await expect(view.locator('[data-t="0"]')).not.toHaveClass(/evicted/);
  await view.locator('[data-t="1"]').click();
  const table = page.getByTestId('token-detail').locator('table');
  await expect(table).toHaveAttribute('data-token', '1');
  const bits = await table.locator('td').evaluateAll((tds) => tds.map((td) => Number((td as HTMLElement).dataset.bits)));
  expect(bits).toEqual([2, 4, 8, 16]); // layer 0 heads 0-1, layer 1 heads 0-1
  await shot(page, 'document-view');
});
