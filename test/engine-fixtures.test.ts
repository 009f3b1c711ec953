/**
 * The engine against Hugging Face transformers itself: tiny checkpoints written by save_pretrained, with
 * transformers' logits and greedy tokens (test/fixtures, made by tools/fixtures/make_fixtures.py).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type LoadOptions } from '../src/engine/engine';
import type { Gpu } from '../src/gpu/device';
import { nodeModelFiles } from '../src/model/model-files';
import { worstFixtureError } from '../src/ref/logits';
import { requireGpu } from './gpu';

interface Expected {
  promptIds: number[];
  greedyTokens: number[];
  vocabSize: number;
  logitsShape: [number, number];
}

const dir = (name: string) => `test/fixtures/${name}`;

function expected(name: string): { exp: Expected; logits: Float32Array } {
  const exp = JSON.parse(readFileSync(`${dir(name)}/expected.json`, 'utf8')) as Expected;
  const buf = readFileSync(`${dir(name)}/logits.bin`);
  const logits = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  expect(logits.length).toBe(exp.logitsShape[0] * exp.logitsShape[1]);
  return { exp, logits };
}

async function check(gpu: Gpu, name: string, tolerance: number, load: LoadOptions = {}) {
  const { exp, logits } = expected(name);
  const engine = await Engine.load(await nodeModelFiles(dir(name)), { gpu, ...load });
  try {
    const result = await engine.generate(exp.promptIds, { maxTokens: 32, eosIds: [], keepLogits: true, sampling: { greedy: true } });
    expect(result.tokens).toEqual(exp.greedyTokens);
    const worst = worstFixtureError(result.logits!, logits, exp.promptIds.length, exp.vocabSize);
    expect(result.logits!.length).toBe(32);
    expect(worst).toBeLessThan(tolerance);
    return worst;
  } finally {
    engine.destroy();
  }
}

describe('engine vs transformers fixtures', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requireGpu();
  });
  afterAll(() => undefined);

  // F32 weights, f32 cache: within 1e-4 relative per logits row (transformers' own f32-vs-f64 noise is ~1e-5).
  it.each(['llama-f32', 'llama3-tied-sharded', 'qwen2-f32', 'mistral-f32'])('%s: greedy tokens and logits (f32)', async (name) => {
    await check(gpu, name, 1e-4);
  });

  // 16-bit weights widened to f32 in the kernels, against transformers in float32 on the same rounded
  // weights: the same 1e-4 with an f32 cache; with the default f16 cache, 1e-2 (cache rounding).
  it.each(['llama-bf16', 'llama-f16'])('%s: greedy tokens and logits, f32 cache within 1e-4', async (name) => {
    await check(gpu, name, 1e-4, { kvDtype: 'f32' });
  });
  it.each(['llama-bf16', 'llama-f16'])('%s: greedy tokens, default f16 cache within 1e-2', async (name) => {
    await check(gpu, name, 1e-2);
  });

  it('prefill in small chunks gives the same result as one chunk', async () => {
    await check(gpu, 'mistral-f32', 1e-4, { prefillChunk: 7 });
  });
});
