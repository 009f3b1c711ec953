/** The cache inspector: summary, legend, V heatmap, document view and K channel widths of one report. */
import type { CacheReport } from '../../worker/api';
import { el, fillDl } from '../dom';
import { formatBytes, formatPct } from '../format';
import { DocView } from './doc-view';
import { HeatmapView } from './heatmap-view';
import { cssColor, WIDTH_COLORS, WIDTH_LABELS } from './palette';
import { checkReport, kGrid, rowLabel, summarize, tokenStats, vGrid, type TokenStats } from './report-data';

export function legend(): HTMLElement {
  return el(
    'ul',
    { class: 'legend', 'aria-label': 'Width colours' },
    ...[16, 8, 4, 2, 0].map((w) => {
      const sw = el('span', { class: 'swatch' });
      sw.style.backgroundColor = cssColor(WIDTH_COLORS[w]);
      return el('li', { 'data-width': w }, sw, WIDTH_LABELS[w]);
    }),
  );
}

export function summaryRows(r: CacheReport): [string, string][] {
  const s = summarize(r);
  const meta = s.metadataBytes === null ? '' : ` (metadata ${formatBytes(s.metadataBytes)})`;
  return [
    ['Policy', r.policy + (r.budgetTokens ? ` · B = ${Math.round(r.budgetTokens)} tokens/head` : '')],
    ['Retention', formatPct(s.retention, 2)],
    ['Full cache', formatBytes(s.fullBytes)],
    ['Compressed', formatBytes(s.compressedBytes) + meta],
    ['Predicted distortion', `${s.meanDistortion.toExponential(2)} mean · ${s.maxDistortion.toExponential(2)} max`],
    ['Mean V width', `${s.meanVBits.toFixed(2)} bits · evicted ${formatPct(s.vShare[0])}`],
    ['Prompt', `${r.T.toLocaleString('en-US')} tokens · ${r.nLayers} layers × ${r.nKvHeads} KV heads · d = ${r.headDim}`],
  ];
}

export class CachePanel {
  readonly root: HTMLElement;
  readonly v: HeatmapView;
  readonly k: HeatmapView;
  readonly doc: DocView;
  private readonly summary: HTMLElement;
  private report: CacheReport | null = null;
  private pieces: string[] = [];
  private stats: TokenStats | null = null;

  constructor() {
    this.summary = el('dl', { class: 'summary', 'data-testid': 'cache-summary' });
    this.v = new HeatmapView({
      label: 'V width per prompt token; rows are (layer, KV head), columns are tokens',
      describe: (row, col) => this.describeV(row, col),
      rowLabel: (row) => (this.report && row % this.report.nKvHeads === 0 ? `L${row / this.report.nKvHeads}` : null),
    });
    this.k = new HeatmapView({
      label: 'K width per channel; rows are (layer, KV head), columns are channels',
      describe: (row, col) => (this.report ? `${rowLabel(this.report, row)} · channel ${col}: ${this.report.kWidths[row * this.report.headDim + col]} bits` : ''),
      rowLabel: (row) => (this.report && row % this.report.nKvHeads === 0 ? `L${row / this.report.nKvHeads}` : null),
      maxHeight: 260,
    });
    this.v.canvas.dataset.testid = 'v-heatmap';
    this.k.canvas.dataset.testid = 'k-heatmap';
    this.doc = new DocView();
    this.root = el(
      'div',
      { class: 'cache-panel' },
      el('div', { class: 'summary-row' }, this.summary, legend()),
      el('h3', { text: 'V width per prompt token' }),
      this.v.root,
      el('h3', { text: 'Document view' }),
      this.doc.root,
      el('h3', { text: 'K width per channel' }),
      this.k.root,
    );
  }

  set(report: CacheReport, pieces: string[]): void {
    checkReport(report);
    this.report = report;
    this.pieces = pieces;
    this.stats = tokenStats(report);
    fillDl(this.summary, summaryRows(report));
    this.root.dataset.retention = String(report.retention);
    this.root.dataset.t = String(report.T);
    this.v.setGrid(vGrid(report));
    this.k.setGrid(kGrid(report));
    this.doc.set(report, pieces);
  }

  private describeV(row: number, col: number): string {
    const r = this.report;
    if (!r) return '';
    const piece = JSON.stringify(this.pieces[col] ?? '');
    const bits = r.vWidths[row * r.T + col];
    const mean = this.stats?.mean[col] ?? 0;
    return `token ${col} ${piece} · ${rowLabel(r, row)}: ${bits === 0 ? 'evicted' : `${bits} bits`} · mean over heads ${mean.toFixed(2)} bits`;
  }
}
