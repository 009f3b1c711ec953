/** CPU reference for the linear op (wgsl/matmul.wgsl and wgsl/matvec.wgsl). */
export interface LinearRefShape {
  rows: number;
  inFeatures: number; // K
  outFeatures: number; // N
  outStride?: number; // default N
  colOffset?: number; // default 0
  accumulate?: boolean;
}

/**
 * out[r, colOffset + n] (= or +=) sum_k x[r, k] * w[n, k] (+ bias[n]), summed in f64.
 * out: (rows, outStride); x: (rows, K); w: (N, K) as the GPU sees it (see roundTo); bias: (N).
 */
export function linearRef(out: Float32Array, x: Float32Array, w: Float32Array, bias: Float32Array | undefined, s: LinearRefShape): void {
  const { rows, inFeatures: k, outFeatures: n } = s;
  const stride = s.outStride ?? n;
  const col = s.colOffset ?? 0;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let acc = bias ? bias[j] : 0;
      for (let i = 0; i < k; i++) acc += x[r * k + i] * w[j * k + i];
      const at = r * stride + col + j;
      out[at] = s.accumulate ? out[at] + acc : acc;
    }
  }
}
