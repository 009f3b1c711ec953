/**
 * RoPE inverse frequencies as transformers computes them (ROPE_INIT_FUNCTIONS 'default' and 'llama3').
 * transformers works on float32 tensors, so every step here is rounded to float32 in torch's order of
 * operations, each step correctly rounded. torch's own float32 pow is not always correctly rounded, so
 * its values may differ from these by an ulp or two (measured against numpy's float32 pow: up to 2 ulp).
 */
import type { ModelConfig } from './config';

const f = Math.fround;

/** d/2 inverse frequencies for head dimension d = config.headDim. */
export function inverseFrequencies(config: Pick<ModelConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float32Array {
  const d = config.headDim;
  const base = f(config.ropeTheta);
  // inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
  const inv = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; i++) inv[i] = f(1 / f(Math.pow(base, f((2 * i) / d))));
  const s = config.ropeScaling;
  if (s) applyLlama3(inv, s.factor, s.lowFreqFactor, s.highFreqFactor, s.originalMaxPositionEmbeddings);
  return inv;
}

/**
 * transformers `_compute_llama3_parameters`: long wavelengths (beyond original/low) are divided by
 * `factor`, short ones (below original/high) are kept, and the band between is blended linearly in
 * original/wavelen. torch evaluates `scalar / tensor` as `tensor.reciprocal() * scalar` and
 * `tensor / scalar` as a multiply by the scalar's float32 reciprocal; both are reproduced.
 */
function applyLlama3(inv: Float32Array, factor: number, low: number, high: number, original: number): void {
  const lowFreqWavelen = original / low;
  const highFreqWavelen = original / high;
  const invFactor = f(1 / f(factor));
  const invBand = f(1 / f(high - low));
  const twoPi = f(2 * Math.PI);
  for (let i = 0; i < inv.length; i++) {
    const x = inv[i];
    const wavelen = f(f(1 / x) * twoPi);
    if (wavelen > lowFreqWavelen) {
      inv[i] = f(x * invFactor);
    } else if (wavelen >= highFreqWavelen) {
      // Medium band: smooth = (original / wavelen - low) / (high - low)
      const smooth = f(f(f(f(1 / wavelen) * f(original)) - f(low)) * invBand);
      inv[i] = f(f(f(f(1 - smooth) * x) * invFactor) + f(smooth * x));
    }
  }
}
