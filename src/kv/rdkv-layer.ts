/**
 * One compressed layer of the KV cache (rdkv.md §3–§5), the GPU side the engine uses after a layer's
 * prefill (layer-streamed: the layer's full K/V can be freed once compressLayer resolves):
 *
 *   1. window scores on the GPU (src/gpu/ops/rdkv-scores.ts), read back (Hkv·T + 2·Hkv·d floats);
 *   2. on the CPU (src/rdkv): visibility normalisation, pooling, w_K (finishWindowScores), the policy's
 *      width assignment (planCompression) and the layout (planLayout, 'float' zero points by default);
 *   3. pack every head into one arena buffer on the GPU (src/gpu/ops/rdkv-pack.ts);
 *   4. decode: fused attention over the arena and zone C (src/gpu/ops/rdkv-attention-decode.ts).
 *
 * Every policy ('rdkv', 'uniform', 'snapkv', 'streaming') is a width assignment packed into the same arena
 * and read by the same fused kernel, so equal-memory comparisons share one mechanism. 'full' is not a
 * compressed layer (the engine keeps its full cache).
 *
 * Zone C holds the tokens generated after compression: two buffers [Hkv, capacity, d] (f32, or f16 two per
 * word like the full cache) that the engine's rope_kv writes at slot pos − T; capacity grows on demand
 * (ensureZoneC, then bind again). A head whose allocation keeps no token (only possible as B → 0) keeps
 * its most-attended token at 16 bits, so its softmax is never empty.
 */
import type { Gpu } from '../gpu/device';
import { createStorage, readF32 } from '../gpu/kernel';
import { createRdkvAttentionDecode, rdkvDecodeKernel, type BoundRdkvDecode, type RdkvDecodeKernel } from '../gpu/ops/rdkv-attention-decode';
import { createRdkvPack, planArena, type ArenaPlan } from '../gpu/ops/rdkv-pack';
import { createRdkvScores } from '../gpu/ops/rdkv-scores';
import type { Budget } from '../rdkv/budget';
import { layoutBytes } from '../rdkv/bytes';
import { planLayout, type HeadLayout } from '../rdkv/layout';
import { EPS_K_DEFAULT, EPS_V_DEFAULT } from '../rdkv/epsilon';
import { planCompression, predictedDistortion, type EpsilonPair, type HeadPlan, type LayerInputs, type PolicyOptions } from '../rdkv/policies';
import type { ZeroPoint } from '../rdkv/quantize';
import { layerReport, type LayerReport } from '../rdkv/report';
import { OBSERVATION_WINDOW, finishWindowScores, type ScoreOptions, type WindowScores } from '../rdkv/scoring';
import { mib } from './full-cache';

export type CompressPolicy = 'rdkv' | 'uniform' | 'snapkv' | 'streaming';

export interface RdkvLayerShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** The layer's K/V cache and zone C hold f16 (two per u32 word, dim 2j low) instead of f32. */
  cacheF16: boolean;
}

export interface CompressOptions extends PolicyOptions {
  /** Zero points of the quantizer: 'float' (default: f32, unclamped) or 'integer' (rdkv.md §4, u8). */
  zeroPoint?: ZeroPoint;
  /** Pooling kernel and w_K form (scoring.ts). */
  score?: ScoreOptions;
  /** ε tables (default rdkv.md §2). */
  epsilon?: LayerInputs['epsilon'];
  /** Initial zone C capacity in tokens; default 256. */
  zoneCTokens?: number;
  /** Decode splits per KV head; default from the kept token count. */
  splits?: number;
  /** Decode attention kernel; default rdkvDecodeKernel (vec4 for G <= 4 and one K token group). */
  decodeKernel?: RdkvDecodeKernel;
  /** Layer index, for the report. */
  layer?: number;
}

export interface CompressArgs {
  /** The layer's full K (post-RoPE) and V cache, [Hkv, capacity, d], prompt in slots 0 .. T − 1. */
  k: GPUBuffer;
  v: GPUBuffer;
  capacity: number;
  /** Prompt length. */
  T: number;
  /** (W, Hq·d) f32 post-RoPE queries of the last W prompt positions of this layer. */
  qWindow: GPUBuffer;
  /** Window rows in qWindow; default min(32, T). */
  W?: number;
  shape: RdkvLayerShape;
  policy: CompressPolicy;
  budget?: Budget;
  options?: CompressOptions;
}

export interface LayerBytes {
  /** Arena bytes (all heads, metadata included; zone C excluded). */
  compressed: number;
  /** Full cache of the same T tokens at 16 bits. */
  full: number;
  metadata: number;
  /** compressed / full. */
  retention: number;
}

