/**
 * Decode attention launch-shape sweep (GPU timestamps): the fused RDKV kernel over the layers a benchmark
 * compressed (their real arenas and zone C), and the full-cache kernel over a seeded random f16 cache,
 * for a few chunk sizes (NK), workgroup sizes and split counts. Used by `rdkv-bench --sweep` to choose the
 * defaults; prints one line per variant and returns the rows for the JSON.
 */
import type { Gpu } from '../src/gpu/device';
import { createStorage, uploadStorage } from '../src/gpu/kernel';
import { createAttentionDecode } from '../src/gpu/ops/attention-decode';
import { createFillRandom } from '../src/gpu/ops/fill-random';
import { createRdkvAttentionDecode, defaultSplits, rdkvDecodeKernel, type RdkvDecodeShape } from '../src/gpu/ops/rdkv-attention-decode';
import { createStep } from '../src/gpu/step';
import type { CompressedLayer } from '../src/kv/rdkv-layer';
import type { ModelConfig } from '../src/model/config';
import { randn } from '../src/ref/random';
import { keepBusy, passDurationsNs } from './gpu-timing';

export interface SweepRow {
  kernel: 'rdkv' | 'full';
  label: string;
  context: number;
  variant: string;
  usPerLayer: number;
}

const ROUNDS = 8;

/**
 * GPU µs per call of `encode` (ROUNDS × `calls` back-to-back calls in one pass, after one warm pass). The calls
 * first keep the GPU busy for 400 ms (keepBusy): between rows the host compiles the next variant's pipeline, and
 * an idle GPU drops its clocks (on an H100 the same kernel read 48.6 µs right after a decode benchmark and 174 µs
 * a few rows later, after pipeline compiles, without this).
 */
async function timeCalls(gpu: Gpu, calls: ((pass: GPUComputePassEncoder) => void)[]): Promise<number> {
  const rounds = (pass: GPUComputePassEncoder) => {
    for (let r = 0; r < ROUNDS; r++) for (const c of calls) c(pass);
  };
  await keepBusy(gpu, rounds);
  const qs = gpu.device.createQuerySet({ type: 'timestamp', count: 4 });
  const enc = gpu.device.createCommandEncoder();
  for (let p = 0; p < 2; p++) {
    const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * p, endOfPassWriteIndex: 2 * p + 1 } });
    rounds(pass);
    pass.end();
  }
  gpu.device.queue.submit([enc.finish()]);
  const [, ns] = await passDurationsNs(gpu, qs, 2);
  return ns / 1e3 / (ROUNDS * calls.length);
}

function randomQuery(gpu: Gpu, n: number, seed: number): GPUBuffer {
  return uploadStorage(gpu, randn(seed, n), 'sweep.q');
}

/** One RDKV kernel variant: its options (shape beyond the model's), its split count (default: the kernel's) and name. */
interface RdkvVariant {
  opts: Pick<RdkvDecodeShape, 'tile' | 'wg' | 'subgroups' | 'vb' | 'probe' | 'kernel' | 'dpt'>;
  splits?: number;
  name: string;
}

