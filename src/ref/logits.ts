/** Comparing logits with a reference (transformers' fixtures): the error measure every check uses. */

/** max |got - want| / max |want| over one row; Infinity when `got` has a NaN or infinity. */
export function rowRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(got[i])) return Infinity;
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / den;
}

/**
 * The worst row error of generated-token logits against a fixture's logits.bin, whose row i holds the
 * logits after tokens[0..i] of prompt ++ generated: generated step k compares with row promptLen - 1 + k.
 */
export function worstFixtureError(rows: readonly ArrayLike<number>[], ref: Float32Array, promptLen: number, vocab: number): number {
  return rows.reduce<number>((worst, row, k) => Math.max(worst, rowRelError(row, ref.subarray((promptLen - 1 + k) * vocab, (promptLen + k) * vocab))), 0);
}
