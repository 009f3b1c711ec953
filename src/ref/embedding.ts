/** CPU reference for wgsl/embedding.wgsl. out: (rows, dim); table: (vocab, dim) as the GPU sees it (see roundTo). */
export function embeddingRef(out: Float32Array, ids: Uint32Array, table: Float32Array, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) out.set(table.subarray(ids[r] * dim, (ids[r] + 1) * dim), r * dim);
}
