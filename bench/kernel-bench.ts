/**
 * Kernel micro-benchmarks (decode matvec bandwidth by group width, per-dispatch overhead, decode attention
 * by context, prefill matmul by tile), timed with GPU timestamp queries around a pass of repeated
 * dispatches. Weights rotate over several copies so the 60 MB L2 of an H200 cannot hold them.
 * Run: `npm run cli -- kernel-bench`. Prints a table, writes bench/results/kernels-<adapter>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { acquireGpu, type Gpu } from '../src/gpu/device';
import { type Args, str } from '../src/cli/args';
import { createStorage } from '../src/gpu/kernel';
import { createAttentionDecode } from '../src/gpu/ops/attention-decode';
import { createFillRandom } from '../src/gpu/ops/fill-random';
import { createLinear, MATMUL_LARGE, type MatmulTile } from '../src/gpu/ops/linear';
import { createSiluMul } from '../src/gpu/ops/silu-mul';
import { createStep } from '../src/gpu/step';
import { median, passDurationsNs } from './gpu-timing';

interface Row {
  kernel: string;
  variant: string;
  usPerCall: number;
  gbps?: number;
  tflops?: number;
}

/** GPU time of one pass (ns), from timestamp queries; wall time when the adapter has none. */
async function timePass(gpu: Gpu, encode: (pass: GPUComputePassEncoder) => void): Promise<number> {
  const dev = gpu.device;
  if (!gpu.hasTimestamps) {
    const t = performance.now();
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    encode(pass);
    pass.end();
    dev.queue.submit([enc.finish()]);
    await dev.queue.onSubmittedWorkDone();
    return (performance.now() - t) * 1e6;
  }
  const qs = dev.createQuerySet({ type: 'timestamp', count: 2 });
  const enc = dev.createCommandEncoder();
  const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
  encode(pass);
  pass.end();
  dev.queue.submit([enc.finish()]);
  return (await passDurationsNs(gpu, qs, 1))[0];
}

/** Median over `trials` passes of `reps` calls each: microseconds per call. */
async function usPerCall(gpu: Gpu, reps: number, call: (pass: GPUComputePassEncoder, i: number) => void, trials = 5): Promise<number> {
  await timePass(gpu, (p) => call(p, 0));
  const xs: number[] = [];
  for (let t = 0; t < trials; t++) xs.push((await timePass(gpu, (p) => { for (let i = 0; i < reps; i++) call(p, i); })) / reps / 1000);
  return median(xs);
}

async function randomBuffers(gpu: Gpu, bytes: number, copies: number): Promise<GPUBuffer[]> {
  const fill = await createFillRandom(gpu, 'bf16');
  const bufs = Array.from({ length: copies }, () => createStorage(gpu, bytes));
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  bufs.forEach((b, i) => fill.encode(pass, b, bytes / 4, i + 1, 0.05));
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return bufs;
}

