import { describe, expect, it } from 'vitest';
import { argmax, Sampler } from '../src/engine/sampler';
import { randn } from '../src/ref/random';

describe('sampler', () => {
  const logits = randn(3, 50, 2);
  it('greedy picks the argmax, first on ties', () => {
    expect(new Sampler({ greedy: true }).sample(logits)).toBe(argmax(logits));
    expect(argmax(Float32Array.of(1, 3, 3, 2))).toBe(1);
  });
  it('is deterministic for a seed and varies across seeds', () => {
    const a = Array.from({ length: 20 }, (_, i) => new Sampler({ temperature: 1, seed: 7 + i }).sample(logits));
    const b = Array.from({ length: 20 }, (_, i) => new Sampler({ temperature: 1, seed: 7 + i }).sample(logits));
    expect(a).toEqual(b);
    expect(new Set(a).size).toBeGreaterThan(3);
  });
  it('top-k 1 equals greedy; top-k limits the support', () => {
    const s = new Sampler({ temperature: 1.5, topK: 1, seed: 1 });
    for (let i = 0; i < 10; i++) expect(s.sample(logits)).toBe(argmax(logits));
    const top3 = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x]).slice(0, 3);
    const s3 = new Sampler({ temperature: 5, topK: 3, seed: 2 });
    for (let i = 0; i < 200; i++) expect(top3).toContain(s3.sample(logits));
  });
  it('top-p keeps the smallest nucleus reaching p', () => {
    const l = Float32Array.of(Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05));
    const s = new Sampler({ temperature: 1, topP: 0.7, seed: 3 });
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(s.sample(l));
    expect([...seen].sort()).toEqual([0, 1]);
  });
  it('follows the softmax distribution at temperature 1', () => {
    const l = Float32Array.of(0, Math.log(3));
    const s = new Sampler({ temperature: 1, seed: 11 });
    let ones = 0;
    for (let i = 0; i < 4000; i++) ones += s.sample(l);
    expect(ones / 4000).toBeGreaterThan(0.72);
    expect(ones / 4000).toBeLessThan(0.78);
  });
});
