/**
 * RDKV benchmark: decode ms/token and peak GPU bytes for the full cache vs RDKV vs the baselines at equal
 * memory, on a model shape with random weights made on the GPU, at several context lengths.
 * Run: `npm run cli -- rdkv-bench --shape llama-3.2-1b --contexts 1024,8192,32768,131008 --budget 1024`.
 * `--long-policies` limits which policies run at contexts >= 65536 (their prefill dominates the time).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { acquireGpu, type Gpu } from '../src/gpu/device';
import { type Args, type CommandFlags, num, str, oneOf, intList, oneOfList } from '../src/cli/args';
import { POLICIES, type Policy } from '../src/rdkv/policy-names';
import type { WeightDtype } from '../src/gpu/dtype';
import { Transformer } from '../src/model/forward';
import { rng } from '../src/ref/random';
import { sweepFull, sweepRdkv, sweepRdkvValueRows, sweepRdkvVec4, type SweepRow } from './attention-sweep';
import type { RdkvDecodeKernel } from '../src/gpu/ops/rdkv-attention-decode';
import { adapterTag, chainedMsPerToken, median, passDurationsNs, timedSteps, warmUp } from './gpu-timing';
import { randomWeights, SHAPES, weightStats } from './random-model';

const TIMED_STEPS = 8;
const ATTENTION_ROUNDS = 4;

/**
 * GPU timestamps for the state the model is in: the decode pass (one step at a time, read back each) and the
 * decode attention of every layer alone (ATTENTION_ROUNDS rounds of the step profile's attention group in one
 * pass).
 */
