/** Side-by-side comparison of two policies on the same document and question (each a fresh prefill). */
import { budgetOf, samplingOf, type Settings } from '../storage/settings';
import { POLICIES, type Policy, type WorkerGenerateResult } from '../worker/api';
import type { App } from './app';
import { showProblem } from './banner';
import { byId, el, fillDl } from './dom';
import { explainError } from './errors';
import { HeatmapView } from './heatmap/heatmap-view';
import { summaryRows } from './heatmap/cache-panel';
import { rowLabel, vGrid } from './heatmap/report-data';
import { contextMessages } from './prompt';

export class ComparePanel {
  constructor(
    private readonly app: App,
    private readonly settings: () => Settings,
  ) {
    const a = byId<HTMLSelectElement>('compare-a');
    const b = byId<HTMLSelectElement>('compare-b');
    for (const sel of [a, b]) sel.replaceChildren(...POLICIES.map((p) => el('option', { value: p, text: p })));
    a.value = 'rdkv';
    b.value = 'snapkv';
    byId('compare-run').addEventListener('click', () => void this.run(a.value as Policy, b.value as Policy));
  }

  async run(a: Policy, b: Policy): Promise<void> {
    const conv = this.app.conv;
    const start = conv.messages.map((m) => m.role).lastIndexOf('user');
    if (start < 0 || this.app.isBusy()) return;
    const s = this.settings();
    const out = byId('compare-out');
    out.replaceChildren();
    this.app.setBusy(true);
    try {
      for (const policy of [a, b]) {
        const col = el('div', { 'data-policy': policy }, el('h3', { text: policy }), el('p', { class: 'muted', text: 'Reading…' }));
        out.append(col);
        const r: WorkerGenerateResult = await this.app.api.generate({
          messages: contextMessages(conv.document, conv.messages.slice(0, start + 1), start),
          maxTokens: s.maxTokens,
          sampling: samplingOf(s, 1),
          policy,
          budget: budgetOf(s),
        });
        this.app.invalidateContext();
        this.fill(col, policy, r);
      }
    } catch (e) {
      showProblem(explainError(e));
    } finally {
      this.app.setBusy(false);
    }
  }

  private fill(col: HTMLElement, policy: Policy, r: WorkerGenerateResult): void {
    const answer = el('p', { class: 'answer', 'data-testid': 'compare-answer' });
    answer.textContent = r.text || '(no answer)';
    const nodes: (HTMLElement | string)[] = [el('h3', { text: policy }), answer];
    if (r.report) {
      const rep = r.report;
      const dl = el('dl', { class: 'summary' });
      fillDl(dl, summaryRows(rep));
      const hm = new HeatmapView({
        label: `V widths with ${policy}`,
        describe: (row, c) => `token ${c} · ${rowLabel(rep, row)}: ${rep.vWidths[row * rep.T + c]} bits`,
        maxHeight: 200,
      });
      nodes.push(dl, hm.root);
      col.replaceChildren(...nodes);
      hm.setGrid(vGrid(rep));
    } else {
      nodes.push(el('p', { class: 'muted', text: 'No compression report (full cache, or the engine does not report yet).' }));
      col.replaceChildren(...nodes);
    }
  }
}
