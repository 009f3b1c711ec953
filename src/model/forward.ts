/**
 * The transformer forward pass on WebGPU (Llama / Qwen2 / Mistral): prefill in chunks, layer by layer,
 * and one-token decode steps. Every pipeline, buffer and bind group is made here, once; a step only
 * writes the Step uniform, records dispatches and submits.
 *
 *   x = embed(ids)
 *   for each layer:  xb = rmsnorm(x) · ln1
 *                    q, k, v = xb Wq^T (+bq), xb Wk^T (+bk), xb Wv^T (+bv)
 *                    q, k = rope(q, k);  cache[pos] = k, v
 *                    x += attention(q, cache) Wo^T
 *                    xb = rmsnorm(x) · ln2
 *                    x += (silu(xb Wg^T) · xb Wu^T) Wd^T
 *   logits = (rmsnorm(x_last) · norm) Wlm^T
 *
 * Decode (one row) runs the same math in fewer dispatches: the input RMSNorm is folded into the q|k|v product
 * (wgsl/matvec.wgsl normalises x on load), and silu(gate) · up into the gate|up product when [Wg; Wu] is one
 * matrix; the logits are computed in the step's own pass. The norms before gate|up and the LM head stay
 * separate dispatches: those products take the looped kernel (wgsl/matvec_loop.wgsl, no norm fold), which is
 * faster for them on an H200 than the norm-folding one even with the norm's dispatch (bench/NOTES.md, v4).
 */
import type { Gpu } from '../gpu/device';
import { bytesPerElement } from '../gpu/dtype';
import { createStorage, readF32, uploadStorage, type EncodedOp } from '../gpu/kernel';
import { createArgmax } from '../gpu/ops/argmax';
import { createAttentionDecode } from '../gpu/ops/attention-decode';
import { createAttentionPrefill } from '../gpu/ops/attention-prefill';
import { createEmbedding } from '../gpu/ops/embedding';
import { createFillRandom } from '../gpu/ops/fill-random';
import { createLinear } from '../gpu/ops/linear';
import { createRmsNorm } from '../gpu/ops/rmsnorm';
import { createRopeKv } from '../gpu/ops/rope-kv';
import { bf16HiddenBytes, createHiddenBf16 } from '../gpu/ops/hidden-bf16';
import { createSiluMul } from '../gpu/ops/silu-mul';
import { createStep, STEP_BYTES, stepWords, writeStep } from '../gpu/step';
import { MAP_READ_MODE, Usage } from '../gpu/usage';
import { FullCache } from '../kv/full-cache';
import { compressLayer, CompressedLayer, type CompressOptions, type CompressPolicy } from '../kv/rdkv-layer';
import { budgetTokens, type Budget } from '../rdkv/budget';
import {
  CacheStateError,
  decodeCacheState,
  encodeCacheState,
  headRowsBytes,
  planBitsBytes,
  planFromState,
  planToState,
  section,
  shapeMismatches,
  type CacheModelShape,
  type CompressedLayerState,
} from '../kv/cache-state';
import type { ModelConfig } from './config';
import { inverseFrequencies } from './rope-freqs';
import type { GpuWeights, LayerWeights, WeightPart, WeightTensor } from './upload';

/** Compress the cache right after a prefill (layer-streamed: one layer's full K/V exists at a time). */
export interface CompressSpec {
  policy: CompressPolicy;
  budget?: Budget;
  options?: CompressOptions;
}

type FillRandom = { kv: Awaited<ReturnType<typeof createFillRandom>>; f32: Awaited<ReturnType<typeof createFillRandom>> };

/** RDKV's observation window: the last W prompt positions' queries score the cache. */
export const OBSERVATION_WINDOW = 32;

export interface PrefillHooks {
  onLayer?: (layer: number) => void;
  signal?: AbortSignal;
  /** Compress after this prefill (a fresh context only); no effect when the budget covers the prompt. */
  compress?: CompressSpec;
}

/** Working-buffer bytes a prefill chunk may take (prefillChunkFor). */
export const PREFILL_CHUNK_BYTES = 32 * 2 ** 20;

/** 32-bit words per prefill row of each working buffer (Transformer's chunk-sized buffers). */
function chunkRowWords(c: ModelConfig) {
  return {
    x: c.hiddenSize, // residual stream
    xb: c.hiddenSize, // normed
    qkv: (c.nHeads + 2 * c.nKvHeads) * c.headDim, // q | k | v per row
    q: c.nHeads * c.headDim, // roped
    att: c.nHeads * c.headDim,
    gu: 2 * c.intermediateSize, // gate in columns [0, F), up in [F, 2F)
    h: c.intermediateSize,
    ids: 1, // u32
  };
}

/**
 * Rows per prefill chunk for a model: the largest power of two in [256, 4096] whose working buffers
 * (chunkRowWords) fit PREFILL_CHUNK_BYTES. A large model keeps 256 rows (the Llama-3.2-1B shape: ~140 KB a
 * row); a small one gets long chunks, because the prefill attention grid is (rows × G / BQ, Hkv) workgroups
 * per chunk — at 256 rows a 2-KV-head model fills a GPU with 64 workgroups, and a long prompt is hundreds of
 * such under-filled passes.
 */
export function prefillChunkFor(c: ModelConfig): number {
  const rowBytes = 4 * Object.values(chunkRowWords(c)).reduce((a, b) => a + b, 0);
  let rows = 256;
  while (rows < 4096 && 2 * rows * rowBytes <= PREFILL_CHUNK_BYTES) rows *= 2;
  return rows;
}

/**
 * Chained greedy steps the engine keeps submitted beyond the token it is reading: the GPU always has the next
 * step queued while the host waits for a readback (which can take as long as a step: Dawn resolves mapAsync
 * by polling) and encodes the one after.
 */
export const DECODE_AHEAD = 2;

export interface ForwardOptions {
  /** Rows per prefill chunk (matrix-matrix kernels work on this many tokens at once). */
  chunk: number;
  /** Store the KV cache as f16 (two values per u32 word) instead of f32. */
  kvF16: boolean;
  /**
   * A compressed (layer-streamed) prefill keeps the prompt's hidden states between layers in bf16 instead of
   * f32: half the largest buffer it holds (T x D x 4 bytes in f32). Default: when the weights are 16-bit —
   * the precision transformers keeps the residual stream at for such a checkpoint. The full-cache prefill
   * always keeps f32.
   */
  hiddenBf16?: boolean;
}

interface LayerOps {
  /** Decode: rmsnorm(x) · ln1 folded into the q|k|v product(s) (they read the residual stream x). */
  qkvDecode: EncodedOp[];
  /** Decode: rmsnorm(x) · ln2 into xb, then gate|up writing h = silu(gate) · up when fused, else gate, up, silu. */
  mlpInDecode: EncodedOp[];
  norm1: EncodedOp;
  /** xb [Wq; Wk; Wv]^T (+ biases) into the q|k|v rows: one matrix product when fused, else three. */
  qkv: EncodedOp[];
  rope: EncodedOp;
  attnPrefill: EncodedOp;
  attnDecode: EncodedOp;
  o: EncodedOp;
  norm2: EncodedOp;
  /** xb Wg^T and xb Wu^T: one matrix product over [Wg; Wu] when the weights were fused, else two. */
  gateUp: EncodedOp[];
  silu: EncodedOp;
  down: EncodedOp;
}

