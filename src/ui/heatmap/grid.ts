/**
 * A width grid (rows × cols of bit widths) and its pixel painter. Rows are (layer, KV head), columns are
 * tokens (V) or channels (K). Zoomed out, one pixel averages the colours of the columns it covers, read
 * from a pyramid of pre-averaged bins so that 128K columns repaint in a few milliseconds.
 */
import { EMPTY, LUT } from './palette';

export interface WidthGrid {
  rows: number;
  cols: number;
  /** (rows·cols) row-major. */
  data: Uint8Array;
}

/** What is on screen: columns from col0, colsPerPx columns per pixel (< 1 when zoomed in); rows likewise. */
export interface GridView {
  col0: number;
  colsPerPx: number;
  row0: number;
  rowPx: number;
}

/** The smallest bin size kept in the pyramid; narrower spans are averaged directly. */
const BASE_LEVEL = 3;

export class GridPainter {
  /** levels[k]: RGB averages of bins of 2^(BASE_LEVEL + k) columns, (rows, ceil(cols / bin), 3). */
  private levels: Uint8Array[] = [];

  constructor(readonly grid: WidthGrid) {
    if (grid.data.length !== grid.rows * grid.cols) throw new RangeError(`grid data has ${grid.data.length} cells, expected ${grid.rows}×${grid.cols}`);
  }

  private level(k: number): Uint8Array {
    while (this.levels.length <= k) {
      const n = this.levels.length;
      const { rows, cols, data } = this.grid;
      const bin = 1 << (BASE_LEVEL + n);
      const nb = Math.ceil(cols / bin);
      const out = new Uint8Array(rows * nb * 3);
      for (let r = 0; r < rows; r++) {
        for (let b = 0; b < nb; b++) {
          let s0 = 0, s1 = 0, s2 = 0, cnt = 0;
          if (n === 0) {
            const end = Math.min(cols, (b + 1) * bin);
            for (let c = b * bin; c < end; c++) {
              const w = data[r * cols + c] * 3;
              s0 += LUT[w]; s1 += LUT[w + 1]; s2 += LUT[w + 2]; cnt++;
            }
          } else {
            // Average of the two finer bins, weighted by how many columns each covers.
            const prev = this.levels[n - 1];
            const pnb = Math.ceil(cols / (bin >> 1));
            for (const pb of [2 * b, 2 * b + 1]) {
              if (pb >= pnb) continue;
              const wgt = Math.min(bin >> 1, cols - pb * (bin >> 1));
              const o = (r * pnb + pb) * 3;
              s0 += prev[o] * wgt; s1 += prev[o + 1] * wgt; s2 += prev[o + 2] * wgt; cnt += wgt;
            }
          }
          const o = (r * nb + b) * 3;
          out[o] = Math.round(s0 / cnt); out[o + 1] = Math.round(s1 / cnt); out[o + 2] = Math.round(s2 / cnt);
        }
      }
      this.levels.push(out);
    }
    return this.levels[k];
  }