export interface DecodeBindings {
  out: GPUBuffer; // (Hq·d) f32
  q: GPUBuffer; // (Hq·d) f32, roped
  step: GPUBuffer; // Step uniform: kv_len = T + zone C tokens (this one included)
}

/** What CompressedLayer.restore needs: plans (layouts rebuilt), the arena words, decode settings. */
export interface RestoreArgs {
  shape: RdkvLayerShape;
  /** Prompt length the plans cover. */
  T: number;
  /** (Hkv) head plans, head h at index h. */
  plans: HeadPlan[];
  /** Layer index (report and labels). */
  layer: number;
  /** The layer arena, heads back to back (planArena of the plans' layouts). */
  arena: Uint8Array;
  splits?: number;
  /** Zone C capacity in tokens. */
  zoneCTokens: number;
}

/** Scores of one layer on the GPU, finished on the CPU. */
export async function scoreLayer(gpu: Gpu, a: Pick<CompressArgs, 'k' | 'capacity' | 'T' | 'qWindow' | 'W' | 'shape'>, opts: ScoreOptions = {}): Promise<WindowScores> {
  const { nHeads, nKvHeads, headDim, cacheF16 } = a.shape;
  const W = a.W ?? Math.min(OBSERVATION_WINDOW, a.T);
  const op = await createRdkvScores(gpu, { nHeads, nKvHeads, headDim, capacity: a.capacity, cacheF16, scale: opts.scale });
  const wvRaw = createStorage(gpu, nKvHeads * a.T * 4, 'rdkv.wv_raw');
  const chan = createStorage(gpu, nKvHeads * headDim * 8, 'rdkv.chan');
  const bound = op.bind({ wvRaw, chan, q: a.qWindow, k: a.k, T: a.T, W });
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  bound.encode(pass);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const [attn, ch] = await Promise.all([readF32(gpu, wvRaw, nKvHeads * a.T), readF32(gpu, chan, nKvHeads * headDim * 2)]);
  bound.destroy();
  wvRaw.destroy();
  chan.destroy();
  const qSq = new Float32Array(nKvHeads * headDim);
  const kSq = new Float32Array(nKvHeads * headDim);
  for (let i = 0; i < qSq.length; i++) {
    qSq[i] = ch[2 * i];
    kSq[i] = ch[2 * i + 1];
  }
  return finishWindowScores({ attn, qSq, kSq }, { W, Hq: nHeads, Hkv: nKvHeads, T: a.T, d: headDim }, opts);
}

function epsilonOf(opts: CompressOptions, h: number): EpsilonPair {
  const e = opts.epsilon;
  if (e === undefined) return { v: EPS_V_DEFAULT, k: EPS_K_DEFAULT };
  return Array.isArray(e) ? (e[h] as EpsilonPair) : (e as EpsilonPair);
}

/** The plan with its layout rebuilt for `zeroPoint` (bytes, withinBudget, distortion recounted). */
function relayout(p: HeadPlan, vBits: Uint8Array, kBits: Uint8Array, opts: CompressOptions, zeroPoint: ZeroPoint, wV: Float32Array, wK: Float32Array): HeadPlan {
  const layout = planLayout({
    vBits,
    kBits,
    kFullInZoneB: p.layout.kFullInZoneB,
    tokenGroup: opts.tokenGroup,
    storePositions: opts.storePositions,
    zoneCCapacity: opts.zoneCCapacity,
    zeroPoint,
  });
  const bytes = layoutBytes(layout);
  const kStoredBits = layout.nQ > 0 ? layout.k.storedBits.slice() : new Uint8Array(p.d).fill(layout.kept > 0 ? 16 : 0);
  const h = p.kvHead;
  const distortion = predictedDistortion(wV.subarray(h * p.T, (h + 1) * p.T), wK.subarray(h * p.d, (h + 1) * p.d), vBits, kStoredBits, layout, epsilonOf(opts, h));
  return { ...p, vBits, kBits, kStoredBits, layout, bytes, withinBudget: bytes.total <= p.budgetBytes, distortion };
}

/**
 * The policy's plans with the engine's zero points. 'uniform' re-picks its width when f32 zero points push
 * it over the budget; a head that keeps nothing keeps its most-attended token (V at 16 bits).
 */