type Factory<T> = T extends (gpu: Gpu, shape: infer _S) => Promise<infer R> ? R : never;
type Kernels = {
  norm: Factory<typeof createRmsNorm>;
  /** The fused projection, or (when the weights stay separate) q, k and v into their columns. */
  qkv: Factory<typeof createLinear>[];
  o: Factory<typeof createLinear>;
  gateUp: Factory<typeof createLinear>;
  /** Only when gate and up stay separate: up written to columns [F, 2F). */
  up: Factory<typeof createLinear> | null;
  down: Factory<typeof createLinear>;
  silu: Factory<typeof createSiluMul>;
  /** Decode: qkv with the input norm folded in (same split as qkv). */
  qkvNorm: Factory<typeof createLinear>[];
  /** Decode: [Wg; Wu] with the SwiGLU gate folded in (reads xb, writes h), or (unfused weights) gate. */
  mlpIn: Factory<typeof createLinear>;
  /** Decode, unfused weights only: up, into columns [F, 2F). */
  upNorm: Factory<typeof createLinear> | null;
};

/** The ops that read the cache, built for its current capacity (and per sliding-window setting). */
type CacheKernels = {
  rope: Factory<typeof createRopeKv>;
  attnPrefill: Factory<typeof createAttentionPrefill>[];
  attnDecode: Factory<typeof createAttentionDecode>[];
};

export class Transformer {
  /** Tokens in the cache (the next token's position). */
  length = 0;
  readonly cache: FullCache;

  private layers: LayerOps[] = [];
  /** Set after a compressed prefill: the compressed layers and their decode ops (zone C + fused attention). */
  private compressed: { T: number; layers: CompressedLayer[]; ops: LayerOps[] } | null = null;
  private readonly step: GPUBuffer;
  private readonly stepOne: GPUBuffer;
  private readonly b: ReturnType<Transformer['allocate']>;
  private kernels!: Kernels;
  private embed!: EncodedOp;
  /** rmsnorm(x) · norm into xb, then the LM head: over x.last (prefill) and over row 0 of x (decode). */
  private lmHead!: EncodedOp;
  private lmHeadDecode!: EncodedOp;
  private argmaxOp!: EncodedOp;
  private invFreq: GPUBuffer;
  /**
   * Readback slots for sampled ids: DECODE_AHEAD + 1, so chained steps can run that far ahead of the id being
   * read (the slot of token k is k mod the slot count; token 0 is the prefill's, slot 0).
   */
  private readonly tokenRead: GPUBuffer[];
  /** Per layer, the fused [gate; up] weight (null when the weights stay separate). */
  private gateUpParts: WeightPart[][] | null = null;
  /** Per layer, the fused [q; k; v] weight and bias (null when they stay separate). */
  private qkvParts: { parts: WeightPart[]; bias?: GPUBuffer }[] | null = null;
  /** Buffers this forward pass made from the weights (fused matrices), destroyed with it. */
  private readonly owned: GPUBuffer[] = [];
  /** The bf16 residual-stream kernels of a compressed prefill, built on first use (hiddenNarrow). */
  private hiddenBf16?: Awaited<ReturnType<typeof createHiddenBf16>>;
  /** The embedding bound to the argmax output: chained greedy steps feed the GPU's own token. */
  private embedChained!: EncodedOp;