export async function runKernelBench(args: Args): Promise<number> {
  const gpu = await acquireGpu();
  const rows: Row[] = [];
  const log = (r: Row) => {
    rows.push(r);
    console.error(JSON.stringify(r));
  };
  const step1 = createStep(gpu, { rows: 1, pos: 0, kvLen: 1 });
  // --small: tiny shapes, to smoke-test this script on a CPU adapter.
  const small = args.small === true;
  const matvecShapes = small ? [[256, 128]] : [[2048, 2048], [8192, 2048], [2048, 8192], [128256, 2048]];
  const contexts = small ? [256] : [1024, 8192, 32768, 131072];
  const mm = small ? [128, 128, 64] : [8192, 8192, 2048];

  // 1. Decode matvec: bytes of W per call over time, by threads per feature (TPF).
  for (const [n, k] of matvecShapes) {
    const bytes = n * k * 2;
    const copies = small ? 2 : Math.max(1, Math.min(16, Math.ceil((256 * 2 ** 20) / bytes)));
    const ws = await randomBuffers(gpu, bytes, copies);
    const x = (await randomBuffers(gpu, 8 * k * 4, 1))[0];
    const out = createStorage(gpu, n * 4 * 8);
    for (const tpf of [undefined, 32, 64, 128, 256]) {
      const op = await createLinear(gpu, { inFeatures: k, outFeatures: n, dtype: 'bf16', hasBias: false, accumulate: false, maxRows: 1, matvec: tpf ? { threads: tpf } : undefined });
      const bound = ws.map((w) => op.bind({ out, x, parts: [{ buffer: w, rowStart: 0, rowCount: n }], step: step1 }));
      const us = await usPerCall(gpu, 4 * copies, (p, i) => bound[i % copies].encode(p, 1));
      log({ kernel: 'matvec bf16', variant: `${n}x${k} tpf=${tpf ?? 'auto'}`, usPerCall: us, gbps: bytes / us / 1e3 });
    }
    ws.forEach((w) => w.destroy());
  }

  // 2. Per-dispatch cost: a tiny elementwise kernel, many times in one pass.
  {
    const silu = await createSiluMul(gpu, { features: 2048 });
    const [a, b] = await randomBuffers(gpu, 2048 * 4, 2);
    const out = createStorage(gpu, 2048 * 4);
    const bound = silu.bind({ out, a, b, step: step1 });
    log({ kernel: 'dispatch overhead', variant: 'silu_mul 2048', usPerCall: await usPerCall(gpu, 200, (p) => bound.encode(p, 1)) });
  }

  // 3. Decode attention (Llama-3.2-1B heads, f16 cache) by context length.
  for (const ctx of contexts) {
    const shape = { nHeads: 32, nKvHeads: 8, headDim: 64, capacity: ctx, cacheF16: true };
    const cacheBytes = shape.nKvHeads * ctx * shape.headDim * 2;
    const [kc, vc] = await randomBuffers(gpu, cacheBytes, 2);
    const q = (await randomBuffers(gpu, 32 * 64 * 4, 1))[0];
    const out = createStorage(gpu, 32 * 64 * 4);
    const op = await createAttentionDecode(gpu, shape);
    const step = createStep(gpu, { rows: 1, pos: ctx - 1, kvLen: ctx });
    const bound = op.bind({ out, q, kCache: kc, vCache: vc, step });
    const us = await usPerCall(gpu, 20, (p) => bound.encode(p, ctx));
    log({ kernel: 'attention decode f16', variant: `ctx ${ctx} splits ${op.splits(ctx)}`, usPerCall: us, gbps: (2 * cacheBytes) / us / 1e3 });
    kc.destroy();
    vc.destroy();
  }

  // 4. Prefill matmul (8192 x 2048) . (8192 x 2048)^T, bf16 weights, by tile.
  {
    const [m, n, k] = mm;
    const x = (await randomBuffers(gpu, m * k * 4, 1))[0];
    const w = (await randomBuffers(gpu, n * k * 2, 1))[0];
    const out = createStorage(gpu, m * n * 4);
    const step = createStep(gpu, { rows: m, pos: 0, kvLen: m });
    const tiles: MatmulTile[] = [MATMUL_LARGE, { ...MATMUL_LARGE, tileK: 32 }, { wgM: 8, wgN: 8, tileK: 16 }, { wgM: 16, wgN: 8, tileK: 16 }];
    for (const t of tiles) {
      let op;
      try {
        op = await createLinear(gpu, { inFeatures: k, outFeatures: n, dtype: 'bf16', hasBias: false, accumulate: false, matmulTile: t });
      } catch (e) {
        console.error(`tile ${JSON.stringify(t)}: ${String(e)}`);
        continue;
      }
      const bound = op.bind({ out, x, parts: [{ buffer: w, rowStart: 0, rowCount: n }], step });
      const us = await usPerCall(gpu, 3, (p) => bound.encode(p, m), 3);
      log({ kernel: 'matmul bf16', variant: `${m}x${n}x${k} ${t.wgM}x${t.wgN}x${t.tileK}`, usPerCall: us, tflops: (2 * m * n * k) / us / 1e6 });
    }
  }

  console.log('| kernel | variant | µs/call | GB/s | TFLOP/s |');
  console.log('|---|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.kernel} | ${r.variant} | ${r.usPerCall.toFixed(2)} | ${r.gbps?.toFixed(0) ?? ''} | ${r.tflops?.toFixed(2) ?? ''} |`);
  const dir = str(args, 'out', 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/kernels-${(gpu.adapter.architecture || gpu.adapter.vendor || 'gpu').replace(/[^\w.-]/g, '_')}.json`;
  writeFileSync(file, JSON.stringify({ bench: 'kernels', adapter: gpu.adapter, timestamps: gpu.hasTimestamps, date: new Date().toISOString(), rows }, null, 2));
  console.log(`wrote ${file}`);
  return 0;
}
