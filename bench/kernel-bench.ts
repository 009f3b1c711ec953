/**
 * Kernel micro-benchmarks (decode matvec bandwidth by group width, per-dispatch overhead, decode attention
 * by context, prefill matmul by tile), timed with GPU timestamp queries around a pass of repeated
 * dispatches. Weights rotate over several copies so the 60 MB L2 of an H200 cannot hold them.
 * Run: `npm run cli -- kernel-bench`. Prints a table, writes bench/results/kernels-<adapter>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { acquireGpu, type Gpu } from '../src/gpu/device';
import { type Args, type CommandFlags, str, oneOf } from '../src/cli/args';
import { createStorage } from '../src/gpu/kernel';
import { createAttentionDecode, type AttentionDecode, type DecodeShape } from '../src/gpu/ops/attention-decode';
import { createFillRandom } from '../src/gpu/ops/fill-random';
import { createLinear, MATMUL_LARGE, matvecSubgroupsAvailable, type MatmulTile, type MatvecTuning } from '../src/gpu/ops/linear';
import { createRmsNorm } from '../src/gpu/ops/rmsnorm';
import { createSiluMul } from '../src/gpu/ops/silu-mul';
import { createStep } from '../src/gpu/step';
import { Transformer } from '../src/model/forward';
import { adapterTag, median, passDurationsNs } from './gpu-timing';
import { randomWeights, SHAPES } from './random-model';

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

// Dawn quantizes GPU timestamps to 65.536 µs unless its timestamp_quantization toggle is off (all v1-v3 kernel
// numbers were multiples of 65.536 µs / reps). Each timed pass is therefore made at least TARGET_PASS_NS long,
// so the quantum costs under 2% of it.
const TIMESTAMP_QUANTUM_NS = 65_536;
const TARGET_PASS_NS = 4e6;
const MAX_REPS = 4096;
let quantizedOnly = true; // every pass measured so far was a whole number of quanta

/**
 * Median over `trials` passes of repeated calls: microseconds per call. `reps` is the first guess of calls per
 * pass; it grows until a pass lasts TARGET_PASS_NS.
 */
async function usPerCall(gpu: Gpu, reps: number, call: (pass: GPUComputePassEncoder, i: number) => void, trials = 5): Promise<number> {
  const pass = (n: number) => timePass(gpu, (p) => {
    for (let i = 0; i < n; i++) call(p, i);
  });
  await pass(1);
  let n = reps;
  for (;;) {
    const ns = await pass(n);
    if (ns >= TARGET_PASS_NS || n >= MAX_REPS || !gpu.hasTimestamps) break;
    n = Math.min(MAX_REPS, ns > 0 ? Math.ceil(((n * TARGET_PASS_NS) / ns) * 1.1) : n * 8);
  }
  const xs: number[] = [];
  for (let t = 0; t < trials; t++) {
    const ns = await pass(n);
    if (ns % TIMESTAMP_QUANTUM_NS !== 0) quantizedOnly = false;
    xs.push(ns / n / 1000);
  }
  return median(xs);
}

/**
 * The former v3 decode matvec as a createLinear tuning (its bench copy is gone: wgsl/matvec_loop.wgsl is that kernel
 * plus an optional SwiGLU epilogue): the looped kernel, 256-invocation workgroups and v3's threads per row, 2 units
 * (16-byte words, or u32 words when a row is not a multiple of 16 bytes) per invocation, a power of two in [32, 256].
 * Rows timed with it are labelled V3_LABEL.
 */
function v3Layout(k: number): MatvecTuning {
  const rowWords = k / 2; // bf16
  const units = rowWords % 4 === 0 ? rowWords / 4 : rowWords;
  return { loop: true, wg: 256, threads: Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(units / 2)))))) };
}
const V3_LABEL = 'v3 layout (looped kernel)';

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