  private constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    private readonly weights: GpuWeights,
    readonly options: ForwardOptions,
  ) {
    this.cache = new FullCache(gpu, {
      nLayers: config.nLayers,
      nKvHeads: config.nKvHeads,
      headDim: config.headDim,
      f16: options.kvF16,
    });
    this.step = createStep(gpu, { rows: 1, pos: 0, kvLen: 1 }, 'step');
    this.stepOne = createStep(gpu, { rows: 1, pos: 0, kvLen: 1 }, 'step.one');
    this.invFreq = uploadStorage(gpu, inverseFrequencies(config), 'rope.invFreq');
    this.b = this.allocate();
    this.tokenRead = Array.from({ length: DECODE_AHEAD + 1 }, (_, i) =>
      gpu.device.createBuffer({ label: `argmax.read${i}`, size: 4, usage: Usage.MAP_READ | Usage.COPY_DST }),
    );
  }

  static async create(gpu: Gpu, config: ModelConfig, weights: GpuWeights, options: ForwardOptions): Promise<Transformer> {
    const t = new Transformer(gpu, config, weights, options);
    await t.build();
    return t;
  }

  /** Working buffers, sized for one prefill chunk. */
  private allocate() {
    const c = this.config;
    const C = this.options.chunk;
    const s = (n: number, label: string) => createStorage(this.gpu, n * 4, label);
    const row = chunkRowWords(c);
    return {
      x: s(C * row.x, 'x'), // (C, D)
      xb: s(C * row.xb, 'xb'), // (C, D)
      qkv: s(C * row.qkv, 'qkv'), // (C, Hq·d + 2·Hkv·d)
      q: s(C * row.q, 'q'), // (C, Hq·d)
      att: s(C * row.att, 'att'), // (C, Hq·d)
      gu: s(C * row.gu, 'gate_up'), // (C, 2F)
      h: s(C * row.h, 'h'), // (C, F)
      ids: s(C * row.ids, 'ids'), // (C) u32
      xLast: s(c.hiddenSize, 'x.last'), // (1, D)
      logits: s(c.vocabSize, 'logits'), // (V)
      token: s(4, 'argmax'), // (1) u32
    };
  }

  /**
   * Concatenates each layer's gate and up weights into one [Wg; Wu] buffer, so one matrix product (one
   * dispatch, one larger and more efficient read) computes both. Skipped when either is split in parts.
   */
  private fuseGateUp(): WeightPart[][] | null {
    const layers = this.weights.layers;
    const fusable = layers.every(
      (lw) => lw.gate.parts.length === 1 && lw.up.parts.length === 1 && lw.gate.dtype === lw.up.dtype && 2 * lw.gate.parts[0].buffer.size <= this.gpu.maxBindingBytes,
    );
    if (!fusable) return null;
    return layers.map((lw, l) => {
      const g = lw.gate.parts[0].buffer;
      const u = lw.up.parts[0].buffer;
      const bytes = lw.gate.rows * lw.gate.cols * bytesPerElement(lw.gate.dtype);
      const fused = createStorage(this.gpu, 2 * bytes, `l${l}.gate_up`);
      const enc = this.gpu.device.createCommandEncoder();
      enc.copyBufferToBuffer(g, 0, fused, 0, bytes);
      enc.copyBufferToBuffer(u, 0, fused, bytes, bytes);
      this.gpu.device.queue.submit([enc.finish()]);
      g.destroy();
      u.destroy();
      this.owned.push(fused);
      return [{ buffer: fused, rowStart: 0, rowCount: 2 * lw.gate.rows }];
    });
  }

  /**
   * Concatenates each layer's q, k and v weights (and biases) into one [Wq; Wk; Wv] buffer: one matrix
   * product writes the q|k|v rows that rope_kv reads. Skipped when any is split in parts or dtypes differ.
   */
  private fuseQkv(): { parts: WeightPart[]; bias?: GPUBuffer }[] | null {
    const layers = this.weights.layers;
    const fusable = layers.every((lw) => {
      const ts = [lw.q, lw.k, lw.v];
      const bytes = ts.reduce((s, t) => s + t.rows * t.cols * bytesPerElement(t.dtype), 0);
      return ts.every((t) => t.parts.length === 1 && t.dtype === lw.q.dtype) && bytes <= this.gpu.maxBindingBytes;
    });
    if (!fusable) return null;
    return layers.map((lw, l) => {
      const ts = [lw.q, lw.k, lw.v];
      const sizes = ts.map((t) => t.rows * t.cols * bytesPerElement(t.dtype));
      const fused = createStorage(this.gpu, sizes[0] + sizes[1] + sizes[2], `l${l}.qkv`);
      const biases = [lw.qBias, lw.kBias, lw.vBias];
      const bias = lw.qBias ? createStorage(this.gpu, 4 * ts.reduce((s, t) => s + t.rows, 0), `l${l}.qkv_bias`) : undefined;
      const enc = this.gpu.device.createCommandEncoder();
      let at = 0;
      let biasAt = 0;
      ts.forEach((t, i) => {
        enc.copyBufferToBuffer(t.parts[0].buffer, 0, fused, at, sizes[i]);
        at += sizes[i];
        const b = biases[i];
        if (bias && b) enc.copyBufferToBuffer(b, 0, bias, biasAt, t.rows * 4);
        biasAt += t.rows * 4;
      });
      this.gpu.device.queue.submit([enc.finish()]);
      for (const t of ts) t.parts[0].buffer.destroy();
      this.owned.push(fused, ...(bias ? [bias] : []));
      return { parts: [{ buffer: fused, rowStart: 0, rowCount: lw.q.rows + lw.k.rows + lw.v.rows }], bias };
    });
  }

  /** The q|k|v product(s) over xb, or (decode) over x with the input norm folded in. */
  private bindQkv(lw: LayerWeights, l: number, decode: boolean): EncodedOp[] {
    const out = this.b.qkv;
    const x = decode ? this.b.x : this.b.xb;
    const normWeight = decode ? lw.inputNorm : undefined;
    const step = this.step;
    const ops = decode ? this.kernels.qkvNorm : this.kernels.qkv;
    if (this.qkvParts) return [ops[0].bind({ out, x, parts: this.qkvParts[l].parts, bias: this.qkvParts[l].bias, step, normWeight })];
    return [
      ops[0].bind({ out, x, parts: lw.q.parts, bias: lw.qBias, step, normWeight }),
      ops[1].bind({ out, x, parts: lw.k.parts, bias: lw.kBias, step, normWeight }),
      ops[2].bind({ out, x, parts: lw.v.parts, bias: lw.vBias, step, normWeight }),
    ];
  }

  /** rope_kv's q output and its q, k, v sources: the columns of the fused projection rows. */
  private ropeSources() {
    const c = this.config;
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    const stride = qDim + 2 * kvDim;
    const buffer = this.b.qkv;
    return {
      q: this.b.q,
      qIn: { buffer, stride, offset: 0 },
      k: { buffer, stride, offset: qDim },
      v: { buffer, stride, offset: qDim + kvDim },
    };
  }

  /** Decode: rmsnorm(x) · ln2 into xb and the gate|up product(s), into h (norm + one op when fused; else norm, gate, up, silu). */
  private bindMlpInDecode(lw: LayerWeights, l: number): EncodedOp[] {
    const { mlpIn, upNorm, silu, norm } = this.kernels;
    const b = this.b;
    const common = { x: b.xb, step: this.step };
    const norm2 = norm.bind({ out: b.xb, x: b.x, weight: lw.postNorm, step: this.step });
    if (this.gateUpParts) return [norm2, mlpIn.bind({ ...common, out: b.h, parts: this.gateUpParts[l] })];
    return [
      norm2,
      mlpIn.bind({ ...common, out: b.gu, parts: lw.gate.parts }),
      upNorm!.bind({ ...common, out: b.gu, parts: lw.up.parts }),
      silu.bind({ out: b.h, a: b.gu, b: b.gu, step: this.step }),
    ];
  }

  private bindGateUp(lw: LayerWeights, l: number): EncodedOp[] {
    const { gateUp, up } = this.kernels;
    const b = this.b;
    if (this.gateUpParts) return [gateUp.bind({ out: b.gu, x: b.xb, parts: this.gateUpParts[l], step: this.step })];
    return [
      gateUp.bind({ out: b.gu, x: b.xb, parts: lw.gate.parts, step: this.step }),
      up!.bind({ out: b.gu, x: b.xb, parts: lw.up.parts, step: this.step }),
    ];
  }

  private async build(): Promise<void> {
    this.gateUpParts = this.fuseGateUp();
    this.qkvParts = this.fuseQkv();
    const c = this.config;
    const w = this.weights;
    const D = c.hiddenSize;
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    const qkvDim = qDim + 2 * kvDim;
    const F = c.intermediateSize;
    const dt = (t: { dtype: 'f32' | 'f16' | 'bf16' }) => t.dtype;
    const l0 = w.layers[0];
    const lin = (K: number, N: number, t: { dtype: 'f32' | 'f16' | 'bf16' }, hasBias: boolean, accumulate: boolean) =>
      createLinear(this.gpu, { inFeatures: K, outFeatures: N, dtype: dt(t), hasBias, accumulate });
    // Decode-only products (one row) reading the residual stream with the RMSNorm folded in.
    const normed = { rmsNorm: { eps: c.rmsNormEps }, maxRows: 1, accumulate: false, inFeatures: D };
    const qkvSplit = this.qkvParts
      ? [{ t: l0.q, bias: l0.qBias, n: qkvDim, col: 0 }]
      : [
          { t: l0.q, bias: l0.qBias, n: qDim, col: 0 },
          { t: l0.k, bias: l0.kBias, n: kvDim, col: qDim },
          { t: l0.v, bias: l0.vBias, n: kvDim, col: qDim + kvDim },
        ];
    const qkvNorm = await Promise.all(
      qkvSplit.map(({ t, bias, n, col }) =>
        createLinear(this.gpu, { ...normed, outFeatures: n, dtype: t.dtype, hasBias: !!bias, outStride: qkvDim, colOffset: col }),
      ),
    );
    // Decode-only products (one row) over xb, the norm a dispatch of its own (see the file comment).
    const plain = { maxRows: 1, accumulate: false, inFeatures: D };
    const mlpIn = this.gateUpParts
      ? await createLinear(this.gpu, { ...plain, outFeatures: F, dtype: l0.gate.dtype, hasBias: false, glu: true })
      : await createLinear(this.gpu, { ...plain, outFeatures: F, dtype: l0.gate.dtype, hasBias: false, outStride: 2 * F });
    const upNorm = this.gateUpParts
      ? null
      : await createLinear(this.gpu, { ...plain, outFeatures: F, dtype: l0.up.dtype, hasBias: false, outStride: 2 * F, colOffset: F });
    this.kernels = {
      qkvNorm,
      mlpIn,
      upNorm,
      norm: await createRmsNorm(this.gpu, { dim: D, eps: c.rmsNormEps, weightDtype: 'f32' }),
      qkv: this.qkvParts
        ? [await createLinear(this.gpu, { inFeatures: D, outFeatures: qkvDim, dtype: l0.q.dtype, hasBias: !!l0.qBias, accumulate: false })]
        : await Promise.all(
            [
              [l0.q, l0.qBias, qDim, 0],
              [l0.k, l0.kBias, kvDim, qDim],
              [l0.v, l0.vBias, kvDim, qDim + kvDim],
            ].map(([t, bias, n, col]) =>
              createLinear(this.gpu, {
                inFeatures: D,
                outFeatures: n as number,
                dtype: (t as WeightTensor).dtype,
                hasBias: !!bias,
                accumulate: false,
                outStride: qkvDim,
                colOffset: col as number,
              }),
            ),
          ),
      o: await lin(qDim, D, l0.o, !!l0.oBias, true),
      gateUp: await createLinear(this.gpu, {
        inFeatures: D,
        outFeatures: this.gateUpParts ? 2 * F : F,
        dtype: l0.gate.dtype,
        hasBias: false,
        accumulate: false,
        outStride: 2 * F,
      }),
      up: this.gateUpParts
        ? null
        : await createLinear(this.gpu, { inFeatures: D, outFeatures: F, dtype: l0.up.dtype, hasBias: false, accumulate: false, outStride: 2 * F, colOffset: F }),
      down: await lin(F, D, l0.down, false, true),
      silu: await createSiluMul(this.gpu, { features: F, inStride: 2 * F, bOffset: F }),
    };
    const b = this.b;
    const embed = await createEmbedding(this.gpu, { dim: D, dtype: w.embed.dtype });
    this.embed = embed.bind({ out: b.x, ids: b.ids, parts: w.embed.parts, step: this.step });
    this.embedChained = embed.bind({ out: b.x, ids: b.token, parts: w.embed.parts, step: this.step });
    const head = await createLinear(this.gpu, { ...plain, outFeatures: c.vocabSize, dtype: w.lmHead.dtype, hasBias: false });
    const headOp = head.bind({ out: b.logits, x: b.xb, parts: w.lmHead.parts, step: this.stepOne });
    const finalNorm = (x: GPUBuffer): EncodedOp => {
      const n = this.kernels.norm.bind({ out: b.xb, x, weight: w.norm, step: this.stepOne });
      return { encode: (pass) => (n.encode(pass, 1), headOp.encode(pass, 1)) };
    };
    this.lmHead = finalNorm(b.xLast);
    this.lmHeadDecode = finalNorm(b.x);
    const argmax = await createArgmax(this.gpu, { n: c.vocabSize });
    const am = argmax.bind({ out: b.token, logits: b.logits });
    this.argmaxOp = { encode: (pass) => am.encode(pass) };
    await this.ensureCache(1);
  }

  /** Sizes the full cache for `tokens` positions up front (prompt + the tokens to generate). */
  async reserve(tokens: number): Promise<void> {
    if (!this.compressed) await this.ensureCache(tokens, true);
  }

  /** The shape of the ops that read or write a K/V cache of `capacity` slots per KV head. */
  private kvOpShape(capacity: number, window = 0, slotBase = 0) {
    const c = this.config;
    return { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, capacity, cacheF16: this.options.kvF16, window, slotBase };
  }

  /** Grows the cache for `tokens` positions and rebinds the layer ops when its buffers changed. */
  private async ensureCache(tokens: number, exact = false): Promise<void> {
    if (!this.cache.ensure(tokens, this.length, exact) && this.layers.length) return;
    const c = this.config;
    const shape = (window: number) => this.kvOpShape(this.cache.capacity, window);
    const windows = [0, c.slidingWindow ?? 0];
    const ck: CacheKernels = {
      rope: await createRopeKv(this.gpu, shape(0)),
      attnPrefill: await Promise.all(windows.map((w) => createAttentionPrefill(this.gpu, shape(w)))),
      attnDecode: await Promise.all(windows.map((w) => createAttentionDecode(this.gpu, shape(w)))),
    };
    this.layers = this.weights.layers.map((lw, l) => this.bindLayer(lw, l, ck));
  }

  private bindLayer(lw: LayerWeights, l: number, ck: CacheKernels): LayerOps {
    const k = this.kernels;
    const b = this.b;
    const step = this.step;
    const cache = { kCache: this.cache.k[l], vCache: this.cache.v[l] };
    const w = this.config.layerSlidingWindow[l] && this.config.slidingWindow ? 1 : 0;
    return {
      qkvDecode: this.bindQkv(lw, l, true),
      mlpInDecode: this.bindMlpInDecode(lw, l),
      norm1: k.norm.bind({ out: b.xb, x: b.x, weight: lw.inputNorm, step }),
      qkv: this.bindQkv(lw, l, false),
      rope: ck.rope.bind({ ...this.ropeSources(), ...cache, invFreq: this.invFreq, step }),
      attnPrefill: ck.attnPrefill[w].bind({ out: b.att, q: b.q, ...cache, step }),
      attnDecode: ck.attnDecode[w].bind({ out: b.att, q: b.q, ...cache, step }),
      o: k.o.bind({ out: b.x, x: b.att, parts: lw.o.parts, bias: lw.oBias, step }),
      norm2: k.norm.bind({ out: b.xb, x: b.x, weight: lw.postNorm, step }),
      gateUp: this.bindGateUp(lw, l),
      silu: k.silu.bind({ out: b.h, a: b.gu, b: b.gu, step }),
      down: k.down.bind({ out: b.x, x: b.h, parts: lw.down.parts, step }),
    };
  }

  /**
   * One transformer block over `rows` tokens of the working buffers. Decode (kvLen given, one row): the
   * input norm rides in the q|k|v product and the SwiGLU gate in gate|up (8 dispatches with attention's);
   * prefill: norm, q|k|v, rope, attention, o, norm, gate|up, silu, down.
   */
  private encodeLayer(pass: GPUComputePassEncoder, L: LayerOps, rows: number, decodeKvLen?: number): void {
    if (decodeKvLen !== undefined) {
      for (const op of L.qkvDecode) op.encode(pass, rows);
      L.rope.encode(pass, rows);
      L.attnDecode.encode(pass, decodeKvLen);
      L.o.encode(pass, rows);
      // rmsnorm into xb, then gate|up (+ silu).
      for (const op of L.mlpInDecode) op.encode(pass, rows);
      L.down.encode(pass, rows);
      return;
    }
    L.norm1.encode(pass, rows);
    for (const op of L.qkv) op.encode(pass, rows);
    L.rope.encode(pass, rows);
    L.attnPrefill.encode(pass, rows);
    L.o.encode(pass, rows);
    L.norm2.encode(pass, rows);
    for (const op of L.gateUp) op.encode(pass, rows);
    L.silu.encode(pass, rows);
    L.down.encode(pass, rows);
  }

  /** After a prefill: the logits (final norm, then the LM head) and argmax of row `rowOffset` of x. */
  private encodeLogits(enc: GPUCommandEncoder, rowOffset: number, slot = 0): void {
    const D = this.config.hiddenSize;
    enc.copyBufferToBuffer(this.b.x, rowOffset * D * 4, this.b.xLast, 0, D * 4);
    const pass = enc.beginComputePass();
    this.lmHead.encode(pass, 1);
    this.argmaxOp.encode(pass, 1);
    pass.end();
    enc.copyBufferToBuffer(this.b.token, 0, this.tokenRead[slot], 0, 4);
  }

  /**
   * Appends `ids` to the context: runs every layer over all new tokens (chunk by chunk), then computes
   * the logits of the last one. `onLayer(l)` is called after each layer; `signal` aborts between layers.
   * With `compress`, each layer's K/V is scored, allocated and packed as soon as the layer is done, and
   * its full-precision K/V (one temporary pair, reused by every layer) is overwritten by the next.
   */
  async prefill(ids: ArrayLike<number>, hooks: PrefillHooks = {}): Promise<void> {
    const T = ids.length;
    if (T === 0) throw new RangeError('prefill needs at least one token');
    if (this.compressed) {
      // A compressed cache takes further tokens (a follow-up turn) one decode step at a time.
      for (let i = 0; i < T; i++) await this.decode(ids[i]);
      return;
    }
    const c = this.config;
    const C = this.options.chunk;
    const pos0 = this.length;
    const compress = hooks.compress && this.shouldCompress(hooks.compress, T) ? hooks.compress : undefined;
    if (compress && pos0 > 0) throw new Error('compression applies to a fresh context: reset before a compressed prefill');
    // A compressed prefill needs no full cache at all: give its memory back first.
    if (compress) this.cache.destroy();
    const stream = compress ? await this.layerStream(T) : undefined;
    if (!stream) await this.ensureCache(pos0 + T);
    const nChunks = Math.ceil(T / C);
    const D = c.hiddenSize;
    const rowsOf = (i: number) => Math.min(C, T - i * C);
    // Step parameters of every chunk, copied into the Step uniform before each chunk's pass.
    const table = this.gpu.device.createBuffer({ size: nChunks * STEP_BYTES, usage: Usage.COPY_SRC | Usage.COPY_DST });
    const words = new Uint32Array(nChunks * 4);
    for (let i = 0; i < nChunks; i++) {
      words.set(stepWords({ rows: rowsOf(i), pos: pos0 + i * C, kvLen: pos0 + i * C + rowsOf(i) }), i * 4);
    }
    this.gpu.device.queue.writeBuffer(table, 0, words);
    const idsBuf = uploadStorage(this.gpu, Uint32Array.from(ids), 'prefill.ids');
    // The residual stream of every chunk between layers: (rows_i, D) each, f32 or (compressing) bf16.
    const narrow = stream ? await this.hiddenNarrow() : undefined;
    const hidden = Array.from({ length: nChunks }, (_, i) =>
      createStorage(this.gpu, narrow ? bf16HiddenBytes(rowsOf(i), D) : rowsOf(i) * D * 4, `hidden${i}`),
    );
    // Between passes: x -> hidden[i] (after a layer) and back (before the next), as a copy or through bf16.
    const packs = narrow && hidden.map((packed) => narrow.pack({ x: this.b.x, packed, step: this.step }));
    const unpacks = narrow && hidden.map((packed) => narrow.unpack({ x: this.b.x, packed, step: this.step }));
    try {
      let enc = this.gpu.device.createCommandEncoder();
      for (let i = 0; i < nChunks; i++) {
        enc.copyBufferToBuffer(table, i * STEP_BYTES, this.step, 0, STEP_BYTES);
        enc.copyBufferToBuffer(idsBuf, i * C * 4, this.b.ids, 0, rowsOf(i) * 4);
        const pass = enc.beginComputePass();
        this.embed.encode(pass, rowsOf(i));
        if (packs) packs[i].encode(pass, rowsOf(i));
        pass.end();
        if (!packs) enc.copyBufferToBuffer(this.b.x, 0, hidden[i], 0, rowsOf(i) * D * 4);
      }
      const compressed: CompressedLayer[] = [];
      for (let l = 0; l < c.nLayers; l++) {
        const L = stream ? stream.ops[l] : this.layers[l];
        for (let i = 0; i < nChunks; i++) {
          enc.copyBufferToBuffer(table, i * STEP_BYTES, this.step, 0, STEP_BYTES);
          if (!unpacks) enc.copyBufferToBuffer(hidden[i], 0, this.b.x, 0, rowsOf(i) * D * 4);
          const keep = l < c.nLayers - 1 || i < nChunks - 1; // the last chunk's last output stays in x
          const pass = enc.beginComputePass();
          if (unpacks) unpacks[i].encode(pass, rowsOf(i));
          this.encodeLayer(pass, L, rowsOf(i));
          if (packs && keep) packs[i].encode(pass, rowsOf(i));
          pass.end();
          if (stream) stream.copyWindow(enc, i * C, rowsOf(i));
          if (!packs && keep) enc.copyBufferToBuffer(this.b.x, 0, hidden[i], 0, rowsOf(i) * D * 4);
        }
        this.gpu.device.queue.submit([enc.finish()]);
        if (stream && compress) compressed.push(await stream.compress(l, compress));
        await this.gpu.device.queue.onSubmittedWorkDone();
        hooks.onLayer?.(l);
        if (hooks.signal?.aborted) {
          for (const cl of compressed) cl.destroy();
          throw hooks.signal.reason ?? new DOMException('aborted', 'AbortError');
        }
        enc = this.gpu.device.createCommandEncoder();
      }
      if (stream) this.compressed = { T, layers: compressed, ops: await this.bindCompressed(compressed, T) };
      this.encodeLogits(enc, rowsOf(nChunks - 1) - 1);
      this.gpu.device.queue.submit([enc.finish()]);
      this.length = pos0 + T;
    } finally {
      for (const h of hidden) h.destroy();
      idsBuf.destroy();
      table.destroy();
      stream?.destroy();
    }
  }

  /**
   * Benchmarks: a context of T positions whose K/V (and query window) are seeded random values instead of
   * the layers' output, built in seconds at any length — compressed as `compress` says, or as a full
   * cache. Decode costs do not depend on the values. Logits are not computed.
   */
  async fillRandomContext(T: number, compress?: CompressSpec): Promise<void> {
    this.reset();
    const c = this.config;
    const kvDtype = this.options.kvF16 ? 'f16' : 'f32';
    const fill: FillRandom = { kv: await createFillRandom(this.gpu, kvDtype), f32: await createFillRandom(this.gpu, 'f32') };
    if (compress && this.shouldCompress(compress, T)) {
      this.cache.destroy();
      const stream = await this.layerStream(T);
      const layers: CompressedLayer[] = [];
      try {
        for (let l = 0; l < c.nLayers; l++) {
          stream.fillRandom(fill, 3 * l + 1);
          layers.push(await stream.compress(l, compress));
        }
      } finally {
        stream.destroy();
      }
      this.compressed = { T, layers, ops: await this.bindCompressed(layers, T) };
    } else {
      await this.ensureCache(T, true);
      const enc = this.gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let l = 0; l < c.nLayers; l++) {
        const words = this.cache.layerBytes(this.cache.capacity) / 4;
        fill.kv.encode(pass, this.cache.k[l], words, 3 * l + 1, 1);
        fill.kv.encode(pass, this.cache.v[l], words, 3 * l + 2, 1);
      }
      pass.end();
      this.gpu.device.queue.submit([enc.finish()]);
      await this.gpu.device.queue.onSubmittedWorkDone();
    }
    this.length = T;
  }

  /** Whether `spec` compresses a T-token prompt at all (T <= B keeps the full cache, exactly). */
  private shouldCompress(spec: CompressSpec, T: number): boolean {
    return budgetTokens(spec.budget, T) < T;
  }

  /** The bf16 hidden-state kernels when a compressed prefill keeps its residual stream at 16 bits, else undefined. */
  private async hiddenNarrow() {
    const w = this.weights.layers[0].q.dtype;
    if (!(this.options.hiddenBf16 ?? w !== 'f32')) return undefined;
    this.hiddenBf16 ??= await createHiddenBf16(this.gpu, this.config.hiddenSize);
    return this.hiddenBf16;
  }

  /**
   * The layer-streamed prefill's temporary full-precision K/V (one layer, reused by every layer), the
   * ops bound to it, and the query window buffer the scores read.
   */
  private async layerStream(T: number) {
    const c = this.config;
    const capacity = Math.ceil(T / 8) * 8;
    const W = Math.min(OBSERVATION_WINDOW, T);
    const bytes = c.nKvHeads * capacity * c.headDim * (this.options.kvF16 ? 2 : 4);
    const k = createStorage(this.gpu, bytes, 'stream.k');
    const v = createStorage(this.gpu, bytes, 'stream.v');
    const qDim = c.nHeads * c.headDim;
    const qWindow = createStorage(this.gpu, W * qDim * 4, 'stream.qWindow');
    const gpu = this.gpu;
    const b = this.b;
    const step = this.step;
    const invFreq = this.invFreq;
    const shape = (window: number) => this.kvOpShape(capacity, window);
    const rope = (await createRopeKv(gpu, shape(0))).bind({ ...this.ropeSources(), kCache: k, vCache: v, invFreq, step });
    const attn = await Promise.all(
      [0, c.slidingWindow ?? 0].map(async (w) => (await createAttentionPrefill(gpu, shape(w))).bind({ out: b.att, q: b.q, kCache: k, vCache: v, step })),
    );
    const ops: LayerOps[] = this.layers.map((L, l) => ({ ...L, rope, attnPrefill: attn[c.layerSlidingWindow[l] && c.slidingWindow ? 1 : 0] }));
    return {
      ops,
      /** Copies the rows of this chunk's roped q that fall in the window [T - W, T). */
      copyWindow(enc: GPUCommandEncoder, row0: number, rows: number) {
        const lo = Math.max(row0, T - W);
        const hi = row0 + rows;
        if (lo >= hi) return;
        enc.copyBufferToBuffer(b.q, (lo - row0) * qDim * 4, qWindow, (lo - (T - W)) * qDim * 4, (hi - lo) * qDim * 4);
      },
      /** Fills the layer's K/V and the query window with seeded random values (benchmarks). */
      fillRandom: (fill: FillRandom, seed: number) => {
        const enc = gpu.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (const [i, buf] of [k, v].entries()) fill.kv.encode(pass, buf, bytes / 4, seed + i, 1);
        fill.f32.encode(pass, qWindow, (W * qDim * 4) / 4, seed + 2, 1);
        pass.end();
        gpu.device.queue.submit([enc.finish()]);
      },
      compress: (layer: number, spec: CompressSpec) =>
        compressLayer(gpu, {
          k,
          v,
          capacity,
          T,
          qWindow,
          W,
          shape: { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, cacheF16: this.options.kvF16 },
          policy: spec.policy,
          budget: spec.budget,
          // Equal memory by default: RDKV's bit budget shrinks until codes + metadata fit B tokens at 16 bits.
          options: { fitMetadata: true, ...spec.options, layer },
        }),
      destroy() {
        k.destroy();
        v.destroy();
        qWindow.destroy();
      },
    };
  }

  /** Decode ops over compressed layers: rope writes zone C (slot = pos − T), attention is the fused kernel. */
  private async bindCompressed(layers: CompressedLayer[], T: number): Promise<LayerOps[]> {
    return Promise.all(
      layers.map(async (cl, l) => {
        const zc = cl.zoneC;
        const rope = await createRopeKv(this.gpu, this.kvOpShape(zc.capacity, 0, T));
        const attn = cl.bindDecode({ out: this.b.att, q: this.b.q, step: this.step });
        return {
          ...this.layers[l],
          rope: rope.bind({ ...this.ropeSources(), kCache: zc.k, vCache: zc.v, invFreq: this.invFreq, step: this.step }),
          attnDecode: { encode: (pass: GPUComputePassEncoder, kvLen: number) => attn.encode(pass, kvLen - T) },
        };
      }),
    );
  }

  /**
   * Benchmarks: the decode step's dispatches grouped by kind, each group encoding that op for every layer as
   * the last decode step ran it (same buffers, same Step uniform), in the step's order; the groups together
   * are one decode step. Timing each group repeated shows where a step's GPU time goes.
   */
  decodeProfileGroups(): { name: string; encode(pass: GPUComputePassEncoder): void }[] {
    const ops = this.compressed ? this.compressed.ops : this.layers;
    const kvLen = this.length;
    const each = (f: (L: LayerOps) => void) => () => ops.forEach(f);
    const groups: [string, () => void][] = [];
    let pass!: GPUComputePassEncoder;
    groups.push(['embed', () => this.embed.encode(pass, 1)]);
    groups.push(['q|k|v (+ norm)', each((L) => L.qkvDecode.forEach((op) => op.encode(pass, 1)))]);
    groups.push(['rope', each((L) => L.rope.encode(pass, 1))]);
    groups.push(['attention', each((L) => L.attnDecode.encode(pass, kvLen))]);
    groups.push(['o', each((L) => L.o.encode(pass, 1))]);
    groups.push(['gate|up (+ norm, silu)', each((L) => L.mlpInDecode.forEach((op) => op.encode(pass, 1)))]);
    groups.push(['down', each((L) => L.down.encode(pass, 1))]);
    groups.push(['logits (+ norm)', () => this.lmHeadDecode.encode(pass, 1)]);
    groups.push(['argmax', () => this.argmaxOp.encode(pass, 1)]);
    return groups.map(([name, run]) => ({
      name,
      encode(p: GPUComputePassEncoder) {
        pass = p;
        run();
      },
    }));
  }

  /** The compressed layers' reports (null when the cache is not compressed). */
  compressedLayers(): readonly CompressedLayer[] | null {
    return this.compressed?.layers ?? null;
  }

  /** Feeds one token at position `length` and computes its logits (one submission). */
  async decode(token: number, timestampWrites?: GPUComputePassTimestampWrites): Promise<void> {
    this.gpu.device.queue.writeBuffer(this.b.ids, 0, Uint32Array.of(token));
    await this.encodeDecode(this.embed, 0, timestampWrites);
  }

  /**
   * Greedy decoding without a round trip: feeds the argmax of the previous step straight from GPU
   * memory, so this step can be submitted before the last id has been read back. Its own argmax goes
   * to readback slot `slot` (see readArgmax).
   */
  async decodeChained(slot: number, timestampWrites?: GPUComputePassTimestampWrites): Promise<void> {
    await this.encodeDecode(this.embedChained, slot, timestampWrites);
  }

  private async encodeDecode(embed: EncodedOp, slot: number, timestampWrites?: GPUComputePassTimestampWrites): Promise<void> {
    const pos = this.length;
    const layers = await this.decodeLayers(pos + 1);
    writeStep(this.gpu, this.step, { rows: 1, pos, kvLen: pos + 1 });
    const enc = this.gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass({ timestampWrites });
    embed.encode(pass, 1);
    for (const L of layers) this.encodeLayer(pass, L, 1, pos + 1);
    // Logits in the same pass, from row 0 of x (final norm into xb, then the LM head).
    this.lmHeadDecode.encode(pass, 1);
    this.argmaxOp.encode(pass, 1);
    pass.end();
    enc.copyBufferToBuffer(this.b.token, 0, this.tokenRead[slot], 0, 4);
    this.gpu.device.queue.submit([enc.finish()]);
    this.length = pos + 1;
  }

  /** The layer ops of a decode step at context length `tokens`, growing whichever cache is in use. */
  private async decodeLayers(tokens: number): Promise<LayerOps[]> {
    const cc = this.compressed;
    if (!cc) {
      await this.ensureCache(tokens);
      return this.layers;
    }
    const grew = cc.layers.map((cl) => cl.ensureZoneC(tokens - cc.T, this.length - cc.T));
    if (grew.some(Boolean)) cc.ops = await this.bindCompressed(cc.layers, cc.T);
    return cc.ops;
  }

  /** Forgets the last `n` positions (tokens fed ahead by chained decoding that are not kept). */
  rewind(n: number): void {
    this.length = Math.max(0, this.length - n);
  }

  /** The argmax of the logits of the submission that used readback `slot` (a 4-byte read). */
  async readArgmax(slot = 0): Promise<number> {
    const buf = this.tokenRead[slot];
    await buf.mapAsync(MAP_READ_MODE);
    const id = new Uint32Array(buf.getMappedRange())[0];
    buf.unmap();
    return id;
  }

  async readLogits(): Promise<Float32Array> {
    return readF32(this.gpu, this.b.logits, this.config.vocabSize);
  }

  /** The model fields a saved cache depends on (src/engine/cache-state.ts checks them on import). */
  cacheShape(): CacheModelShape {
    const c = this.config;
    return {
      architecture: c.architecture,
      nLayers: c.nLayers,
      nHeads: c.nHeads,
      nKvHeads: c.nKvHeads,
      headDim: c.headDim,
      hiddenSize: c.hiddenSize,
      vocabSize: c.vocabSize,
      kvDtype: this.options.kvF16 ? 'f16' : 'f32',
    };
  }

  /** Ranges of the first n tokens of each head of a [Hkv, capacity, d] buffer, rows padded to 4 bytes. */
  private headRowRanges(buffer: GPUBuffer | undefined, capacity: number, n: number): { buffer: GPUBuffer; offset: number; bytes: number }[] {
    const c = this.config;
    const row = headRowsBytes(1, n, c.headDim, this.options.kvF16);
    if (row === 0) return [];
    if (!buffer || n > capacity) throw new Error(`KV cache export: ${n} tokens asked of a buffer of ${capacity}`);
    const stride = headRowsBytes(1, capacity, c.headDim, this.options.kvF16);
    return Array.from({ length: c.nKvHeads }, (_, h) => ({ buffer, offset: h * stride, bytes: row }));
  }

  /** Writes per-head rows (as headRowRanges reads them) into a [Hkv, capacity, d] buffer. */
  private uploadHeadRows(buffer: GPUBuffer, capacity: number, n: number, data: Uint8Array): void {
    const c = this.config;
    const row = headRowsBytes(1, n, c.headDim, this.options.kvF16);
    const stride = headRowsBytes(1, capacity, c.headDim, this.options.kvF16);
    for (let h = 0; h < c.nKvHeads && row > 0; h++) {
      this.gpu.device.queue.writeBuffer(buffer, h * stride, data.buffer, data.byteOffset + h * row, row);
    }
  }

  /** Reads buffer ranges (4-byte aligned) back, batched through staging buffers of at most 64 MiB. */
  private async readRanges(ranges: readonly { buffer: GPUBuffer; offset: number; bytes: number }[]): Promise<Uint8Array> {
    const total = ranges.reduce((s, r) => s + r.bytes, 0);
    const out = new Uint8Array(total);
    const limit = Math.min(64 * 2 ** 20, this.gpu.maxBindingBytes);
    let at = 0;
    for (let i = 0; i < ranges.length; ) {
      let size = 0;
      let j = i;
      while (j < ranges.length && (j === i || size + ranges[j].bytes <= limit)) size += ranges[j++].bytes;
      const staging = this.gpu.device.createBuffer({ label: 'kv.export', size: Math.max(4, size), usage: Usage.MAP_READ | Usage.COPY_DST });
      const enc = this.gpu.device.createCommandEncoder();
      let o = 0;
      for (let r = i; r < j; r++) {
        if (ranges[r].bytes) enc.copyBufferToBuffer(ranges[r].buffer, ranges[r].offset, staging, o, ranges[r].bytes);
        o += ranges[r].bytes;
      }
      this.gpu.device.queue.submit([enc.finish()]);
      await staging.mapAsync(MAP_READ_MODE);
      out.set(new Uint8Array(staging.getMappedRange(), 0, size), at);
      staging.unmap();
      staging.destroy();
      at += size;
      i = j;
    }
    return out;
  }

  /**
   * The context as bytes (format: src/engine/cache-state.ts): the full cache's K/V of the first `length`
   * tokens, or the compressed layers (plans, arenas, zone C). `extra` is stored as is and given back by
   * importState. The logits are not saved: a restored context is continued by feeding at least one token.
   */
  async exportState(extra: Record<string, unknown> = {}): Promise<ArrayBuffer> {
    const c = this.config;
    const f16 = this.options.kvF16;
    const n = this.length;
    const cc = this.compressed;
    const rowBytes = (tokens: number) => headRowsBytes(c.nKvHeads, tokens, c.headDim, f16);
    const sections: { name: string; data: Uint8Array }[] = [];
    if (!cc) {
      const cap = this.cache.capacity;
      const ranges = Array.from({ length: c.nLayers }, (_, l) => [...this.headRowRanges(this.cache.k[l], cap, n), ...this.headRowRanges(this.cache.v[l], cap, n)]);
      const bytes = await this.readRanges(ranges.flat());
      const per = rowBytes(n);
      for (let l = 0; l < c.nLayers; l++) {
        sections.push({ name: `k${l}`, data: bytes.subarray(2 * l * per, (2 * l + 1) * per) });
        sections.push({ name: `v${l}`, data: bytes.subarray((2 * l + 1) * per, (2 * l + 2) * per) });
      }
      return encodeCacheState({ model: this.cacheShape(), length: n, mode: 'full', extra }, sections);
    }
    const nC = Math.max(0, n - cc.T);
    const layers: CompressedLayerState[] = [];
    const ranges: { buffer: GPUBuffer; offset: number; bytes: number }[] = [];
    for (const cl of cc.layers) {
      const zc = cl.zoneC;
      const arenaBytes = cl.arenaPlan.totalWords * 4;
      if (arenaBytes) ranges.push({ buffer: cl.arena, offset: 0, bytes: arenaBytes });
      ranges.push(...this.headRowRanges(zc.k, zc.capacity, nC), ...this.headRowRanges(zc.v, zc.capacity, nC));
    }
    const bytes = await this.readRanges(ranges);
    let at = 0;
    const take = (len: number) => bytes.subarray(at, (at += len));
    cc.layers.forEach((cl, l) => {
      const heads = cl.plans.map((p) => planToState(p));
      const bits = new Uint8Array(heads.reduce((s, h) => s + h.bits.byteLength, 0));
      heads.reduce((o, h) => (bits.set(h.bits, o), o + h.bits.byteLength), 0);
      layers.push({
        layer: cl.report.layer,
        T: cl.T,
        splits: cl.decodeSplits ?? null,
        arenaWords: cl.arenaPlan.totalWords,
        zoneC: { capacity: cl.zoneC.capacity, length: nC },
        heads: heads.map((h) => h.state),
      });
      sections.push({ name: `bits${l}`, data: bits }, { name: `arena${l}`, data: take(cl.arenaPlan.totalWords * 4) });
      sections.push({ name: `zck${l}`, data: take(rowBytes(nC)) }, { name: `zcv${l}`, data: take(rowBytes(nC)) });
    });
    return encodeCacheState({ model: this.cacheShape(), length: n, mode: 'compressed', compressed: { T: cc.T, layers }, extra }, sections);
  }

  /**
   * Replaces the context with one exportState saved. Everything is checked (format, checksum, model shape,
   * section sizes, rebuilt layouts) before the current context is touched; `accept(extra, length)` may veto
   * the import by throwing, also before. Returns the saved `extra`. On a GPU failure after that, the context is
   * left empty (length 0).
   */
  async importState(data: ArrayBuffer, accept?: (extra: Record<string, unknown>, length: number) => void): Promise<Record<string, unknown>> {
    const c = this.config;
    const f16 = this.options.kvF16;
    const fail = (why: string): never => {
      throw new CacheStateError(`cannot restore the KV cache: ${why}`);
    };
    const state = decodeCacheState(data);
    const h = state.header;
    const mismatch = shapeMismatches(h.model, this.cacheShape());
    if (mismatch.length) fail(`it was saved for a model of another shape (${mismatch.join('; ')})`);
    const n = h.length;
    if (!Number.isInteger(n) || n < 0) fail(`bad length ${String(n)}`);
    const rowBytes = (tokens: number) => headRowsBytes(c.nKvHeads, tokens, c.headDim, f16);
    if (h.mode === 'full') {
      const kv = Array.from({ length: c.nLayers }, (_, l) => [section(state, `k${l}`, rowBytes(n)), section(state, `v${l}`, rowBytes(n))]);
      accept?.(h.extra ?? {}, n);
      this.reset();
      try {
        await this.ensureCache(Math.max(n, 1), true);
        const cap = this.cache.capacity;
        kv.forEach(([k, v], l) => {
          this.uploadHeadRows(this.cache.k[l], cap, n, k);
          this.uploadHeadRows(this.cache.v[l], cap, n, v);
        });
        await this.gpu.device.queue.onSubmittedWorkDone();
      } catch (e) {
        this.reset();
        throw e;
      }
      this.length = n;
      return h.extra ?? {};
    }
    if (h.mode !== 'compressed') return fail(`unknown mode ${String(h.mode)}`);
    const comp = h.compressed;
    if (!comp || !Array.isArray(comp.layers) || comp.layers.length !== c.nLayers) return fail(`compressed mode needs ${c.nLayers} layers`);
    const T = comp.T;
    if (!Number.isInteger(T) || T < 1 || T > n) fail(`prompt length ${String(T)} does not fit the context length ${n}`);
    const nC = n - T;
    const shape = { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, cacheF16: f16 };
    const prepared = comp.layers.map((ls, l) => {
      if (ls.T !== T) fail(`layer ${l} covers ${ls.T} prompt tokens, the cache ${T}`);
      if (!Array.isArray(ls.heads) || ls.heads.length !== c.nKvHeads) fail(`layer ${l} has ${ls.heads?.length} heads, the model ${c.nKvHeads} KV heads`);
      if (ls.zoneC?.length !== nC || !Number.isInteger(ls.zoneC.capacity) || ls.zoneC.capacity < Math.max(nC, 1)) {
        fail(`layer ${l}: zone C of ${ls.zoneC?.length} tokens in ${ls.zoneC?.capacity} slots, the context needs ${nC}`);
      }
      const bits = section(state, `bits${l}`, ls.heads.reduce((s, hs) => s + planBitsBytes(hs), 0));
      let at = 0;
      const plans = ls.heads.map((hs, i) => {
        if (hs.kvHead !== i || hs.T !== T || hs.d !== c.headDim) fail(`layer ${l} head ${i} is for head ${hs.kvHead}, T ${hs.T}, d ${hs.d}`);
        return planFromState(hs, bits.subarray(at, (at += planBitsBytes(hs))));
      });
      const words = plans.reduce((s, p) => s + p.layout.totalWords, 0);
      if (words !== ls.arenaWords) fail(`layer ${l}: the layouts need ${words} arena words, the cache has ${ls.arenaWords}`);
      return {
        ls,
        plans,
        arena: section(state, `arena${l}`, words * 4),
        zk: section(state, `zck${l}`, rowBytes(nC)),
        zv: section(state, `zcv${l}`, rowBytes(nC)),
      };
    });
    accept?.(h.extra ?? {}, n);
    this.reset();
    this.cache.destroy();
    const layers: CompressedLayer[] = [];
    try {
      for (const p of prepared) {
        const cl = await CompressedLayer.restore(this.gpu, {
          shape,
          T,
          plans: p.plans,
          layer: p.ls.layer,
          arena: p.arena,
          splits: p.ls.splits ?? undefined,
          zoneCTokens: p.ls.zoneC.capacity,
        });
        layers.push(cl);
        this.uploadHeadRows(cl.zoneC.k, cl.zoneC.capacity, nC, p.zk);
        this.uploadHeadRows(cl.zoneC.v, cl.zoneC.capacity, nC, p.zv);
      }
      this.compressed = { T, layers, ops: await this.bindCompressed(layers, T) };
      await this.gpu.device.queue.onSubmittedWorkDone();
    } catch (e) {
      if (!this.compressed) for (const cl of layers) cl.destroy();
      this.reset();
      throw e;
    }
    this.length = n;
    return h.extra ?? {};
  }

  /** Forgets the context and frees the full cache's buffers (they come back on the next prefill). */
  release(): void {
    this.reset();
    this.cache.destroy();
  }

  /** Forgets the context (the full cache's buffers stay allocated for reuse). */
  reset(): void {
    this.length = 0;
    for (const cl of this.compressed?.layers ?? []) cl.destroy();
    this.compressed = null;
  }

  /** Bytes the KV cache holds now: the compressed layers (with zone C) or the full cache. */
  cacheBytes(): number {
    if (!this.compressed) return this.cache.allocatedBytes();
    return this.compressed.layers.reduce((s, cl) => s + cl.bytes.compressed + cl.zoneCBytes(), 0);
  }

  destroy(): void {
    for (const buf of Object.values(this.b)) buf.destroy();
    this.reset();
    this.cache.destroy();
    this.step.destroy();
    this.stepOne.destroy();
    this.invFreq.destroy();
    for (const b of this.tokenRead) b.destroy();
    for (const b of this.owned) b.destroy();
    this.hiddenBf16?.destroy();
  }
}