/** The fused RDKV kernel over `layers` (all of them per round) with each variant; one row each. */
async function timeRdkvVariants(gpu: Gpu, config: ModelConfig, layers: readonly CompressedLayer[], label: string, context: number, variants: readonly RdkvVariant[]): Promise<SweepRow[]> {
  if (!gpu.hasTimestamps || layers.length === 0) return [];
  const { nHeads, nKvHeads, headDim } = config;
  const q = randomQuery(gpu, nHeads * headDim, 5);
  const out = createStorage(gpu, nHeads * headDim * 4, 'sweep.out');
  const nC = 4;
  const step = createStep(gpu, { rows: 1, pos: layers[0].T + nC - 1, kvLen: layers[0].T + nC });
  const rows: SweepRow[] = [];
  for (const { opts, splits, name } of variants) {
    let op;
    try {
      op = await createRdkvAttentionDecode(gpu, { nHeads, nKvHeads, headDim, zoneCF16: layers[0].shape.cacheF16, ...opts });
    } catch (e) {
      console.error(`sweep rdkv ${label} ${context} ${name}: skipped (${(e as Error).message.split('\n')[0]})`);
      continue; // a shape the device cannot hold
    }
    const bound = layers.map((cl) => op.bind({ out, q, step, arena: cl.arena, layouts: cl.layouts, plan: cl.arenaPlan, zoneC: cl.zoneC, T: cl.T, splits }));
    const us = await timeCalls(gpu, bound.map((b) => (pass: GPUComputePassEncoder) => b.encode(pass, nC)));
    const variant = name.replace('{splits}', String(bound[0].nSplit)).replace('{tile}', String(op.tile)).replace('{wg}', String(op.wg));
    for (const b of bound) b.destroy();
    rows.push({ kernel: 'rdkv', label, context, variant, usPerLayer: us });
    console.error(`sweep rdkv ${label} ${context} ${variant}: ${us.toFixed(1)} us/layer`);
  }
  for (const b of [q, out, step]) b.destroy();
  return rows;
}

/** The fused RDKV kernel over `layers` at each launch shape (chunk, workgroup, splits). */
export async function sweepRdkv(gpu: Gpu, config: ModelConfig, layers: readonly CompressedLayer[], label: string, context: number): Promise<SweepRow[]> {
  if (layers.length === 0) return [];
  const base = defaultSplits(layers[0].layouts, 1024);
  const variants: RdkvVariant[] = [];
  for (const tile of [64, 256, 1024]) {
    for (const wg of [64, 128, 256]) {
      for (const splits of [...new Set([Math.max(1, base >> 2), Math.max(1, base >> 1), base, 2 * base])]) {
        variants.push({ opts: { tile, wg, kernel: 'general' }, splits, name: `nk=${tile} wg=${wg} splits=${splits}${splits === base ? ' (default splits)' : ''}` });
      }
    }
  }
  return timeRdkvVariants(gpu, config, layers, label, context, variants);
}

/**
 * The general RDKV kernel at its default launch shape (default chunk, 64 threads, default splits) with 2, 4 and 8
 * value rows in flight per thread (VB), with and without the subgroup max (where the device has subgroups);
 * or (probes) the kernel whole, without its scores, without its values, and without both: where the time goes.
 */
export async function sweepRdkvValueRows(gpu: Gpu, config: ModelConfig, layers: readonly CompressedLayer[], label: string, context: number, probes = false): Promise<SweepRow[]> {
  if (layers.length === 0) return [];
  const shape = 'nk={tile} wg={wg} splits={splits}';
  // the general kernel is the engine's only where the vec4 kernel does not apply (rdkvDecodeKernel)
  const engines = rdkvDecodeKernel(config.nHeads / config.nKvHeads, layers[0].layouts) === 'general';
  const variants: RdkvVariant[] = probes
    ? ([0, 1, 2, 3] as const).map((probe) => ({
        opts: { probe, kernel: 'general' },
        name: `${probe ? `probe ${['', 'no scores', 'no values', 'neither'][probe]}` : 'general kernel'} ${shape}${!probe && engines ? ' (engine default)' : ''}`,
      }))
    : (gpu.hasSubgroups ? [true, false] : [false]).flatMap((subgroups) =>
        [2, 4, 8].map((vb) => ({ opts: { subgroups, vb, kernel: 'general' }, name: `vb=${vb} subgroups=${subgroups} ${shape}${engines && vb === 4 && subgroups === gpu.hasSubgroups ? ' (engine default)' : ''}` })),
      );
  return timeRdkvVariants(gpu, config, layers, `${label} ${probes ? 'probe' : 'vb'}`, context, variants);
}

/**
 * The vec4 kernel (wgsl/rdkv_attention_decode_vec4.wgsl) against the general one at the engine's launch shape:
 * dims per thread (DPT 4/8/16) x tokens in flight (U 2/4/8) at 64 threads, 128 threads, its
 * probes (without scores / values / both), and split counts around the default (DPT 4 and 8). One change per row.
 */
