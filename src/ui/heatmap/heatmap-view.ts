/**
 * A zoomable, scrollable canvas of a width grid with a hover tooltip. Wheel zooms at the cursor, drag or
 * shift-wheel pans, the slider scrolls, arrow keys pan and +/- zoom. State is mirrored in data attributes
 * (data-col0, data-cols-per-px, data-row-px) so tests can map cells to pixels.
 */
import { el } from '../dom';
import { cellAt, clampView, fitView, GridPainter, zoomAt, type GridView, type WidthGrid } from './grid';

export interface HeatmapOptions {
  /** Accessible name and caption. */
  label: string;
  /** Tooltip text of a cell. */
  describe: (row: number, col: number) => string;
  /** Row label at the left, for rows where a layer starts (return null to skip). */
  rowLabel?: (row: number) => string | null;
  maxHeight?: number;
}

export class HeatmapView {
  readonly root: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  private readonly labels: HTMLElement;
  private readonly slider: HTMLInputElement;
  private readonly position: HTMLElement;
  private readonly tooltip: HTMLElement;
  private painter: GridPainter | null = null;
  private view: GridView = { col0: 0, colsPerPx: 1, row0: 0, rowPx: 4 };
  private frame = 0;
  private image: ImageData | null = null;
  private drag: { x: number; col0: number } | null = null;

  constructor(private readonly opts: HeatmapOptions) {
    this.canvas = el('canvas', { class: 'heatmap-canvas', tabindex: 0, role: 'img', 'aria-label': opts.label });
    this.labels = el('div', { class: 'heatmap-rows', 'aria-hidden': 'true' });
    this.slider = el('input', { type: 'range', min: 0, max: 1000, value: 0, class: 'heatmap-scroll', 'aria-label': `Scroll ${opts.label}` });
    this.position = el('span', { class: 'muted heatmap-pos' });
    this.tooltip = el('div', { class: 'tooltip', role: 'tooltip', hidden: true });
    const button = (text: string, title: string, fn: () => void) => {
      const b = el('button', { type: 'button', class: 'small', title, text });
      b.addEventListener('click', fn);
      return b;
    };
    const tools = el(
      'div',
      { class: 'heatmap-tools' },
      button('−', 'Zoom out', () => this.zoom(1 / 2, this.canvas.width / 2)),
      button('+', 'Zoom in', () => this.zoom(2, this.canvas.width / 2)),
      button('Fit', 'Show everything', () => this.fit()),
      this.position,
    );
    const body = el('div', { class: 'heatmap-body' }, this.labels, el('div', { class: 'heatmap-canvas-box' }, this.canvas, this.tooltip));
    this.root = el('div', { class: 'heatmap' }, tools, body, this.slider);
    this.bind();
  }

  setGrid(grid: WidthGrid): void {
    this.painter = new GridPainter(grid);
    this.canvas.dataset.rows = String(grid.rows);
    this.canvas.dataset.cols = String(grid.cols);
    this.fit();
  }

  get currentView(): GridView {
    return { ...this.view };
  }

  setView(v: Partial<GridView>): void {
    this.view = { ...this.view, ...v };
    this.schedule();
  }

  fit(): void {
    if (!this.painter) return;
    const { rows } = this.painter.grid;
    const maxH = this.opts.maxHeight ?? 420;
    const rowPx = Math.max(1, Math.min(16, Math.floor(maxH / Math.max(rows, 1))));
    this.view = fitView(this.painter.grid, this.width(), rowPx);
    this.schedule();
  }

  zoom(factor: number, anchorX: number): void {
    this.view = zoomAt(this.view, factor, anchorX);
    this.schedule();
  }

