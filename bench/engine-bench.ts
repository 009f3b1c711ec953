/**
 * Engine benchmark: prefill tokens/s and decode ms/token for a model shape with random weights made on
 * the GPU (nothing large is carried), at several context lengths. Prints a table, writes JSON under
 * bench/results/. Run: `npm run bench -- --shape llama-3.2-1b --contexts 1024,8192 --dtype bf16`
 * [--prefill-reps N (3: the median is reported)] [--chunk rows (512)] [--decode-tokens N (32)].
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { acquireGpu, type Gpu } from '../src/gpu/device';
import type { WeightDtype } from '../src/gpu/dtype';
import { type Args, type CommandFlags, num, str, oneOf, intList } from '../src/cli/args';
import { randomWeights, SHAPES, weightStats } from './random-model';
import { Transformer } from '../src/model/forward';
import { rng } from '../src/ref/random';
import { adapterTag, chainedMsPerToken, copyBandwidth, median, timedSteps, warmUp } from './gpu-timing';

/**
 * The f32 peak of the card the prefill goal refers to (H200, 67 TFLOP/s). The copy bandwidth is measured on
 * the card the bench runs on (copyBandwidth): the decode fraction is against that.
 */
const F32_PEAK = 67e12;

export interface BenchRow {
  context: number;
  /** Median of the timed prefills (--prefill-reps); every run in prefillRunsMs. */
  prefillMs: number;
  prefillRunsMs: number[];
  prefillTokPerS: number;
  prefillTflops: number;
  decodeMsPerToken: number;
  /** GPU time of the decode pass (timestamp queries), and host time to encode + submit it. */
  decodeGpuPassMs: number;
  /** ms/token of chained greedy decoding (the engine's greedy path). */
  decodeChainedMsPerToken: number;
  /** Chained with nothing queued behind the step being read (ahead 1: the engine's loop before 2026-12-06). */
  decodeChainedOneAheadMsPerToken: number;
  decodeEncodeMs: number;
  decodeBytesPerToken: number;
  decodeGBps: number;
  decodeBandwidthFraction: number;
  /** The same bytes over the GPU pass alone (no host encode, submit or readback latency). */
  decodeGpuPassBandwidthFraction: number;
  prefillPeakFraction: number;
}

/** The options runBench reads (the CLI rejects any other). */
export const BENCH_FLAGS: CommandFlags = {
  values: { shape: 'NAME', dtype: 'f32|f16|bf16', contexts: 'N,N,...', 'decode-tokens': 'N', 'prefill-reps': 'N', chunk: 'ROWS', kv: 'f16|f32', vocab: 'N', out: 'DIR' },
  booleans: [],
};

