/** CPU reference for wgsl/argmax.wgsl: first index of the largest non-NaN value (-0 equals +0); 0 if all are NaN. */
export function argmaxRef(logits: Float32Array): number {
  let best = -1;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (!Number.isNaN(v) && (best < 0 || v > logits[best])) best = i;
  }
  return Math.max(best, 0);
}