async function timeDecodeParts(gpu: Gpu, model: Transformer, nLayers: number) {
  if (!gpu.hasTimestamps) return { gpuPassMs: NaN, encodeMs: NaN, attentionUs: NaN };
  const steps = await timedSteps(gpu, model, TIMED_STEPS, 1);
  const attention = model.decodeProfileGroups().find((g) => g.name === 'attention');
  if (!attention) throw new Error('rdkv-bench: the decode step profile has no attention group');
  const qa = gpu.device.createQuerySet({ type: 'timestamp', count: 2 });
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass({ timestampWrites: { querySet: qa, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
  for (let r = 0; r < ATTENTION_ROUNDS; r++) attention.encode(pass);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const [attnNs] = await passDurationsNs(gpu, qa, 1);
  return { gpuPassMs: median(steps.gpuPassMs), encodeMs: median(steps.encodeMs), attentionUs: attnNs / 1e3 / (ATTENTION_ROUNDS * nLayers) };
}

interface Row {
  context: number;
  policy: Policy;
  prefill: 'real' | 'synthetic';
  prefillMs: number;
  decodeMsPerToken: number;
  /** Median GPU time of one decode pass (timestamps; NaN without them) and host time to encode it. */
  decodeGpuPassMs: number;
  decodeEncodeMs: number;
  /** Mean GPU time of one layer's decode attention (all layers, 4 rounds, one pass; NaN without timestamps). */
  attentionUsPerLayer: number;
  cacheBytes: number;
  peakGpuBytes: number;
  /** Bytes a decode step reads: weights + cache. */
  bytesPerToken: number;
}

/** The options runRdkvBench reads (the CLI rejects any other). */
export const RDKV_BENCH_FLAGS: CommandFlags = {
  values: {
    shape: 'NAME',
    dtype: 'f32|f16|bf16',
    contexts: 'N,N,...',
    budget: 'TOKENS',
    'decode-tokens': 'N',
    policies: 'P,P,...',
    'long-policies': 'P,P,...',
    synthetic: 'N,N,...',
    sweep: 'N,N,...',
    'sweep-kernels': 'full,rdkv,vb,probe,vec4',
    'rdkv-kernel': 'auto|vec4|general',
    hidden: 'f32|bf16',
    chunk: 'ROWS',
    out: 'DIR',
  },
  booleans: [],
};

export async function runRdkvBench(args: Args): Promise<number> {
  const shapeName = str(args, 'shape', 'llama-3.2-1b');
  const config = SHAPES[shapeName];
  if (!config) throw new Error(`unknown --shape '${shapeName}'; known: ${Object.keys(SHAPES).join(', ')}`);
  const dtype: WeightDtype = oneOf(args, 'dtype', ['f32', 'f16', 'bf16'], 'bf16');
  const contexts = intList(args, 'contexts', [1024, 8192, 32768, 131008]);
  const B = num(args, 'budget', 1024, { integer: true, min: 1 });
  const decodeTokens = num(args, 'decode-tokens', 32, { integer: true, min: 1 });
  const longPolicies = oneOfList(args, 'long-policies', POLICIES, ['full', 'rdkv']);
  const policies = oneOfList(args, 'policies', POLICIES, POLICIES);
  // Contexts whose K/V are random values instead of a real prefill: decode speed at any length in
  // seconds (decode cost does not depend on the values); their peak memory is not a prefill's.
  // --sweep: also time the decode attention kernels over launch shapes (attention-sweep.ts) at these contexts
  const sweepAt = new Set(intList(args, 'sweep', []));
  // --sweep-kernels: which sweeps run there: full (full-cache kernel shapes), rdkv (RDKV launch shapes), vb
  // (RDKV value rows in flight and the max reduction at the engine's shape), probe (the RDKV kernel without its
  // scores / values: where its time goes), vec4 (the vec4 kernel's options against the general kernel)
  const sweepKernels = new Set(oneOfList(args, 'sweep-kernels', ['full', 'rdkv', 'vb', 'probe', 'vec4'], ['full', 'rdkv', 'vb', 'probe']));
  // --rdkv-kernel: the compressed layers' decode kernel (default: the engine's choice, rdkvDecodeKernel)
  const rdkvKernel = oneOf(args, 'rdkv-kernel', ['auto', 'vec4', 'general'], 'auto');
  const decodeKernel: RdkvDecodeKernel | undefined = rdkvKernel === 'auto' ? undefined : rdkvKernel;
  const sweep: SweepRow[] = [];
  const synthetic = new Set(intList(args, 'synthetic', []));
  const gpu = await acquireGpu();
  console.error(`adapter: ${gpu.adapter.vendor} ${gpu.adapter.architecture} ${gpu.adapter.description}`);
  const weights = await randomWeights(gpu, config, dtype);
  // --hidden f32 keeps a compressed prefill's hidden states in f32 (the engine's default for 16-bit weights: bf16).
  const hidden = oneOf(args, 'hidden', ['f32', 'bf16'], dtype === 'f32' ? 'f32' : 'bf16');
  const model = await Transformer.create(gpu, config, weights, { chunk: num(args, 'chunk', 512, { integer: true, min: 1 }), kvF16: true, hiddenBf16: hidden === 'bf16' });
  const stats = weightStats(config, dtype);
  const random = rng(7);
  const rows: Row[] = [];

  for (const ctx of contexts) {
    if (sweepAt.has(ctx) && sweepKernels.has('full')) sweep.push(...(await sweepFull(gpu, config, ctx)));
    const ids = Array.from({ length: ctx }, () => Math.floor(random() * config.vocabSize));
    for (const policy of policies) {
      if (ctx >= 65536 && !longPolicies.includes(policy)) continue;
      // Each run starts from the weights alone, so its peak counts only what it allocated itself.
      model.release();
      gpu.memory.resetPeak();
      // Room for every token the run feeds (the measured ones and TIMED_STEPS more), so the full cache is
      // allocated once: a growth copy would hold two caches at once and inflate the peak.
      if (policy === 'full') await model.reserve(ctx + decodeTokens + TIMED_STEPS + 1);
      const compress = policy === 'full' ? undefined : { policy, budget: { tokens: B }, options: { decodeKernel } };
      const t0 = performance.now();
      if (synthetic.has(ctx)) {
        await model.fillRandomContext(ctx, compress);
      } else {
        await model.prefill(ids, { compress });
        await model.readArgmax(0);
      }
      const prefillMs = performance.now() - t0;
      // Chained greedy decode, as the engine runs it, after the warm-up (bench/gpu-timing.ts).
      await warmUp(model);
      const decodeMs = await chainedMsPerToken(model, decodeTokens);
      const parts = await timeDecodeParts(gpu, model, config.nLayers);
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
        decodeGpuPassMs: parts.gpuPassMs,
        decodeEncodeMs: parts.encodeMs,
        attentionUsPerLayer: parts.attentionUs,
        cacheBytes,
        peakGpuBytes: gpu.memory.peakBytes,
        bytesPerToken: stats.decodeWeightBytes + cacheRead,
      };
      rows.push(row);
      console.error(JSON.stringify(row));
      const compressed = model.compressedLayers();
      if (sweepAt.has(ctx) && compressed && sweepKernels.has('rdkv')) sweep.push(...(await sweepRdkv(gpu, config, compressed, policy, ctx)));
      if (sweepAt.has(ctx) && compressed && sweepKernels.has('vb')) sweep.push(...(await sweepRdkvValueRows(gpu, config, compressed, policy, ctx)));
      if (sweepAt.has(ctx) && compressed && sweepKernels.has('probe')) sweep.push(...(await sweepRdkvValueRows(gpu, config, compressed, policy, ctx, true)));
      if (sweepAt.has(ctx) && compressed && sweepKernels.has('vec4')) sweep.push(...(await sweepRdkvVec4(gpu, config, compressed, policy, ctx)));
    }
  }

  console.log('| context | policy | prefill | prefill s | decode ms/token | GPU pass ms | encode ms | attention us/layer | speedup vs full | ideal (bytes read) | % of ideal | cache MiB | peak GPU MiB |');
  console.log('|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const full = rows.find((x) => x.context === r.context && x.policy === 'full');
    const speedup = full ? full.decodeMsPerToken / r.decodeMsPerToken : NaN;
    const ideal = full ? full.bytesPerToken / r.bytesPerToken : NaN;
    console.log(
      `| ${r.context} | ${r.policy} | ${r.prefill} | ${(r.prefillMs / 1000).toFixed(2)} | ${r.decodeMsPerToken.toFixed(3)} | ${r.decodeGpuPassMs.toFixed(3)} | ` +
        `${r.decodeEncodeMs.toFixed(3)} | ${r.attentionUsPerLayer.toFixed(1)} | ${speedup.toFixed(2)} | ${ideal.toFixed(2)} | ` +
        `${((100 * speedup) / ideal).toFixed(0)} | ${(r.cacheBytes / 2 ** 20).toFixed(1)} | ${(r.peakGpuBytes / 2 ** 20).toFixed(0)} |`,
    );
  }
  if (sweep.length) {
    console.log('\n| sweep | context | fastest variants (us/layer) | default-shape variant |');
    console.log('|---|---:|---|---|');
    for (const key of [...new Set(sweep.map((r) => `${r.kernel}:${r.label}:${r.context}`))]) {
      const group = sweep.filter((r) => `${r.kernel}:${r.label}:${r.context}` === key).sort((a, b) => a.usPerLayer - b.usPerLayer);
      const best = group.slice(0, 3).map((r) => `${r.variant} ${r.usPerLayer.toFixed(1)}`).join('; ');
      const dflt = group.find((r) => r.variant.startsWith('nk=1024 wg=128') && (r.variant.includes('(default splits)') || r.variant.includes('target=1024 minKeys=64')));
      console.log(`| ${group[0].kernel} ${group[0].label} | ${group[0].context} | ${best} | ${dflt ? `${dflt.variant} ${dflt.usPerLayer.toFixed(1)}` : ''} |`);
    }
  }
  const out = {
    bench: 'rdkv',
    shape: shapeName,
    dtype,
    budgetTokens: B,
    hiddenStates: hidden,
    decodeTokens,
    adapter: gpu.adapter,
    weights: stats,
    hiddenStateBytesPerToken: config.hiddenSize * 4,
    layerFullKvBytesPerToken: 2 * config.nKvHeads * config.headDim * 2,
    date: new Date().toISOString(),
    rows,
    ...(sweep.length ? { sweep } : {}),
  };
  const dir = str(args, 'out', 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/rdkv-${shapeName}-${adapterTag(gpu)}.json`;
  writeFileSync(file, JSON.stringify(out, null, 2));
  console.log(`wrote ${file}`);
  model.destroy();
  weights.destroy();
  return 0;
}