export function finalizePlans(plans: readonly HeadPlan[], scores: WindowScores, opts: CompressOptions): HeadPlan[] {
  const { wV, wK } = scores;
  const zeroPoint = opts.zeroPoint ?? 'float';
  return plans.map((p) => {
    let vBits = p.vBits;
    if (p.T > 0 && !vBits.some((b) => b > 0)) {
      let best = 0;
      for (let t = 1; t < p.T; t++) if (wV[p.kvHead * p.T + t] > wV[p.kvHead * p.T + best]) best = t;
      vBits = vBits.slice();
      vBits[best] = 16;
    }
    let plan = relayout(p, vBits, p.kBits, opts, zeroPoint, wV, wK);
    if (p.policy === 'uniform' && p.uniformBits !== undefined) {
      for (const b of [4, 2]) {
        if (plan.withinBudget || b >= (plan.uniformBits ?? 2)) continue;
        const R = Math.min(opts.recentWindow ?? 32, p.T);
        const vb = new Uint8Array(p.T).fill(b).fill(16, p.T - R);
        plan = { ...relayout(p, vb, new Uint8Array(p.d).fill(b), opts, zeroPoint, wV, wK), uniformBits: b };
      }
    }
    return plan;
  });
}

export class CompressedLayer {
  private zc: { k: GPUBuffer; v: GPUBuffer; capacity: number };
  private bound: BoundRdkvDecode[] = [];

  constructor(
    private readonly gpu: Gpu,
    readonly shape: RdkvLayerShape,
    readonly T: number,
    readonly plans: HeadPlan[],
    readonly report: LayerReport,
    readonly arena: GPUBuffer,
    readonly arenaPlan: ArenaPlan,
    private readonly decodeOp: Awaited<ReturnType<typeof createRdkvAttentionDecode>>,
    private readonly splits: number | undefined,
    zoneCTokens: number,
  ) {
    this.zc = { ...this.allocZoneC(zoneCTokens), capacity: zoneCTokens };
  }

  /**
   * A layer from saved plans and arena words (a restored cache): no scoring, no packing. The arena must hold
   * exactly the words planArena gives for the plans' layouts; zone C starts empty with `zoneCTokens` slots.
   */
  static async restore(gpu: Gpu, a: RestoreArgs): Promise<CompressedLayer> {
    const { shape, plans } = a;
    if (plans.length !== shape.nKvHeads) throw new Error(`rdkv: ${plans.length} head plans for ${shape.nKvHeads} KV heads`);
    plans.forEach((p, h) => {
      if (p.kvHead !== h || p.T !== a.T || p.d !== shape.headDim) throw new Error(`rdkv: plan ${h} is for head ${p.kvHead}, T ${p.T}, d ${p.d}; expected head ${h}, T ${a.T}, d ${shape.headDim}`);
    });
    const arenaPlan = planArena(plans.map((p) => p.layout));
    if (a.arena.byteLength !== arenaPlan.totalWords * 4) throw new Error(`rdkv: arena of ${a.arena.byteLength} bytes, the layouts need ${arenaPlan.totalWords * 4}`);
    const arena = createStorage(gpu, arenaPlan.totalWords * 4, `rdkv.arena${a.layer}`);
    if (a.arena.byteLength) gpu.device.queue.writeBuffer(arena, 0, a.arena.buffer, a.arena.byteOffset, a.arena.byteLength);
    const decodeOp = await createLayerDecode(gpu, shape, plans.map((p) => p.layout));
    return new CompressedLayer(gpu, shape, a.T, plans, layerReport(a.layer, plans), arena, arenaPlan, decodeOp, a.splits, a.zoneCTokens);
  }

  /** Decode splits per KV head the layer was made with (undefined: from the kept token count). */
  get decodeSplits(): number | undefined {
    return this.splits;
  }

  get layouts(): HeadLayout[] {
    return this.plans.map((p) => p.layout);
  }

  /** Zone C buffers for the engine's rope_kv: [Hkv, capacity, d], token generated at pos in slot pos − T. */
  get zoneC(): { k: GPUBuffer; v: GPUBuffer; capacity: number } {
    return this.zc;
  }

  get bytes(): LayerBytes {
    let compressed = 0;
    let full = 0;
    let metadata = 0;
    for (const p of this.plans) {
      compressed += p.bytes.total;
      full += p.bytes.full;
      metadata += p.bytes.metadata;
    }
    return { compressed, full, metadata, retention: full > 0 ? compressed / full : 1 };
  }

  /** Bytes the zone C buffers take now. */
  zoneCBytes(): number {
    return 2 * this.zoneCLayerBytes(this.zc.capacity);
  }

  private zoneCLayerBytes(capacity: number): number {
    const { nKvHeads, headDim, cacheF16 } = this.shape;
    return nKvHeads * capacity * headDim * (cacheF16 ? 2 : 4);
  }

  private allocZoneC(capacity: number): { k: GPUBuffer; v: GPUBuffer } {
    const bytes = this.zoneCLayerBytes(capacity);
    if (bytes > this.gpu.maxBindingBytes) throw new RangeError(`zone C of ${capacity} tokens needs ${mib(bytes)}, over the ${mib(this.gpu.maxBindingBytes)} buffer limit`);
    return { k: createStorage(this.gpu, bytes, 'rdkv.zc_k'), v: createStorage(this.gpu, bytes, 'rdkv.zc_v') };
  }

