/** CPU reference for wgsl/silu_mul.wgsl: out[i] = silu(a[i]) * b[i] over n elements (f64 math). */
export function siluMulRef(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = (a[i] / (1 + Math.exp(-a[i]))) * b[i];
}
