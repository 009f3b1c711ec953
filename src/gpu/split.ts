/** Splitting a row-major tensor by rows into parts that each fit one buffer binding. */

/** Rows [rowStart, rowStart + rowCount) of a row-major tensor, held in one GPU buffer. */
export interface RowRange {
  rowStart: number;
  rowCount: number;
}

/** A part of a weight tensor on the GPU: its rows, packed in the weight layout, in `buffer` from offset 0. */
export interface WeightPart extends RowRange {
  buffer: GPUBuffer;
}

/**
 * The fewest parts of balanced size (each at most `maxBytes`) that cover `totalRows` rows of
 * `bytesPerRow` bytes, in order. Balanced so every part's dispatch does similar work.
 */
export function planRowSplit(totalRows: number, bytesPerRow: number, maxBytes: number): RowRange[] {
  if (!Number.isInteger(totalRows) || totalRows < 1) throw new RangeError(`planRowSplit: totalRows must be a positive integer, got ${totalRows}`);
  if (!(bytesPerRow > 0)) throw new RangeError(`planRowSplit: bytesPerRow must be positive, got ${bytesPerRow}`);
  const maxRows = Math.floor(maxBytes / bytesPerRow);
  if (maxRows < 1) throw new RangeError(`planRowSplit: one row (${bytesPerRow} bytes) is larger than the ${maxBytes}-byte limit`);
  const parts = Math.ceil(totalRows / maxRows);
  const base = Math.floor(totalRows / parts);
  const out: RowRange[] = [];
  let rowStart = 0;
  for (let i = 0; i < parts; i++) {
    const rowCount = base + (i < totalRows % parts ? 1 : 0);
    out.push({ rowStart, rowCount });
    rowStart += rowCount;
  }
  return out;
}

/**
 * Checks that each part's buffer holds its rows (`wordsPerRow` u32 words each) and, when `totalRows` is
 * given, that the parts cover rows [0, totalRows) in order without gaps or overlap. `what` names the
 * tensor in errors.
 */
export function checkParts(what: string, parts: readonly WeightPart[], wordsPerRow: number, totalRows?: number): void {
  if (parts.length === 0) throw new RangeError(`${what}: no weight parts given`);
  let next = 0;
  for (const [i, p] of parts.entries()) {
    if (p.rowCount < 1 || p.rowStart < 0 || (totalRows !== undefined && p.rowStart !== next)) {
      throw new RangeError(`${what}: part ${i} holds rows [${p.rowStart}, ${p.rowStart + p.rowCount}), expected a non-empty range starting at ${next}`);
    }
    const need = p.rowCount * wordsPerRow * 4;
    if (p.buffer.size < need) throw new RangeError(`${what}: part ${i} buffer has ${p.buffer.size} bytes, its ${p.rowCount} rows need ${need}`);
    next = p.rowStart + p.rowCount;
  }
  if (totalRows !== undefined && next !== totalRows) throw new RangeError(`${what}: parts cover ${next} rows, the tensor has ${totalRows}`);
}