  /** Paints the view into RGBA pixels (width × height). */
  paint(view: GridView, out: Uint8ClampedArray, width: number, height: number): void {
    const { rows, cols, data } = this.grid;
    const cpp = view.colsPerPx;
    const k = cpp >= 1 << BASE_LEVEL ? Math.floor(Math.log2(cpp)) - BASE_LEVEL : -1;
    const lvl = k >= 0 ? this.level(k) : null;
    const bin = k >= 0 ? 1 << (BASE_LEVEL + k) : 1;
    const nb = Math.ceil(cols / bin);
    const rowColor = new Uint8Array(width * 3);
    const valid = new Uint8Array(width);
    let lastRow = -1;
    for (let y = 0; y < height; y++) {
      const r = Math.floor(view.row0 + y / view.rowPx);
      if (r !== lastRow) {
        lastRow = r;
        valid.fill(0);
        if (r >= 0 && r < rows) this.paintRow(r, view, width, rowColor, valid, data, cols, lvl, bin, nb);
      }
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 4;
        const src = valid[x] ? rowColor : null;
        out[o] = src ? src[x * 3] : EMPTY[0];
        out[o + 1] = src ? src[x * 3 + 1] : EMPTY[1];
        out[o + 2] = src ? src[x * 3 + 2] : EMPTY[2];
        out[o + 3] = 255;
      }
    }
  }

  private paintRow(
    r: number, view: GridView, width: number, rgb: Uint8Array, valid: Uint8Array,
    data: Uint8Array, cols: number, lvl: Uint8Array | null, bin: number, nb: number,
  ): void {
    const cpp = view.colsPerPx;
    for (let x = 0; x < width; x++) {
      const a = view.col0 + x * cpp;
      const b = a + cpp;
      if (b <= 0 || a >= cols) continue;
      let s0 = 0, s1 = 0, s2 = 0, cnt = 0;
      if (cpp <= 1) {
        const c = Math.floor(a);
        if (c < 0 || c >= cols) continue;
        const w = data[r * cols + c] * 3;
        s0 = LUT[w]; s1 = LUT[w + 1]; s2 = LUT[w + 2]; cnt = 1;
      } else if (!lvl) {
        const end = Math.min(cols, Math.max(Math.floor(b), Math.floor(a) + 1));
        for (let c = Math.max(0, Math.floor(a)); c < end; c++) {
          const w = data[r * cols + c] * 3;
          s0 += LUT[w]; s1 += LUT[w + 1]; s2 += LUT[w + 2]; cnt++;
        }
      } else {
        const b0 = Math.max(0, Math.floor(a / bin));
        const b1 = Math.min(nb, Math.max(b0 + 1, Math.ceil(b / bin)));
        for (let q = b0; q < b1; q++) {
          const o = (r * nb + q) * 3;
          s0 += lvl[o]; s1 += lvl[o + 1]; s2 += lvl[o + 2]; cnt++;
        }
      }
      if (!cnt) continue;
      valid[x] = 1;
      rgb[x * 3] = Math.round(s0 / cnt);
      rgb[x * 3 + 1] = Math.round(s1 / cnt);
      rgb[x * 3 + 2] = Math.round(s2 / cnt);
    }
  }
}

/** The cell under pixel (x, y), or null outside the data. */
export function cellAt(view: GridView, grid: { rows: number; cols: number }, x: number, y: number): { row: number; col: number } | null {
  const col = Math.floor(view.col0 + x * view.colsPerPx);
  const row = Math.floor(view.row0 + y / view.rowPx);
  if (col < 0 || col >= grid.cols || row < 0 || row >= grid.rows) return null;
  return { row, col };
}

/** The whole grid across `width` pixels, rows at `rowPx` each. */
export function fitView(grid: { rows: number; cols: number }, width: number, rowPx: number): GridView {
  return { col0: 0, colsPerPx: Math.max(grid.cols, 1) / Math.max(width, 1), row0: 0, rowPx };
}

/** Keeps the view inside the data: zoom between 32 pixels per column (or the fit, when wider) and the whole grid. */
export function clampView(v: GridView, grid: { rows: number; cols: number }, width: number, height: number): GridView {
  const fitCpp = grid.cols / Math.max(width, 1);
  const minCpp = Math.min(1 / 32, fitCpp);
  const colsPerPx = Math.min(Math.max(fitCpp, minCpp), Math.max(minCpp, v.colsPerPx));
  const visibleCols = width * colsPerPx;
  const col0 = Math.max(0, Math.min(grid.cols - visibleCols, v.col0));
  const visibleRows = height / v.rowPx;
  const row0 = Math.max(0, Math.min(grid.rows - visibleRows, v.row0));
  return { col0, colsPerPx, row0, rowPx: v.rowPx };
}

/** Zooms by `factor` (> 1 zooms in) keeping the column under pixel `anchorX` in place. */
export function zoomAt(v: GridView, factor: number, anchorX: number): GridView {
  const colsPerPx = v.colsPerPx / factor;
  const anchorCol = v.col0 + anchorX * v.colsPerPx;
  return { ...v, colsPerPx, col0: anchorCol - anchorX * colsPerPx };
}