  /**
   * Makes room for `tokens` zone C entries, keeping the first `keep`. Returns true when the buffers changed
   * (bind decode again, and rebind what writes zone C).
   */
  ensureZoneC(tokens: number, keep: number): boolean {
    if (tokens <= this.zc.capacity) return false;
    const capacity = Math.max(256, 2 ** Math.ceil(Math.log2(tokens)));
    const next = this.allocZoneC(capacity);
    const { nKvHeads } = this.shape;
    if (keep > 0) {
      const enc = this.gpu.device.createCommandEncoder();
      const rowOld = this.zoneCLayerBytes(this.zc.capacity) / nKvHeads;
      const rowNew = this.zoneCLayerBytes(capacity) / nKvHeads;
      const n = (this.zoneCLayerBytes(Math.min(keep, this.zc.capacity)) / nKvHeads + 3) & ~3;
      for (let h = 0; h < nKvHeads; h++) {
        enc.copyBufferToBuffer(this.zc.k, h * rowOld, next.k, h * rowNew, n);
        enc.copyBufferToBuffer(this.zc.v, h * rowOld, next.v, h * rowNew, n);
      }
      this.gpu.device.queue.submit([enc.finish()]);
    }
    this.zc.k.destroy();
    this.zc.v.destroy();
    this.zc = { ...next, capacity };
    return true;
  }

  /** Fused decode attention for one query token; encode(pass, nC) with nC zone C tokens (this one included). */
  bindDecode(b: DecodeBindings): { encode(pass: GPUComputePassEncoder, kvLenC: number): void } {
    const bound = this.decodeOp.bind({
      out: b.out,
      q: b.q,
      step: b.step,
      arena: this.arena,
      layouts: this.layouts,
      plan: this.arenaPlan,
      zoneC: this.zc,
      T: this.T,
      splits: this.splits,
    });
    this.bound.push(bound);
    return { encode: (pass, kvLenC) => bound.encode(pass, kvLenC) };
  }

  destroy(): void {
    for (const b of this.bound) b.destroy();
    this.bound = [];
    this.arena.destroy();
    this.zc.k.destroy();
    this.zc.v.destroy();
  }
}

/** The decode attention op for a layer of these layouts (kernel: default rdkvDecodeKernel's choice). */
function createLayerDecode(gpu: Gpu, shape: RdkvLayerShape, layouts: readonly HeadLayout[], kernel?: RdkvDecodeKernel) {
  const { nHeads, nKvHeads, headDim, cacheF16 } = shape;
  return createRdkvAttentionDecode(gpu, { nHeads, nKvHeads, headDim, zoneCF16: cacheF16, kernel: kernel ?? rdkvDecodeKernel(nHeads / nKvHeads, layouts) });
}

/** Scores, plans and packs one layer; the layer's full K/V may be freed when this resolves. */
export async function compressLayer(gpu: Gpu, a: CompressArgs): Promise<CompressedLayer> {
  const { shape, T } = a;
  // The engine's default zero point is f32 ('float'): planning counts its bytes, so budgets fit.
  const opts: CompressOptions = { zeroPoint: 'float', ...a.options };
  if ((a.policy as string) === 'full') throw new Error("rdkv: policy 'full' is not a compressed layer");
  const scores = await scoreLayer(gpu, a, opts.score);
  const inputs: LayerInputs = { T, d: shape.headDim, Hkv: shape.nKvHeads, wV: scores.wV, wK: scores.wK, epsilon: opts.epsilon };
  const plans = finalizePlans(planCompression(a.policy, inputs, a.budget, opts), scores, opts);
  const layouts = plans.map((p) => p.layout);
  const arenaPlan = planArena(layouts);
  const arena = createStorage(gpu, arenaPlan.totalWords * 4, `rdkv.arena${opts.layer ?? ''}`);
  const [pack, decodeOp] = await Promise.all([
    createRdkvPack(gpu, { nKvHeads: shape.nKvHeads, headDim: shape.headDim, capacity: a.capacity, cacheF16: shape.cacheF16 }),
    createLayerDecode(gpu, shape, layouts, opts.decodeKernel),
  ]);
  const bound = pack.bind({ arena, k: a.k, v: a.v, layouts, plan: arenaPlan });
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  bound.encode(pass);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  bound.destroy();
  return new CompressedLayer(gpu, shape, T, plans, layerReport(opts.layer ?? 0, plans), arena, arenaPlan, decodeOp, opts.splits, opts.zoneCTokens ?? 256);
}
