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

/**
 * The matvec kernel with its input RMSNorm folded in (wgsl/matvec.wgsl, NORM): linearRef over
 * rmsnorm(x) * normWeight (src/ref/rmsnorm.ts), the norm in f64.
 */
export function normLinearRef(
  out: Float32Array,
  x: Float32Array,
  normWeight: Float32Array,
  eps: number,
  w: Float32Array,
  bias: Float32Array | undefined,
  s: LinearRefShape,
): void {
  linearRef(out, normRows(x, normWeight, eps, s.rows, s.inFeatures), w, bias, s);
}

/**
 * The matvec kernel with the SwiGLU gate folded in (wgsl/matvec.wgsl, GLU): w holds [gate; up]
 * (2 * outFeatures rows), bias (if any) 2 * outFeatures; out[r, colOffset + n] = silu(g) * u with
 * g = x . gate[n] (+ bias[n]), u = x . up[n] (+ bias[N + n]), silu(v) = v / (1 + exp(-v)); with
 * normWeight, x is RMS-normalised first as in normLinearRef.
 */
export function gluLinearRef(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | undefined,
  s: LinearRefShape,
  norm?: { weight: Float32Array; eps: number },
): void {
  const { rows, inFeatures: k, outFeatures: n } = s;
  const xs = norm ? normRows(x, norm.weight, norm.eps, rows, k) : x;
  const both = new Float32Array(rows * 2 * n);
  linearRef(both, xs, w, bias, { rows, inFeatures: k, outFeatures: 2 * n });
  const stride = s.outStride ?? n;
  const col = s.colOffset ?? 0;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      const g = both[r * 2 * n + j];
      const u = both[r * 2 * n + n + j];
      out[r * stride + col + j] = (g / (1 + Math.exp(-g))) * u;
    }
  }
}

// x / sqrt(mean(x^2) + eps) * weight per row, in f64 (rounded to f32 on store).
function normRows(x: Float32Array, weight: Float32Array, eps: number, rows: number, k: number): Float32Array {
  const out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < k; i++) ss += x[r * k + i] * x[r * k + i];
    const scale = 1 / Math.sqrt(ss / k + eps);
    for (let i = 0; i < k; i++) out[r * k + i] = x[r * k + i] * scale * weight[i];
  }
  return out;
}
