/**
 * RDKV benchmark: decode ms/token and peak GPU bytes for the full cache vs RDKV vs the baselines at equal
 * memory, on a model shape with random weights made on the GPU, at several context lengths.
 * Run: `npm run cli -- rdkv-bench --shape llama-3.2-1b --contexts 1024,8192,32768,131008 --budget 1024`.
 * `--long-policies` limits which policies run at contexts >= 65536 (their prefill dominates the time).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { acquireGpu } from '../src/gpu/device';
import { type Args, num, str } from '../src/cli/args';
import type { CachePolicy } from '../src/engine/cache-report';
import type { WeightDtype } from '../src/gpu/dtype';
import { Transformer } from '../src/model/forward';
import { rng } from '../src/ref/random';
import { randomWeights, SHAPES, weightStats } from './random-model';

interface Row {
  context: number;
  policy: CachePolicy;
  prefill: 'real' | 'synthetic';
  prefillMs: number;
  decodeMsPerToken: number;
  cacheBytes: number;
  peakGpuBytes: number;
  /** Bytes a decode step reads: weights + cache. */
  bytesPerToken: number;
}

const POLICIES: CachePolicy[] = ['full', 'rdkv', 'uniform', 'snapkv', 'streaming'];

export async function runRdkvBench(args: Args): Promise<number> {
  const shapeName = str(args, 'shape', 'llama-3.2-1b');
  const config = SHAPES[shapeName];
  if (!config) throw new Error(`unknown --shape '${shapeName}'; known: ${Object.keys(SHAPES).join(', ')}`);
  const dtype = str(args, 'dtype', 'bf16') as WeightDtype;
  const contexts = str(args, 'contexts', '1024,8192,32768,131008').split(',').map(Number);
  const B = num(args, 'budget', 1024);
  const decodeTokens = num(args, 'decode-tokens', 32);
  const longPolicies = str(args, 'long-policies', 'full,rdkv').split(',') as CachePolicy[];
  const policies = str(args, 'policies', POLICIES.join(',')).split(',') as CachePolicy[];
  // Contexts whose K/V are random values instead of a real prefill: decode speed at any length in
  // seconds (decode cost does not depend on the values); their peak memory is not a prefill's.
  const synthetic = new Set(str(args, 'synthetic', '').split(',').filter(Boolean).map(Number));
  const gpu = await acquireGpu();
  console.error(`adapter: ${gpu.adapter.vendor} ${gpu.adapter.architecture} ${gpu.adapter.description}`);
  const weights = await randomWeights(gpu, config, dtype);
  const model = await Transformer.create(gpu, config, weights, { chunk: num(args, 'chunk', 512), kvF16: true });
  const stats = weightStats(config, dtype);
  const random = rng(7);
  const rows: Row[] = [];

  for (const ctx of contexts) {
    const ids = Array.from({ length: ctx }, () => Math.floor(random() * config.vocabSize));
    for (const policy of policies) {
      if (ctx >= 65536 && !longPolicies.includes(policy)) continue;
      // Each run starts from the weights alone, so its peak counts only what it allocated itself.
      model.release();
      gpu.memory.resetPeak();
      if (policy === 'full') await model.reserve(ctx + decodeTokens + 1);
      const compress = policy === 'full' ? undefined : { policy, budget: { tokens: B } };
      const t0 = performance.now();
      if (synthetic.has(ctx)) {
        await model.fillRandomContext(ctx, compress);
      } else {
        await model.prefill(ids, { compress });
        await model.readArgmax(0);
      }
      const prefillMs = performance.now() - t0;
      // Chained greedy decode, as the engine runs it; two warm-up steps first.
      let slot = 0;
      const step = async () => {
        await model.decodeChained(slot ^ 1);
        await model.readArgmax(slot);
        slot ^= 1;
      };
      await step();
      await step();
      const t1 = performance.now();
      for (let i = 0; i < decodeTokens; i++) await step();
      const decodeMs = (performance.now() - t1) / decodeTokens;
      const cacheBytes = model.cacheBytes();
      // What a decode step reads of the cache: the packed layers, plus the zone C tokens written so far
      // (on average half the measured steps), or the full cache at this length.
      const perToken = 2 * config.nLayers * config.nKvHeads * config.headDim * 2;
      const layers = model.compressedLayers();
      const cacheRead = layers
        ? layers.reduce((s, l) => s + l.bytes.compressed, 0) + perToken * (2 + decodeTokens / 2)
        : perToken * (ctx + 2 + decodeTokens / 2);
      const row: Row = {
        context: ctx,
        policy,
        prefill: synthetic.has(ctx) ? 'synthetic' : 'real',
        prefillMs,
        decodeMsPerToken: decodeMs,
        cacheBytes,
        peakGpuBytes: gpu.memory.peakBytes,
        bytesPerToken: stats.decodeWeightBytes + cacheRead,
      };
      rows.push(row);
      console.error(JSON.stringify(row));
    }
  }

  console.log('| context | policy | prefill | prefill s | decode ms/token | speedup vs full | ideal (bytes read) | % of ideal | cache MiB | peak GPU MiB |');
  console.log('|---:|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const full = rows.find((x) => x.context === r.context && x.policy === 'full');
    const speedup = full ? full.decodeMsPerToken / r.decodeMsPerToken : NaN;
    const ideal = full ? full.bytesPerToken / r.bytesPerToken : NaN;
    console.log(
      `| ${r.context} | ${r.policy} | ${r.prefill} | ${(r.prefillMs / 1000).toFixed(2)} | ${r.decodeMsPerToken.toFixed(3)} | ${speedup.toFixed(2)} | ${ideal.toFixed(2)} | ` +
        `${((100 * speedup) / ideal).toFixed(0)} | ${(r.cacheBytes / 2 ** 20).toFixed(1)} | ${(r.peakGpuBytes / 2 ** 20).toFixed(0)} |`,
    );
  }
  const out = {
    bench: 'rdkv',
    shape: shapeName,
    dtype,
    budgetTokens: B,
    decodeTokens,
    adapter: gpu.adapter,
    weights: stats,
    hiddenStateBytesPerToken: config.hiddenSize * 4,
    layerFullKvBytesPerToken: 2 * config.nKvHeads * config.headDim * 2,
    date: new Date().toISOString(),
    rows,
  };
  const dir = str(args, 'out', 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/rdkv-${shapeName}-${(gpu.adapter.architecture || gpu.adapter.vendor || 'gpu').replace(/[^\w.-]/g, '_')}.json`;
  writeFileSync(file, JSON.stringify(out, null, 2));
  console.log(`wrote ${file}`);
  model.destroy();
  weights.destroy();
  return 0;
}
