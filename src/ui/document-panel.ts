/** The document panel: open, drop or paste; shows the token count and what the cache will cost. */
import { budgetTokensFor, type Settings } from '../storage/settings';
import type { App } from './app';
import { clearBanner, showProblem } from './banner';
import { cacheVerdict, compressedCacheBytes, deviceBudget } from './cost';
import { byId, fillDl } from './dom';
import { explainError } from './errors';
import { formatBytes, formatCount, formatPct } from './format';
import { ingestFile, pastedDocument, type IngestedDocument } from './doc/ingest';
import { documentPrompt } from './prompt';

export class DocumentPanel {
  private costRun = 0;

  constructor(
    private readonly app: App,
    private readonly settings: () => Settings,
  ) {
    byId<HTMLInputElement>('doc-file').addEventListener('change', (e) => {
      const input = e.target as HTMLInputElement;
      const f = input.files?.[0];
      if (f) void this.openFile(f);
      input.value = '';
    });
    byId('paste-toggle').addEventListener('click', () => {
      const box = byId('paste-box');
      box.hidden = !box.hidden;
      if (!box.hidden) byId('doc-paste').focus();
    });
    byId('use-paste').addEventListener('click', () => {
      try {
        this.use(pastedDocument(byId<HTMLTextAreaElement>('doc-paste').value));
        byId('paste-box').hidden = true;
      } catch (e) {
        showProblem(explainError(e));
      }
    });
    const panel = byId('document-panel');
    panel.addEventListener('dragover', (e) => {
      e.preventDefault();
      panel.classList.add('drop-target');
    });
    panel.addEventListener('dragleave', () => panel.classList.remove('drop-target'));
    panel.addEventListener('drop', (e) => {
      e.preventDefault();
      panel.classList.remove('drop-target');
      const f = e.dataTransfer?.files[0];
      if (f) void this.openFile(f);
    });
  }

  async openFile(f: File): Promise<void> {
    byId('doc-status').textContent = `Reading ${f.name}…`;
    try {
      this.use(await ingestFile(f));
    } catch (e) {
      byId('doc-status').textContent = this.app.conv.document ? `Kept ${this.app.conv.document.name}; ${f.name} was not opened.` : 'No document yet.';
      byId('doc-status').dataset.error = (e as Error).name;
      showProblem(explainError(e));
    }
  }

  private use(doc: IngestedDocument): void {
    clearBanner();
    delete byId('doc-status').dataset.error;
    this.app.setDocument({ name: doc.name, text: doc.text });
  }

  /** Shows the current document and its cost (called when the document, model or settings change). */
  async render(): Promise<void> {
    const doc = this.app.conv.document;
    byId('doc-name').textContent = doc?.name ?? '';
    byId('doc-preview-box').hidden = !doc;
    byId('doc-preview').textContent = doc ? doc.text.slice(0, 20_000) + (doc.text.length > 20_000 ? '\n…' : '') : '';
    const dl = byId('doc-cost');
    if (!doc) {
      byId('doc-status').textContent = 'No document yet.';
      dl.hidden = true;
      return;
    }
    const run = ++this.costRun;
    const info = this.app.info;
    let T: number;
    let exact = false;
    try {
      T = info ? await this.app.api.countTokens({ messages: [{ role: 'user', content: documentPrompt(doc, '') }] }) : Math.ceil(doc.text.length / 4);
      exact = !!info;
    } catch {
      T = Math.ceil(doc.text.length / 4);
    }
    if (run !== this.costRun) return;
    const status = byId('doc-status');
    status.textContent = `${doc.name}: ${formatCount(doc.text.length)} characters, ${exact ? '' : '≈ '}${formatCount(T)} tokens${exact ? '' : ' (load a model for the exact count)'}.`;
    status.dataset.tokens = String(T);
    if (!info) {
      dl.hidden = true;
      return;
    }
    const s = this.settings();
    const c = info.config;
    const shape = { nLayers: c.nLayers, nKvHeads: c.nKvHeads, headDim: c.headDim, elementBytes: info.kvDtype === 'f32' ? 4 : 2 };
    const B = budgetTokensFor(s, T);
    const mem = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
    const v = cacheVerdict(shape, T, B, s.policy, info.weightBytes, deviceBudget(this.app.probe?.limits ?? {}, mem));
    const compressed = compressedCacheBytes(shape, T, B, s.policy);
    const rows: [string, string][] = [
      ['Full cache', `${formatBytes(v.fullBytes)} (${info.kvDtype})`],
      [`Compressed (${s.policy})`, `≈ ${formatBytes(compressed)} · ${formatPct(compressed / v.fullBytes)} at B = ${Math.round(B)} tokens/head`],
      ['Device', v.fitsFull ? 'fits (full cache during prefill)' : v.fitsCompressed ? 'fits only compressed' : `does not fit: ${formatBytes(v.overBy)} over the budget`],
    ];
    if (T > c.maxPositionEmbeddings) rows.push(['Context', `${formatCount(T)} tokens is longer than the model's ${formatCount(c.maxPositionEmbeddings)}`]);
    fillDl(dl, rows);
    dl.hidden = false;
  }
}
