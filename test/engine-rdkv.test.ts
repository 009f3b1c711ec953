/**
 * RDKV in the engine on a transformers fixture model: the T <= B identity, every policy end to end, and
 * fidelity to the full cache (KL of next-token distributions over a teacher-forced continuation).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine';
import type { Gpu } from '../src/gpu/device';
import type { CompressSpec, Transformer } from '../src/model/forward';
import { nodeModelFiles } from '../src/model/model-files';
import { requireGpu } from './gpu';

const text = readFileSync('tools/fixtures/train.txt', 'utf8');

function softmax(l: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of l) m = Math.max(m, v);
  const p = Float64Array.from(l, (v) => Math.exp(v - m));
  const s = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / s);
}

/** KL(p || q) in nats. */
function kl(p: Float64Array, q: Float64Array): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) s += p[i] * Math.log(p[i] / Math.max(q[i], 1e-30));
  return s;
}

/** Logits after each continuation token, teacher-forced, on a fresh context of `prompt`. */
async function continuationLogits(f: Transformer, prompt: number[], cont: number[], compress?: CompressSpec): Promise<Float32Array[]> {
  f.reset();
  await f.prefill(prompt, { compress });
  const out: Float32Array[] = [];
  for (const t of cont) {
    await f.decode(t);
    out.push(await f.readLogits());
  }
  return out;
}

describe('RDKV in the engine', () => {
  let gpu: Gpu;
  let engine: Engine;
  let prompts: number[][];
  beforeAll(async () => {
    gpu = await requireGpu();
    engine = await Engine.load(await nodeModelFiles('test/fixtures/llama-f32'), { gpu });
    const ids = engine.encode(text.slice(0, 20000), false);
    prompts = [0, 1, 2, 3, 4].map((i) => [engine.tokenizer.bosId!, ...ids.slice(i * 300, i * 300 + 160)]);
  });

  it('T <= B gives exactly the full cache: same tokens and logits, report at 16 bits', async () => {
    const ids = prompts[0].slice(0, 60);
    const full = await engine.generate(ids, { maxTokens: 12, eosIds: [], keepLogits: true });
    const rdkv = await engine.generate(ids, { maxTokens: 12, eosIds: [], keepLogits: true, policy: 'rdkv', budget: { tokens: 64 } });
    expect(rdkv.tokens).toEqual(full.tokens);
    rdkv.logits!.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(full.logits![i])));
    expect(rdkv.report!.retention).toBe(1);
    expect(rdkv.report!.vWidths.every((w) => w === 16)).toBe(true);
  });

  it.each(['rdkv', 'uniform', 'snapkv', 'streaming'] as const)('%s compresses, decodes and reports', async (policy) => {
    const B = 48;
    const r = await engine.generate(prompts[1], { maxTokens: 6, eosIds: [], policy, budget: { tokens: B } });
    expect(r.tokens.length).toBe(6);
    const rep = r.report!;
    const c = engine.config;
    const T = prompts[1].length;
    expect(rep.policy).toBe(policy);
    expect(rep.vWidths.length).toBe(c.nLayers * c.nKvHeads * T);
    expect(rep.kWidths.length).toBe(c.nLayers * c.nKvHeads * c.headDim);
    expect(rep.fullBytes).toBe(2 * c.nLayers * c.nKvHeads * T * c.headDim * 2);
    expect(rep.retention).toBeLessThan(0.5);
    // Uniform keeps every token at a low width; the others evict.
    expect(rep.vWidths.some((w) => w === 0)).toBe(policy !== 'uniform');
    // Equal memory: every policy within the byte budget of B tokens per head at 16 bits, metadata included.
    const budgetBytes = c.nLayers * c.nKvHeads * 4 * B * c.headDim;
    if (policy === 'uniform' && rep.compressedBytes > budgetBytes) {
      // Even 2 bits do not fit (the f16 recent window and f32 metadata of a d = 16 head): its floor.
      expect(rep.vWidths.filter((w) => w < 16).every((w) => w === 2)).toBe(true);
    } else {
      expect(rep.compressedBytes).toBeLessThanOrEqual(budgetBytes);
    }
    expect(engine.cacheBytes()).toBeGreaterThan(0);
  });

  it('fidelity: KL to the full cache does not grow with B, and RDKV beats SnapKV and uniform at equal bytes', async () => {
    const f = engine.forward;
    const cont = prompts[2].slice(1, 9);
    const results: Record<string, number[]> = { rdkv: [], snapkv: [], uniform: [] };
    const bytes: Record<string, number[]> = { rdkv: [], snapkv: [], uniform: [] };
    const meanKl = async (prompt: number[], spec?: CompressSpec) => {
      const full = await continuationLogits(f, prompt, cont);
      const got = await continuationLogits(f, prompt, cont, spec);
      if (spec) bytes[spec.policy]?.push(f.cacheBytes());
      return got.reduce((s, l, i) => s + kl(softmax(full[i]), softmax(l)), 0) / got.length;
    };
    // Monotone in B on one prompt.
    const byB: number[] = [];
    for (const B of [8, 16, 32, 64, 128]) byB.push(await meanKl(prompts[0], { policy: 'rdkv', budget: { tokens: B } }));
    console.log(`RDKV KL vs B (8..128): ${byB.map((x) => x.toExponential(2)).join(', ')}`);
    for (let i = 1; i < byB.length; i++) expect(byB[i]).toBeLessThanOrEqual(byB[i - 1] * 1.05 + 1e-6);
    // RDKV vs the baselines at the same budget on every prompt (B = 48: uniform fits at 4 bits here).
    for (const p of prompts) {
      for (const policy of ['rdkv', 'snapkv', 'uniform'] as const) results[policy].push(await meanKl(p, { policy, budget: { tokens: 48 } }));
    }
    console.log(`KL at B=48 per prompt: ${JSON.stringify(results)}; cache bytes incl. zone C: ${JSON.stringify(bytes)}`);
    const wins = (other: string) => results.rdkv.filter((x, i) => x < results[other][i]).length;
    expect(wins('snapkv')).toBeGreaterThanOrEqual(3);
    expect(wins('uniform')).toBeGreaterThanOrEqual(3);
  });
});