export async function runBench(args: Args): Promise<number> {
  const shapeName = str(args, 'shape', 'llama-3.2-1b');
  const shape = SHAPES[shapeName];
  if (!shape) throw new Error(`unknown --shape '${shapeName}'; known: ${Object.keys(SHAPES).join(', ')}`);
  const dtype: WeightDtype = oneOf(args, 'dtype', ['f32', 'f16', 'bf16'], 'bf16');
  const contexts = intList(args, 'contexts', [1024, 8192]);
  const decodeTokens = num(args, 'decode-tokens', 32, { integer: true, min: 1 });
  const prefillReps = num(args, 'prefill-reps', 3, { integer: true, min: 1 });
  const chunk = num(args, 'chunk', 512, { integer: true, min: 1 });
  const kvF16 = oneOf(args, 'kv', ['f16', 'f32'], 'f16') === 'f16';
  const gpu: Gpu = await acquireGpu();
  console.error(`adapter: ${gpu.adapter.vendor} ${gpu.adapter.architecture} ${gpu.adapter.description}`);
  const config = { ...shape, vocabSize: num(args, 'vocab', shape.vocabSize, { integer: true, min: 1 }) };
  const weights = await randomWeights(gpu, config, dtype);
  const model = await Transformer.create(gpu, config, weights, { chunk, kvF16 });
  const stats = weightStats(config, dtype);
  const copy = await copyBandwidth(gpu);
  console.error(`copy bandwidth: ${(copy.bytesPerS / 1e12).toFixed(2)} TB/s (copy kernel over ${copy.bufferBytes} bytes, read + write, ${copy.timer}-timed)`);
  const random = rng(42);
  const ids = (n: number) => Array.from({ length: n }, () => Math.floor(random() * config.vocabSize));

  // Warm-up: pipelines, caches, first-use costs.
  await model.prefill(ids(Math.min(chunk, 64)));
  await model.decode(1);
  await model.readArgmax();

  const rows: BenchRow[] = [];
  for (const ctx of contexts) {
    model.reset();
    await warmUp(model);
    // Prefill timed prefillReps times (one run swung 14.7-17.4 TFLOP/s at 8K between runs on one card): the
    // median is reported, every run kept in the JSON. The decode below continues the last prompt.
    const prefillRuns: number[] = [];
    let first = 0;
    for (let r = 0; r < prefillReps; r++) {
      model.reset();
      const t0 = performance.now();
      await model.prefill(ids(ctx));
      first = await model.readArgmax();
      prefillRuns.push(performance.now() - t0);
    }
    const prefillMs = median(prefillRuns);
    const steps = await timedSteps(gpu, model, decodeTokens, first);
    const decodeMs = median(steps.stepMs);
    // Chained greedy decoding as the engine runs it (DECODE_AHEAD = 2: one step queued behind the one whose id is
    // being read), and with nothing queued (ahead 1: the engine's loop before 2026-12-06), for comparison.
    const chainedMs = await chainedMsPerToken(model, decodeTokens);
    model.rewind(decodeTokens);
    const chainedOneAheadMs = await chainedMsPerToken(model, decodeTokens, 1);
    const gpuPassMs = steps.gpuPassMs.length ? median(steps.gpuPassMs) : NaN;
    const kvBytes = 2 * config.nLayers * config.nKvHeads * config.headDim * (ctx + decodeTokens / 2) * (kvF16 ? 2 : 4);
    const decodeBytes = stats.decodeWeightBytes + kvBytes;
    const attnFlops = 2 * 2 * config.nLayers * config.nHeads * config.headDim * ((ctx * (ctx + 1)) / 2);
    const prefillFlops = 2 * stats.matmulParams * ctx + attnFlops + 2 * config.vocabSize * config.hiddenSize;
    const row: BenchRow = {
      context: ctx,
      prefillMs,
      prefillRunsMs: prefillRuns,
      prefillTokPerS: ctx / (prefillMs / 1000),
      prefillTflops: prefillFlops / (prefillMs / 1000) / 1e12,
      decodeMsPerToken: decodeMs,
      decodeGpuPassMs: gpuPassMs,
      decodeChainedMsPerToken: chainedMs,
      decodeChainedOneAheadMsPerToken: chainedOneAheadMs,
      decodeEncodeMs: median(steps.encodeMs),
      decodeBytesPerToken: decodeBytes,
      decodeGBps: decodeBytes / (Math.min(decodeMs, chainedMs) / 1000) / 1e9,
      decodeBandwidthFraction: decodeBytes / (Math.min(decodeMs, chainedMs) / 1000) / copy.bytesPerS,
      decodeGpuPassBandwidthFraction: decodeBytes / (gpuPassMs / 1000) / copy.bytesPerS,
      prefillPeakFraction: prefillFlops / (prefillMs / 1000) / F32_PEAK,
    };
    rows.push(row);
    console.error(`context ${ctx}: prefill ${prefillMs.toFixed(0)} ms (median of ${prefillRuns.map((x) => x.toFixed(0)).join(", ")}), decode ${decodeMs.toFixed(3)} ms/token`);
  }

  printTable(rows);
  const result = {
    bench: 'engine',
    shape: shapeName,
    dtype,
    kv: kvF16 ? 'f16' : 'f32',
    chunk,
    decodeTokens,
    adapter: gpu.adapter,
    ceilings: { copyBytesPerS: copy.bytesPerS, copyMethod: `copy kernel, ${copy.timer}`, f32FlopsPerS: F32_PEAK },
    weights: stats,
    date: new Date().toISOString(),
    rows,
  };
  const dir = str(args, 'out', 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/engine-${shapeName}-${dtype}-${adapterTag(gpu)}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log(`wrote ${file}`);
  model.destroy();
  weights.destroy();
  return 0;
}

function printTable(rows: BenchRow[]): void {
  console.log('| context | prefill tok/s | prefill TFLOP/s | % f32 peak | decode ms/token | chained ms/token | chained, nothing queued | GPU pass ms | encode ms | decode GB/s | % copy BW | % copy BW (GPU pass) |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.context} | ${r.prefillTokPerS.toFixed(0)} | ${r.prefillTflops.toFixed(2)} | ${(100 * r.prefillPeakFraction).toFixed(1)} | ` +
        `${r.decodeMsPerToken.toFixed(3)} | ${r.decodeChainedMsPerToken.toFixed(3)} | ${r.decodeChainedOneAheadMsPerToken.toFixed(3)} | ${r.decodeGpuPassMs.toFixed(3)} | ${r.decodeEncodeMs.toFixed(3)} | ${r.decodeGBps.toFixed(0)} | ${(100 * r.decodeBandwidthFraction).toFixed(1)} | ${(100 * r.decodeGpuPassBandwidthFraction).toFixed(1)} |`,
    );
  }
}