/** The options runKernelBench reads (the CLI rejects any other). */
export const KERNEL_BENCH_FLAGS: CommandFlags = { values: { profile: 'true|false', out: 'DIR' }, booleans: ['small'] };

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
  const contexts = small ? [256] : [1024, 8192, 32768, 131072];
  const mm = small ? [128, 128, 64] : [8192, 8192, 2048];

  // 1. Decode matvec (Llama-3.2-1B shapes, N x K): v3's layout of the looped kernel against the current one,
  //    auto layout and alternatives. Bytes of W per call over time.
  const D = small ? 256 : 2048;
  const F = small ? 512 : 8192;
  const V = small ? 1000 : 128256;
  const matvecShapes: [string, number, number][] = [
    ['o', D, D],
    ['qkv', D + 2 * (D / 4), D],
    ['down', D, F],
    ['gate|up', 2 * F, D],
    ['lm head', V, D],
  ];
  // Besides the default (auto) layout; the v4 run's best rows and the former defaults, both kernels.
  const sweep: Record<string, MatvecTuning[]> = {
    k2048: [
      { loop: true },
      { loop: true, threads: 64 },
      { loop: false, threads: 64, rows: 2, subgroups: true },
      { loop: false, threads: 64, rows: 2, subgroups: false },
      { loop: false, threads: 128, rows: 4, subgroups: true },
      { loop: false, threads: 128, rows: 4, subgroups: false },
      { loop: false, threads: 32, rows: 2, subgroups: true },
    ],
    k8192: [{ loop: true }, { loop: false, subgroups: true }, { loop: false, subgroups: false }, { loop: false, threads: 128, rows: 4, subgroups: false }, { loop: false, threads: 256, rows: 2, subgroups: false }],
    head: [{ loop: true, threads: 64 }, { loop: false, threads: 64, rows: 2, subgroups: true }, { loop: false, threads: 128, rows: 4, subgroups: false }],
  };
  const copiesFor = (bytes: number) => (small ? 2 : Math.max(1, Math.min(16, Math.ceil((256 * 2 ** 20) / bytes))));
  for (const [label, n, k] of matvecShapes) {
    const bytes = n * k * 2;
    const copies = copiesFor(bytes);
    const ws = await randomBuffers(gpu, bytes, copies);
    const x = (await randomBuffers(gpu, 8 * k * 4, 1))[0];
    const out = createStorage(gpu, n * 4 * 8);
    const name = `${label} ${n}x${k}`;
    const v3 = await createLinear(gpu, { inFeatures: k, outFeatures: n, dtype: 'bf16', hasBias: false, accumulate: false, maxRows: 1, matvec: v3Layout(k) });
    const v3Bound = ws.map((w) => v3.bind({ out, x, parts: [{ buffer: w, rowStart: 0, rowCount: n }], step: step1 }));
    const us3 = await usPerCall(gpu, 4 * copies, (p, i) => v3Bound[i % copies].encode(p, 1));
    log({ kernel: `matvec bf16 ${V3_LABEL}`, variant: `${name} tpf=${v3.layout.threads}`, usPerCall: us3, gbps: bytes / us3 / 1e3 });
    const layouts: (MatvecTuning | undefined)[] = [undefined, ...(sweep[label === 'lm head' ? 'head' : k > 4096 ? 'k8192' : 'k2048'] ?? [])];
    for (const t of layouts) {
      if (t?.subgroups === true && !matvecSubgroupsAvailable(gpu)) continue;
      const op = await createLinear(gpu, { inFeatures: k, outFeatures: n, dtype: 'bf16', hasBias: false, accumulate: false, maxRows: 1, matvec: t });
      const l = op.layout;
      const bound = ws.map((w) => op.bind({ out, x, parts: [{ buffer: w, rowStart: 0, rowCount: n }], step: step1 }));
      const us = await usPerCall(gpu, 4 * copies, (p, i) => bound[i % copies].encode(p, 1));
      const desc = l.loop ? `loop wg=${l.wg} tpf=${l.threads} upt=${l.unitsPerThread}` : `wg=${l.wg} tpf=${l.threads} rows=${l.rows} upt=${l.unitsPerThread} sg=${l.subgroups ? 1 : 0}`;
      log({ kernel: 'matvec bf16', variant: `${name} ${t ? '' : 'auto '}${desc}`, usPerCall: us, gbps: bytes / us / 1e3 });
    }
    ws.forEach((w) => w.destroy());
  }

  // 1b. Decode fusions, old sequence vs new, per Llama-3.2-1B layer (weights rotate over copies):
  //   (v3 = V3_LABEL: createLinear with v3Layout)
  //   attention input: rmsnorm + q|k|v (v3)                     vs  q|k|v with the norm folded in
  //   MLP: rmsnorm + gate|up (v3) + silu_mul + down (v3)        vs  rmsnorm + gate|up with SwiGLU folded + down
  //   logits: rmsnorm + LM head (v3)                            vs  rmsnorm + LM head (the engine's defaults)
  //   layer matrices: all of the above per layer (7 dispatches) vs (5 dispatches), without rope/attention
  //   gate|up alone: SwiGLU epilogue vs plain product + silu_mul (both the engine's default gate|up layout)
  {
    const qkvN = D + 2 * (D / 4);
    const sizes = { qkv: qkvN * D * 2, o: D * D * 2, gu: 2 * F * D * 2, down: D * F * 2 };
    const layerBytes = sizes.qkv + sizes.o + sizes.gu + sizes.down;
    const copies = small ? 2 : Math.max(2, Math.ceil((192 * 2 ** 20) / layerBytes));
    const w = {
      qkv: await randomBuffers(gpu, sizes.qkv, copies),
      o: await randomBuffers(gpu, sizes.o, copies),
      gu: await randomBuffers(gpu, sizes.gu, copies),
      down: await randomBuffers(gpu, sizes.down, copies),
    };
    const [x, xb, normW, qkv, att, gu, h] = await randomBuffers(gpu, Math.max(2 * F, qkvN) * 4, 7);
    const norm = await createRmsNorm(gpu, { dim: D, eps: 1e-5, weightDtype: 'f32' });
    const silu = await createSiluMul(gpu, { features: F, inStride: 2 * F, bOffset: F });
    const normed = { rmsNorm: { eps: 1e-5 }, maxRows: 1, accumulate: false, inFeatures: D, dtype: 'bf16' as const, hasBias: false };
    const plain = { maxRows: 1, accumulate: false, inFeatures: D, dtype: 'bf16' as const, hasBias: false };
    const v3 = {
      qkv: await createLinear(gpu, { ...plain, outFeatures: qkvN, matvec: v3Layout(D) }),
      o: await createLinear(gpu, { ...plain, outFeatures: D, accumulate: true, matvec: v3Layout(D) }),
      gu: await createLinear(gpu, { ...plain, outFeatures: 2 * F, matvec: v3Layout(D) }),
      down: await createLinear(gpu, { ...plain, inFeatures: F, outFeatures: D, accumulate: true, matvec: v3Layout(F) }),
    };
    const v4 = {
      qkv: await createLinear(gpu, { ...normed, outFeatures: qkvN }),
      o: await createLinear(gpu, { inFeatures: D, outFeatures: D, dtype: 'bf16', hasBias: false, accumulate: true, maxRows: 1 }),
      gu: await createLinear(gpu, { ...plain, outFeatures: F, glu: true }),
      guPlain: await createLinear(gpu, { ...plain, outFeatures: 2 * F }),
      down: await createLinear(gpu, { inFeatures: F, outFeatures: D, dtype: 'bf16', hasBias: false, accumulate: true, maxRows: 1 }),
    };
    const part = (buffer: GPUBuffer, rowCount: number) => [{ buffer, rowStart: 0, rowCount }];
    const norm1 = norm.bind({ out: xb, x, weight: normW, step: step1 });
    const siluOp = silu.bind({ out: h, a: gu, b: gu, step: step1 });
    const old = Array.from({ length: copies }, (_, i) => ({
      qkv: v3.qkv.bind({ out: qkv, x: xb, parts: part(w.qkv[i], qkvN), step: step1 }),
      o: v3.o.bind({ out: x, x: att, parts: part(w.o[i], D), step: step1 }),
      gu: v3.gu.bind({ out: gu, x: xb, parts: part(w.gu[i], 2 * F), step: step1 }),
      down: v3.down.bind({ out: x, x: h, parts: part(w.down[i], D), step: step1 }),
    }));
    const cur = Array.from({ length: copies }, (_, i) => ({
      qkv: v4.qkv.bind({ out: qkv, x, parts: part(w.qkv[i], qkvN), step: step1, normWeight: normW }),
      o: v4.o.bind({ out: x, x: att, parts: part(w.o[i], D), step: step1 }),
      gu: v4.gu.bind({ out: h, x: xb, parts: part(w.gu[i], 2 * F), step: step1 }),
      guPlain: v4.guPlain.bind({ out: gu, x: xb, parts: part(w.gu[i], 2 * F), step: step1 }),
      down: v4.down.bind({ out: x, x: h, parts: part(w.down[i], D), step: step1 }),
    }));
    // [label, bytes, old sequence, new sequence, old row's suffix (default V3_LABEL)]
    const seqs: [string, number, (p: GPUComputePassEncoder, i: number) => void, (p: GPUComputePassEncoder, i: number) => void, string?][] = [
      [
        'attn input (norm + q|k|v)',
        sizes.qkv,
        (p, i) => (norm1.encode(p, 1), old[i % copies].qkv.encode(p, 1)),
        (p, i) => cur[i % copies].qkv.encode(p, 1),
      ],
      [
        'MLP (norm + gate|up + silu + down)',
        sizes.gu + sizes.down,
        (p, i) => {
          const o = old[i % copies];
          norm1.encode(p, 1);
          o.gu.encode(p, 1);
          siluOp.encode(p, 1);
          o.down.encode(p, 1);
        },
        (p, i) => (norm1.encode(p, 1), cur[i % copies].gu.encode(p, 1), cur[i % copies].down.encode(p, 1)),
      ],
      [
        'layer matrices (no rope/attention)',
        layerBytes,
        (p, i) => {
          const o = old[i % copies];
          norm1.encode(p, 1);
          o.qkv.encode(p, 1);
          o.o.encode(p, 1);
          norm1.encode(p, 1);
          o.gu.encode(p, 1);
          siluOp.encode(p, 1);
          o.down.encode(p, 1);
        },
        (p, i) => {
          const c = cur[i % copies];
          c.qkv.encode(p, 1);
          c.o.encode(p, 1);
          norm1.encode(p, 1);
          c.gu.encode(p, 1);
          c.down.encode(p, 1);
        },
      ],
      [
        'gate|up + silu (v3: plain + silu_mul; v5: SwiGLU epilogue)',
        sizes.gu,
        (p, i) => (cur[i % copies].guPlain.encode(p, 1), siluOp.encode(p, 1)),
        (p, i) => cur[i % copies].gu.encode(p, 1),
        'v3', // the engine's plain gate|up, not the v3 layout
      ],
    ];
    for (const [label, bytes, before, after, oldSuffix = V3_LABEL] of seqs) {
      const usOld = await usPerCall(gpu, 4 * copies, before);
      const usNew = await usPerCall(gpu, 4 * copies, after);
      log({ kernel: 'decode fusion', variant: `${label} ${oldSuffix}`, usPerCall: usOld, gbps: bytes / usOld / 1e3 });
      log({ kernel: 'decode fusion', variant: `${label} v5`, usPerCall: usNew, gbps: bytes / usNew / 1e3 });
    }
    for (const b of [...w.qkv, ...w.o, ...w.gu, ...w.down]) b.destroy();

    // Logits: one LM head, so rotate over a few copies only when they fit comfortably.
    const headBytes = V * D * 2;
    const headCopies = small ? 2 : 1;
    const heads = await randomBuffers(gpu, headBytes, headCopies);
    const logits = createStorage(gpu, V * 4);
    const headOld = await createLinear(gpu, { ...plain, outFeatures: V, matvec: v3Layout(D) });
    const headNew = await createLinear(gpu, { ...plain, outFeatures: V });
    const headFolded = await createLinear(gpu, { ...normed, outFeatures: V });
    const ho = heads.map((hw) => headOld.bind({ out: logits, x: xb, parts: part(hw, V), step: step1 }));
    const hn = heads.map((hw) => headNew.bind({ out: logits, x: xb, parts: part(hw, V), step: step1 }));
    const hf = heads.map((hw) => headFolded.bind({ out: logits, x, parts: part(hw, V), step: step1, normWeight: normW }));
    const usOld = await usPerCall(gpu, 8, (p, i) => (norm1.encode(p, 1), ho[i % headCopies].encode(p, 1)));
    const usNew = await usPerCall(gpu, 8, (p, i) => (norm1.encode(p, 1), hn[i % headCopies].encode(p, 1)));
    const usFolded = await usPerCall(gpu, 8, (p, i) => hf[i % headCopies].encode(p, 1));
    log({ kernel: 'decode fusion', variant: `logits (norm + LM head) ${V3_LABEL}`, usPerCall: usOld, gbps: headBytes / usOld / 1e3 });
    log({ kernel: 'decode fusion', variant: 'logits (norm + LM head) v5', usPerCall: usNew, gbps: headBytes / usNew / 1e3 });
    log({ kernel: 'decode fusion', variant: 'logits (LM head, norm folded: v4)', usPerCall: usFolded, gbps: headBytes / usFolded / 1e3 });
    heads.forEach((hw) => hw.destroy());
  }

  // 2. Per-dispatch cost: a tiny elementwise kernel, many times in one pass.
  {
    const silu = await createSiluMul(gpu, { features: 2048 });
    const [a, b] = await randomBuffers(gpu, 2048 * 4, 2);
    const out = createStorage(gpu, 2048 * 4);
    const bound = silu.bind({ out, a, b, step: step1 });
    log({ kernel: 'dispatch overhead', variant: 'silu_mul 2048', usPerCall: await usPerCall(gpu, 200, (p) => bound.encode(p, 1)) });
  }

  // 3. Decode attention (Llama-3.2-1B heads, f16 cache) by context length. Up to SIDE_BY_SIDE keys both paths of
  //    createAttentionDecode are timed: the single-dispatch kernel (singleMaxKeys = ctx: wherever it fits; at 1K
  //    and 2K also other workgroup sizes) and the two-pass split-K pair (singleMaxKeys = 0), "(default)" marking
  //    the one the engine takes, so the threshold can be set from one run. Longer contexts: the default path.
  const SIDE_BY_SIDE = 4096;
  const attnContexts = small ? [256] : [256, 512, 1024, 2048, 4096, ...contexts.filter((c) => c > SIDE_BY_SIDE)];
  for (const ctx of attnContexts) {
    const shape: DecodeShape = { nHeads: 32, nKvHeads: 8, headDim: 64, capacity: ctx, cacheF16: true };
    const cacheBytes = shape.nKvHeads * ctx * shape.headDim * 2;
    const [kc, vc] = await randomBuffers(gpu, cacheBytes, 2);
    const q = (await randomBuffers(gpu, 32 * 64 * 4, 1))[0];
    const out = createStorage(gpu, 32 * 64 * 4);
    const step = createStep(gpu, { rows: 1, pos: ctx - 1, kvLen: ctx });
    const defaultPath = (await createAttentionDecode(gpu, shape)).path(ctx);
    const timeAttention = async (extra: Partial<DecodeShape>, label: (op: AttentionDecode) => string) => {
      const op = await createAttentionDecode(gpu, { ...shape, ...extra });
      const path = op.path(ctx);
      if (extra.singleMaxKeys && path !== 'single') {
        console.error(`attention decode ctx ${ctx} ${JSON.stringify(extra)}: the single kernel does not fit (up to ${op.singleMaxKeys} keys)`);
        return;
      }
      const bound = op.bind({ out, q, kCache: kc, vCache: vc, step });
      const us = await usPerCall(gpu, 20, (p) => bound.encode(p, ctx));
      const variant = `ctx ${ctx} ${label(op)}${ctx <= SIDE_BY_SIDE && path === defaultPath && !extra.singleWg ? ' (default)' : ''}`;
      log({ kernel: 'attention decode f16', variant, usPerCall: us, gbps: (2 * cacheBytes) / us / 1e3 });
    };
    if (ctx <= SIDE_BY_SIDE) {
      await timeAttention({ singleMaxKeys: ctx }, () => 'single');
      await timeAttention({ singleMaxKeys: 0 }, (op) => `two-pass splits ${op.splits(ctx)}`);
      for (const singleWg of ctx === 1024 || ctx === 2048 ? [128, 512, 1024] : []) {
        if (singleWg <= gpu.limits.maxComputeInvocationsPerWorkgroup) await timeAttention({ singleMaxKeys: ctx, singleWg }, () => `single wg=${singleWg}`);
      }
    } else {
      await timeAttention({}, (op) => (op.path(ctx) === 'single' ? 'single' : `splits ${op.splits(ctx)}`));
    }
    for (const b of [kc, vc, q, out, step]) b.destroy();
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

  // 5. Decode step profile (skip with --profile false): Llama-3.2-1B with random bf16 weights, f16 cache, at two
  //    contexts. The whole step (timestamps, mean over steps) against each of its dispatch groups (one op kind
  //    for all layers, Transformer.decodeProfileGroups) repeated: per-group cost in the step's own buffers.
  if (oneOf(args, 'profile', ['true', 'false'], 'true') === 'true') {
    const config = SHAPES[small ? 'tiny' : 'llama-3.2-1b'];
    const weights = await randomWeights(gpu, config, 'bf16');
    const model = await Transformer.create(gpu, config, weights, { chunk: 256, kvF16: true });
    for (const ctx of small ? [256] : [1024, 8192]) {
      await model.reserve(ctx + 16);
      await model.fillRandomContext(ctx);
      // Clocks up first (an idle H200 sits at 345 MHz): chained steps, each rewound.
      let slot = 0;
      const t0 = performance.now();
      do {
        await model.decodeChained(slot ^ 1);
        await model.readArgmax(slot);
        slot ^= 1;
        model.rewind(1);
      } while (performance.now() - t0 < (small ? 0 : 1500));
      await model.readArgmax(slot);
      const steps = small ? 4 : 64;
      if (gpu.hasTimestamps) {
        const qs = gpu.device.createQuerySet({ type: 'timestamp', count: 2 * steps });
        for (let i = 0; i < steps; i++) {
          await model.decode(1, { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 });
          await model.readArgmax();
          model.rewind(1);
        }
        // Mean, not median: single passes are quantized to 65.5 µs and the mean over random phases is not.
        const ns = await passDurationsNs(gpu, qs, steps);
        log({ kernel: `decode step ctx ${ctx}`, variant: 'whole step (one pass, mean)', usPerCall: ns.reduce((x, y) => x + y, 0) / steps / 1e3 });
      }
      await model.decode(1);
      await model.readArgmax();
      const groups = model.decodeProfileGroups();
      let sum = 0;
      for (const g of groups) {
        const us = await usPerCall(gpu, 4, (p) => g.encode(p));
        sum += us;
        const perLayer = ['embed', 'logits (+ norm)', 'argmax'].includes(g.name) ? '' : ` (${(us / config.nLayers).toFixed(2)} µs/layer)`;
        log({ kernel: `decode step ctx ${ctx}`, variant: `${g.name}${perLayer}`, usPerCall: us });
      }
      log({ kernel: `decode step ctx ${ctx}`, variant: 'sum of the groups', usPerCall: sum });
      const all = await usPerCall(gpu, 2, (p) => groups.forEach((g) => g.encode(p)));
      log({ kernel: `decode step ctx ${ctx}`, variant: 'all groups in order (no host, no readback)', usPerCall: all });
      model.rewind(1);
    }
    model.destroy();
    weights.destroy();
  }

  console.log('| kernel | variant | µs/call | GB/s | TFLOP/s |');
  console.log('|---|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.kernel} | ${r.variant} | ${r.usPerCall.toFixed(2)} | ${r.gbps?.toFixed(0) ?? ''} | ${r.tflops?.toFixed(2) ?? ''} |`);
  const dir = str(args, 'out', 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/kernels-${adapterTag(gpu)}.json`;
  const quantized = gpu.hasTimestamps && quantizedOnly;
  if (quantized) console.log(`note: every pass time was a multiple of ${TIMESTAMP_QUANTUM_NS} ns (Dawn timestamp quantization); passes were sized to >= ${TARGET_PASS_NS / 1e6} ms`);
  writeFileSync(
    file,
    JSON.stringify({ bench: 'kernels', adapter: gpu.adapter, timestamps: gpu.hasTimestamps, quantizedTimestamps: quantized, date: new Date().toISOString(), rows }, null, 2),
  );
  console.log(`wrote ${file}`);
  return 0;
}