export async function sweepRdkvVec4(gpu: Gpu, config: ModelConfig, layers: readonly CompressedLayer[], label: string, context: number): Promise<SweepRow[]> {
  if (layers.length === 0 || config.nHeads / config.nKvHeads > 4) return [];
  const shape = 'nk={tile} wg={wg} splits={splits}';
  const base = defaultSplits(layers[0].layouts, 256);
  const v: RdkvVariant[] = [{ opts: { kernel: 'general' }, name: `general (engine default before) ${shape}` }];
  for (const dpt of [4, 8, 16]) {
    for (const vb of [4, 2, 8]) v.push({ opts: { kernel: 'vec4', dpt, vb }, name: `vec4 dpt=${dpt} u=${vb} ${shape}${dpt === 4 && vb === 4 ? ' (engine default)' : ''}` });
  }
  for (const dpt of [4, 8]) v.push({ opts: { kernel: 'vec4', dpt, wg: 128 }, name: `vec4 dpt=${dpt} u=4 ${shape}` });
  for (const probe of [1, 2, 3] as const) v.push({ opts: { kernel: 'vec4', probe }, name: `vec4 probe ${['', 'no scores', 'no values', 'neither'][probe]} ${shape}` });
  for (const splits of [...new Set([Math.max(1, base >> 2), Math.max(1, base >> 1), 2 * base])]) {
    for (const dpt of [4, 8]) v.push({ opts: { kernel: 'vec4', dpt }, splits, name: `vec4 dpt=${dpt} u=4 ${shape}` });
  }
  v.push({ opts: { kernel: 'general' }, name: `general (again, drift check) ${shape}` });
  return timeRdkvVariants(gpu, config, layers, `${label} vec4`, context, v);
}

/** The full-cache kernel over one random f16 layer of `context` tokens with each variant. */
export async function sweepFull(gpu: Gpu, config: ModelConfig, context: number): Promise<SweepRow[]> {
  if (!gpu.hasTimestamps) return [];
  const { nHeads, nKvHeads, headDim } = config;
  const capacity = Math.ceil(context / 8) * 8;
  const bytes = nKvHeads * capacity * headDim * 2;
  const k = createStorage(gpu, bytes, 'sweep.k');
  const v = createStorage(gpu, bytes, 'sweep.v');
  const fill = await createFillRandom(gpu, 'f16');
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  fill.encode(pass, k, bytes / 4, 11, 1);
  fill.encode(pass, v, bytes / 4, 12, 1);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const q = randomQuery(gpu, nHeads * headDim, 6);
  const out = createStorage(gpu, nHeads * headDim * 4, 'sweep.out');
  const step = createStep(gpu, { rows: 1, pos: context - 1, kvLen: context });
  const rows: SweepRow[] = [];
  for (const nk of [64, 256, 1024]) {
    for (const wg of [64, 128, 256]) {
      for (const target of [512, 1024, 2048]) {
        for (const minKeys of [32, 64, 128]) {
          let op;
          try {
            op = await createAttentionDecode(gpu, { nHeads, nKvHeads, headDim, capacity, cacheF16: true, window: 0, tiles: { nk, wg }, targetWorkgroups: target, minKeysPerSplit: minKeys, singleMaxKeys: 0 });
          } catch {
            continue;
          }
          const bound = op.bind({ out, q, kCache: k, vCache: v, step });
          const us = await timeCalls(gpu, [(p) => bound.encode(p, context)]);
          const variant = `nk=${nk} wg=${wg} target=${target} minKeys=${minKeys} splits=${op.splits(context)}`;
          rows.push({ kernel: 'full', label: 'full', context, variant, usPerLayer: us });
          console.error(`sweep full ${context} ${variant}: ${us.toFixed(1)} us/layer`);
        }
      }
    }
  }
  for (const b of [k, v, q, out, step]) b.destroy();
  return rows;
}
