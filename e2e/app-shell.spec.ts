import { expect, test } from '@playwright/test';
import { openApp, SHORT_DOC, shot, tinyPdf } from './app-helpers';

test('the page renders, probes WebGPU and never goes blank', async ({ page }) => {
  await openApp(page);
  await expect(page.locator('h1')).toHaveText('rdkv-web');
  await expect(page.locator('#adapter')).toHaveAttribute('data-webgpu', 'true');
  await expect(page.locator('#stats')).toContainText('Max binding');
  await shot(page, 'shell');
});

test('documents: txt, html and pdf become text with a token count', async ({ page }) => {
  await openApp(page);
  const input = page.locator('#doc-file');
  await input.setInputFiles({ name: 'story.txt', mimeType: 'text/plain', buffer: Buffer.from(SHORT_DOC) });
  await expect(page.locator('#doc-status')).toContainText('story.txt');
  await expect(page.locator('#doc-status')).toHaveAttribute('data-tokens', /\d+/);
  await expect(page.locator('#doc-preview')).toContainText('Marta Olsen');

  await input.setInputFiles({ name: 'page.html', mimeType: 'text/html', buffer: Buffer.from('<html><head><title>T</title><script>x()</script></head><body><p>Hello <b>web</b></p></body></html>') });
  await expect(page.locator('#doc-preview')).toHaveText('T\n\nHello web');

  await input.setInputFiles({ name: 'paper.pdf', mimeType: 'application/pdf', buffer: tinyPdf('The answer is forty-two.') });
  await expect(page.locator('#doc-preview')).toContainText('The answer is forty-two.', { timeout: 30_000 });
  await shot(page, 'document-pdf');
});

test('a binary document gives a clear error and keeps the current document', async ({ page }) => {
  await openApp(page);
  await page.locator('#doc-file').setInputFiles({ name: 'story.txt', mimeType: 'text/plain', buffer: Buffer.from(SHORT_DOC) });
  await expect(page.locator('#doc-name')).toHaveText('story.txt');
  await page.locator('#doc-file').setInputFiles({ name: 'photo.txt', mimeType: 'text/plain', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]) });
  const banner = page.locator('#banner');
  await expect(banner).toHaveAttribute('data-kind', 'document');
  await expect(banner).toContainText('PNG image');
  await expect(page.locator('#doc-name')).toHaveText('story.txt');
  await shot(page, 'binary-document');
});

test('settings persist across a reload', async ({ page }) => {
  await openApp(page);
  await page.selectOption('#set-policy', 'snapkv');
  await page.check('#set-mode-retention');
  await page.fill('#set-retention', '7.5');
  await page.locator('#set-retention').dispatchEvent('change');
  await page.uncheck('#set-greedy');
  await page.fill('#set-temperature', '0.3');
  await page.locator('#set-temperature').dispatchEvent('change');
  await page.reload();
  await expect(page.locator('#set-policy')).toHaveValue('snapkv');
  await expect(page.locator('#set-mode-retention')).toBeChecked();
  await expect(page.locator('#set-retention')).toHaveValue('7.5');
  await expect(page.locator('#set-greedy')).not.toBeChecked();
  await expect(page.locator('#set-temperature')).toHaveValue('0.3');
});

test('a corrupt model is reported clearly', async ({ page }) => {
  await page.route('**/bad-model/**', (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop();
    if (name === 'config.json') return route.fulfill({ body: JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 16 }) });
    if (name === 'tokenizer.json') return route.fulfill({ body: '{"model":{"type":"BPE","vocab":{},"merges":[]}}' });
    if (name === 'model.safetensors') return route.fulfill({ headers: { 'accept-ranges': 'bytes' }, body: Buffer.from('this is not a safetensors file at all') });
    return route.fulfill({ status: 404, body: 'not found' });
  });
  await openApp(page);
  // "Load from URL": downloaded into IndexedDB, then loaded from there.
  await page.fill('#model-url', new URL('/bad-model/', page.url()).href);
  await page.click('#url-form button[type=submit]');
  const banner = page.locator('#banner');
  await expect(banner).toHaveAttribute('data-kind', 'model', { timeout: 60_000 });
  await expect(banner).toContainText(/safetensors|config\.json|tokenizer/);
  await expect(page.locator('#model-status')).toHaveText('No model loaded.');
  await shot(page, 'corrupt-model');
});