  private width(): number {
    return Math.max(100, Math.floor(this.canvas.parentElement?.clientWidth || 600));
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Paints now (tests call it through the rAF; exposed for synchronous redraws). */
  render(): void {
    const p = this.painter;
    if (!p) return;
    const w = this.width();
    const h = Math.max(1, Math.min(p.grid.rows * this.view.rowPx, this.opts.maxHeight ?? 420));
    this.view = clampView(this.view, p.grid, w, h);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.image = null;
    }
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    this.image ??= ctx.createImageData(w, h);
    p.paint(this.view, this.image.data, w, h);
    ctx.putImageData(this.image, 0, 0);
    const v = this.view;
    Object.assign(this.canvas.dataset, { col0: String(v.col0), colsPerPx: String(v.colsPerPx), rowPx: String(v.rowPx), row0: String(v.row0) });
    const visible = Math.min(p.grid.cols, w * v.colsPerPx);
    const first = Math.floor(v.col0);
    this.position.textContent = `${first.toLocaleString('en-US')}–${Math.min(p.grid.cols, Math.ceil(v.col0 + visible)).toLocaleString('en-US')} of ${p.grid.cols.toLocaleString('en-US')}`;
    const span = p.grid.cols - visible;
    this.slider.disabled = span <= 0;
    this.slider.value = String(span > 0 ? Math.round((1000 * v.col0) / span) : 0);
    this.renderLabels();
  }

  private renderLabels(): void {
    const p = this.painter;
    if (!p || !this.opts.rowLabel) return;
    const out: HTMLElement[] = [];
    let lastY = -100;
    for (let r = Math.floor(this.view.row0); r < p.grid.rows; r++) {
      const y = (r - this.view.row0) * this.view.rowPx;
      if (y > this.canvas.height) break;
      const text = this.opts.rowLabel(r);
      if (text === null || y - lastY < 11) continue;
      lastY = y;
      out.push(el('span', { style: `top:${y}px`, text }));
    }
    this.labels.replaceChildren(...out);
    this.labels.style.height = `${this.canvas.height}px`;
  }

  private bind(): void {
    const c = this.canvas;
    c.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
        this.setView({ col0: this.view.col0 + (ev.deltaX || ev.deltaY) * this.view.colsPerPx });
      } else {
        this.zoom(Math.pow(1.0025, -ev.deltaY), ev.offsetX);
      }
    }, { passive: false });
    c.addEventListener('pointerdown', (ev) => {
      this.drag = { x: ev.clientX, col0: this.view.col0 };
      c.setPointerCapture(ev.pointerId);
    });
    c.addEventListener('pointerup', () => (this.drag = null));
    c.addEventListener('pointermove', (ev) => {
      if (this.drag) this.setView({ col0: this.drag.col0 - (ev.clientX - this.drag.x) * this.view.colsPerPx });
      this.hover(ev.offsetX, ev.offsetY);
    });
    c.addEventListener('pointerleave', () => {
      this.tooltip.hidden = true;
      delete c.dataset.hoverRow;
      delete c.dataset.hoverCol;
    });
    c.addEventListener('keydown', (ev) => {
      const step = 40 * this.view.colsPerPx;
      if (ev.key === 'ArrowRight') this.setView({ col0: this.view.col0 + step });
      else if (ev.key === 'ArrowLeft') this.setView({ col0: this.view.col0 - step });
      else if (ev.key === '+' || ev.key === '=') this.zoom(2, c.width / 2);
      else if (ev.key === '-') this.zoom(0.5, c.width / 2);
      else return;
      ev.preventDefault();
    });
    this.slider.addEventListener('input', () => {
      const p = this.painter;
      if (!p) return;
      const span = p.grid.cols - this.canvas.width * this.view.colsPerPx;
      this.setView({ col0: (Number(this.slider.value) / 1000) * Math.max(0, span) });
    });
    new ResizeObserver(() => this.schedule()).observe(this.root);
  }

  private hover(x: number, y: number): void {
    const p = this.painter;
    const cell = p ? cellAt(this.view, p.grid, x, y) : null;
    if (!cell) {
      this.tooltip.hidden = true;
      return;
    }
    this.canvas.dataset.hoverRow = String(cell.row);
    this.canvas.dataset.hoverCol = String(cell.col);
    this.tooltip.textContent = this.opts.describe(cell.row, cell.col);
    this.tooltip.hidden = false;
    const right = x > this.canvas.width - 260;
    this.tooltip.style.left = `${right ? x - 250 : x + 14}px`;
    this.tooltip.style.top = `${y + 14}px`;
  }
}
