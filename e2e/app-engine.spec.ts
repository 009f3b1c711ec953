/**
 * Flows that need the engine on a fixture model (served at /test-models/<name>/). The answer-is-right
 * check needs the trained embedded model (public/models/default/) and is skipped without it.
 */
import { existsSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { serveFixtures } from './fixture-route';
import { openApp, SHORT_DOC, shot } from './app-helpers';

const hasDefault = existsSync('public/models/default/config.json');

async function loadFixture(page: Page, name = 'llama-f32'): Promise<void> {
  await serveFixtures(page);
  await openApp(page);
  await page.fill('#model-url', new URL(`/test-models/${name}/`, page.url()).href);
  await page.click('#url-form button[type=submit]');
  await expect(page.locator('#model-status')).toHaveAttribute('data-loaded', 'true', { timeout: 120_000 });
}

async function openDoc(page: Page, text = SHORT_DOC): Promise<void> {
  await page.locator('#doc-file').setInputFiles({ name: 'lighthouse.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
  await expect(page.locator('#doc-cost')).toBeVisible();
}

test('load a model, open a document, ask, stream an answer, reopen without prefill', async ({ page }) => {
  await loadFixture(page);
  await openDoc(page);
  await expect(page.locator('#doc-cost')).toContainText('Full cache');
  await page.fill('#set-max-tokens', '8');
  await page.locator('#set-max-tokens').dispatchEvent('change');
  await page.fill('#question', 'What is the name of the cat?');
  await page.click('#ask');
  const answer = page.locator('.msg.assistant [data-testid="answer"]').last();
  await expect(page.locator('.msg.assistant[data-stop]')).toHaveCount(1, { timeout: 120_000 });
  expect((await answer.textContent())?.length ?? 0).toBeGreaterThan(0);
  await expect(page.locator('#stats')).toContainText('tokens/s');
  await shot(page, 'answered');

  // Follow-up continues from the cache.
  await page.fill('#question', 'And the keeper?');
  await page.click('#ask');
  await expect(page.locator('.msg.assistant[data-stop]')).toHaveCount(2, { timeout: 120_000 });

  // Reload, load the stored model, reopen: the conversation comes back; with a saved cache, no prefill.
  await page.reload();
  await page.locator('#stored-models li[data-model] button', { hasText: 'Load' }).click();
  await expect(page.locator('#model-status')).toHaveAttribute('data-loaded', 'true', { timeout: 120_000 });
  await page.locator('#conv-list li[data-conv] button.name').first().click();
  await expect(page.locator('.msg.assistant')).toHaveCount(2);
  await expect(page.locator('#chat-panel')).toHaveAttribute('data-resumed', 'cache');
  await shot(page, 'reopened');
});

test('stop mid-answer leaves the engine usable', async ({ page }) => {
  await loadFixture(page);
  await openDoc(page);
  await page.fill('#set-max-tokens', '2000');
  await page.locator('#set-max-tokens').dispatchEvent('change');
  await page.fill('#question', 'Tell me everything.');
  await page.click('#ask');
  await expect.poll(async () => (await page.locator('.msg.streaming [data-testid="answer"]').textContent().catch(() => ''))?.length ?? 0, { timeout: 120_000 }).toBeGreaterThan(3);
  await page.click('#stop');
  await expect(page.locator('.msg.assistant[data-stop="aborted"]')).toHaveCount(1);
  await page.fill('#set-max-tokens', '4');
  await page.locator('#set-max-tokens').dispatchEvent('change');
  await page.fill('#question', 'Again?');
  await page.click('#ask');
  await expect(page.locator('.msg.assistant[data-stop]')).toHaveCount(2, { timeout: 120_000 });
  await shot(page, 'stopped');
});

test('the OpenAI-style facade streams chunks from the page', async ({ page }) => {
  await loadFixture(page);
  const out = await page.evaluate(async () => {
    const w = window as unknown as { rdkv: { openai: { chat: { completions: { create: (p: unknown) => Promise<AsyncIterable<{ choices: { delta: { content?: string }; finish_reason: string | null }[] }>> } } } } };
    const stream = await w.rdkv.openai.chat.completions.create({ messages: [{ role: 'user', content: 'Hello' }], stream: true, max_tokens: 5 });
    const parts: string[] = [];
    let finish: string | null = null;
    for await (const c of stream) {
      parts.push(c.choices[0].delta.content ?? '');
      finish = c.choices[0].finish_reason ?? finish;
    }
    return { n: parts.length, finish };
  });
  expect(out.n).toBeGreaterThan(1);
  expect(out.finish).toMatch(/stop|length/);
});

test('the embedded model answers a question from the document', async ({ page }) => {
  test.skip(!hasDefault, 'needs the trained model in public/models/default/');
  // The 7.3M-parameter model on the software adapter: loading and answering take a minute or two.
  test.setTimeout(600_000);
  await openApp(page, { embedded: true });
  await expect(page.locator('#model-status')).toHaveAttribute('data-loaded', 'true', { timeout: 300_000 });
  // The model is a long-document QA specialist: a fact and a question in the formats it was trained on.
  await openDoc(
    page,
    `${SHORT_DOC} The special magic number for harbor is 5829301. The keeper rowed to the mainland on Sundays. ` +
      'The special magic number for lantern is 4170638. Fog came in from the sea most mornings.',
  );
  await page.fill('#set-max-tokens', '16');
  await page.locator('#set-max-tokens').dispatchEvent('change');
  await page.fill('#question', 'What is the special magic number for harbor?');
  await page.click('#ask');
  await expect(page.locator('.msg.assistant[data-stop]')).toHaveCount(1, { timeout: 300_000 });
  await expect(page.locator('.msg.assistant [data-testid="answer"]').last()).toContainText('5829301');
  await expect(page.locator('canvas[data-testid="v-heatmap"]')).toHaveAttribute('data-cols', /\d+/);
  // A follow-up in the same chat: the app sends the bare question as a new user turn after the answer (the
  // format of the multi-question training rows, tools/train/tasks.py make_session), and the answer must come
  // from the document read for the first question.
  await page.fill('#question', 'What is the special magic number for lantern?');
  await page.click('#ask');
  await expect(page.locator('.msg.assistant[data-stop]')).toHaveCount(2, { timeout: 300_000 });
  await expect(page.locator('.msg.assistant [data-testid="answer"]').last()).toContainText('4170638');
  await shot(page, 'embedded-answer');
});

test('a compressing policy in the settings compresses the real cache, and the page shows what it kept', async ({ page }) => {
  await loadFixture(page);
  await openDoc(page);
  await page.selectOption('#set-policy', 'rdkv');
  await page.check('#set-mode-tokens');
  await page.fill('#set-budget-tokens', '8');
  await page.locator('#set-budget-tokens').dispatchEvent('change');
  await page.fill('#set-max-tokens', '4');
  await page.locator('#set-max-tokens').dispatchEvent('change');
  await page.fill('#question', 'Who kept the lamp?');
  await page.click('#ask');
  await expect(page.locator('.msg.assistant[data-stop]')).toHaveCount(1, { timeout: 120_000 });
  const panel = page.locator('[data-retention]').first();
  await expect(panel).toHaveAttribute('data-retention', /^0\.\d+/);
  const retention = Number(await panel.getAttribute('data-retention'));
  const T = Number(await panel.getAttribute('data-t'));
  // B = 8 tokens per KV head of a prompt of T > 8 tokens: a small fraction of the full cache is kept.
  expect(T).toBeGreaterThan(8);
  expect(retention).toBeGreaterThan(0);
  expect(retention).toBeLessThan(0.5);
  await shot(page, 'compressed-report');
});
