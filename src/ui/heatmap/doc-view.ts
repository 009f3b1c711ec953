/**
 * The document view: the prompt's text token by token, each tinted by its mean V width across (layer,
 * head); evicted tokens struck through in red. Clicking a token shows its width in every layer and head.
 * Renders in pages of PAGE tokens so that long documents stay responsive.
 */
import type { CacheReport } from '../../worker/api';
import { el } from '../dom';
import { cssColor, meanWidthColor, WIDTH_COLORS } from './palette';
import { tokenStats, widthsAtToken, type TokenStats } from './report-data';

const PAGE = 4000;

export function tokenClass(evictedFrac: number): string {
  return evictedFrac >= 1 ? 'tok evicted' : evictedFrac >= 0.5 ? 'tok mostly-evicted' : 'tok';
}

export class DocView {
  readonly root: HTMLElement;
  private readonly text: HTMLElement;
  private readonly more: HTMLButtonElement;
  private readonly detail: HTMLElement;
  private report: CacheReport | null = null;
  private pieces: string[] = [];
  private stats: TokenStats | null = null;
  private shown = 0;

  constructor() {
    this.text = el('div', { class: 'doc-text', 'data-testid': 'doc-view' });
    this.more = el('button', { type: 'button', class: 'small', hidden: true, text: 'Show more' });
    this.detail = el('div', { class: 'token-detail muted', 'data-testid': 'token-detail', text: 'Click a token to see its widths per layer and head.' });
    this.root = el('div', { class: 'doc-view' }, this.text, this.more, this.detail);
    this.more.addEventListener('click', () => this.renderMore());
    this.text.addEventListener('click', (ev) => {
      const t = (ev.target as HTMLElement).closest<HTMLElement>('.tok');
      if (t) this.select(Number(t.dataset.t));
    });
  }

  set(report: CacheReport, pieces: string[]): void {
    this.report = report;
    this.pieces = pieces;
    this.stats = tokenStats(report);
    this.shown = 0;
    this.text.replaceChildren();
    this.renderMore();
  }

  private renderMore(): void {
    const r = this.report;
    const s = this.stats;
    if (!r || !s) return;
    const end = Math.min(r.T, this.shown + PAGE);
    const frag = document.createDocumentFragment();
    for (let t = this.shown; t < end; t++) {
      const piece = this.pieces[t] ?? '';
      const span = el('span', { class: tokenClass(s.evicted[t]), 'data-t': t, 'data-mean': s.mean[t].toFixed(2), 'data-evicted': s.evicted[t].toFixed(3) });
      span.textContent = piece === '' ? '∅' : piece;
      if (piece === '') span.classList.add('special');
      span.style.backgroundColor = cssColor(meanWidthColor(s.mean[t]), 0.45);
      frag.append(span);
    }
    this.text.append(frag);
    this.shown = end;
    this.more.hidden = end >= r.T;
    this.more.textContent = `Show more (${(r.T - end).toLocaleString('en-US')} tokens left)`;
  }

  /** Shows the widths of token t per layer (rows) and KV head (columns). */
  select(t: number): void {
    const r = this.report;
    if (!r || !(t >= 0 && t < r.T)) return;
    for (const old of this.text.querySelectorAll('.tok.selected')) old.classList.remove('selected');
    this.text.querySelector(`[data-t="${t}"]`)?.classList.add('selected');
    const w = widthsAtToken(r, t);
    const head = el('tr', {}, el('th', { text: 'layer' }), ...Array.from({ length: r.nKvHeads }, (_, h) => el('th', { text: `h${h}` })));
    const rows = Array.from({ length: r.nLayers }, (_, l) =>
      el(
        'tr',
        {},
        el('th', { text: String(l) }),
        ...Array.from({ length: r.nKvHeads }, (_, h) => {
          const bits = w[l * r.nKvHeads + h];
          const c = WIDTH_COLORS[bits] ?? [128, 128, 128];
          const td = el('td', { text: String(bits), 'data-bits': bits, title: `layer ${l}, head ${h}: ${bits} bits` });
          td.style.backgroundColor = cssColor(c);
          td.style.color = bits >= 8 || bits === 0 ? '#fff' : '#222';
          return td;
        }),
      ),
    );
    const piece = JSON.stringify(this.pieces[t] ?? '');
    this.detail.classList.remove('muted');
    this.detail.replaceChildren(
      el('p', {}, el('strong', { text: `Token ${t}` }), ` ${piece} · mean ${this.stats?.mean[t].toFixed(2)} bits · evicted in ${Math.round(100 * (this.stats?.evicted[t] ?? 0))}% of heads`),
      el('table', { class: 'width-table', 'data-token': t }, el('thead', {}, head), el('tbody', {}, ...rows)),
    );
  }
}
