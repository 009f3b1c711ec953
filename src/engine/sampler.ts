/**
 * Token sampling on the CPU from a logits vector: greedy, temperature, top-k, top-p (nucleus), seeded.
 * Greedy decoding normally skips this and reads the GPU argmax instead (4 bytes per token).
 */
import { rng } from '../ref/random';

export interface SamplingOptions {
  /** 0 or greedy: true means argmax. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  greedy?: boolean;
}

export function isGreedy(o: SamplingOptions): boolean {
  return o.greedy === true || o.temperature === undefined || o.temperature <= 0;
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}

export class Sampler {
  private readonly random: () => number;

  constructor(private readonly options: SamplingOptions) {
    this.random = rng(options.seed ?? 0);
  }

  sample(logits: Float32Array): number {
    const o = this.options;
    if (isGreedy(o)) return argmax(logits);
    const t = o.temperature as number;
    // Candidates sorted by logit, cut by top-k, then softmax at temperature t, then cut by top-p.
    let idx = Array.from(logits.keys()).filter((i) => Number.isFinite(logits[i]));
    idx.sort((a, b) => logits[b] - logits[a] || a - b);
    if (o.topK && o.topK > 0) idx = idx.slice(0, o.topK);
    const maxL = logits[idx[0]];
    let probs = idx.map((i) => Math.exp((logits[i] - maxL) / t));
    let total = probs.reduce((s, p) => s + p, 0);
    if (o.topP !== undefined && o.topP < 1) {
      let acc = 0;
      let keep = 0;
      while (keep < probs.length && acc < o.topP * total) acc += probs[keep++];
      idx = idx.slice(0, Math.max(1, keep));
      probs = probs.slice(0, Math.max(1, keep));
      total = probs.reduce((s, p) => s + p, 0);
    }
    let r = this.random() * total;
    for (let j = 0; j < idx.length; j++) {
      r -= probs[j];
      if (r <= 0) return idx[j];
    }
    return idx[idx.length - 1];
  }
}
