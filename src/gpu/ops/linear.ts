/**
 * Linear layer: out[r, colOffset + n] (= or +=) x[r, :] . W[n, :] (+ bias[n]). W may be split by rows
 * into parts (one dispatch each). Kernels: wgsl/matvec.wgsl or wgsl/matvec_loop.wgsl (see matvecLayout) for
 * up to MATVEC_MAX_ROWS rows (decode), wgsl/matmul.wgsl above that (prefill). CPU reference: src/ref/linear.ts.
 *
 * Decode-only fusions (matvec kernel, so maxRows <= MATVEC_MAX_ROWS): `rmsNorm` normalises each input row
 * on load (the RMSNorm before the projection, no dispatch of its own), `glu` computes silu(x Wg^T) * (x Wu^T)
 * from one [Wg; Wu] weight (the SwiGLU gate, no dispatch of its own).
 */
import matmulSource from '../../../wgsl/matmul.wgsl';
import lanesPlainSource from '../../../wgsl/matvec_lanes_plain.wgsl';
import lanesSubgroupSource from '../../../wgsl/matvec_lanes_subgroup.wgsl';
import matvecLoopSource from '../../../wgsl/matvec_loop.wgsl';
import matvecSource from '../../../wgsl/matvec.wgsl';
import type { Gpu } from '../device';
import { DTYPE_CODE, type WeightDtype } from '../dtype';
import { bindGroup, ceilDiv, createStorage, createUniform, dispatch, f32Bits, getPipeline, type EncodedOp } from '../kernel';
import { checkParts, type WeightPart } from '../split';
import { checkGridDim, foldGrid } from './grid';

/** Batches of at most this many rows take the matrix-vector kernel. */
export const MATVEC_MAX_ROWS = 4;

/** A matmul workgroup: (wgM, wgN) invocations, each owning 8x8 outputs; K staged tileK at a time. */
export interface MatmulTile {
  wgM: number;
  wgN: number;
  tileK: number;
}

/** 128x128 outputs per workgroup: the throughput configuration for large batches on a real GPU. */
export const MATMUL_LARGE: MatmulTile = { wgM: 16, wgN: 16, tileK: 16 };
/** 64x64 outputs per workgroup: more workgroups for moderate batches (and small devices). */
export const MATMUL_SMALL: MatmulTile = { wgM: 8, wgN: 8, tileK: 16 };
// Large tiles once they give this many workgroups (enough to fill a big GPU's SMs about twice).
const LARGE_MIN_WORKGROUPS = 256;
// Params.flags bits in wgsl/matmul.wgsl and wgsl/matvec.wgsl.
const FLAG_BIAS = 1;
const FLAG_ACCUMULATE = 2;

export interface LinearShape {
  inFeatures: number; // K
  outFeatures: number; // N (rows of W over all parts)
  dtype: WeightDtype;
  hasBias: boolean;
  /** out += result (fuses a residual add). */
  accumulate: boolean;
  outStride?: number; // f32 per row of out; default outFeatures
  colOffset?: number; // first column of out written; default 0
  /** The most rows any batch will have: at most MATVEC_MAX_ROWS builds only the matvec pipeline. */
  maxRows?: number;
  /**
   * Decode only: each input row is RMS-normalised on load, x / sqrt(mean(x^2) + eps) * normWeight (f32,
   * bound as `normWeight`): the RMSNorm before this projection, folded in.
   */
  rmsNorm?: { eps: number };
  /**
   * Decode only: W is [gate; up] (2 * outFeatures rows, one part) and out[r, n] = silu(x . gate[n]) *
   * (x . up[n]): the SwiGLU gate, folded in. Not with accumulate.
   */
  glu?: boolean;
  /** Tuning: force one matmul tile (default: large and small, chosen per batch) and the matvec layout. */
  matmulTile?: MatmulTile;
  matvec?: MatvecTuning;
}

/** The matvec kernel's layout (wgsl/matvec.wgsl); anything left out is chosen by matvecLayout. */
export interface MatvecTuning {
  /** Invocations per workgroup (power of two, <= 256). */
  wg?: number;
  /** Invocations per group of weight rows (TPF; a power of two in [4, wg]). */
  threads?: number;
  /** Weight rows per group (FPG; 1..8, even with glu). */
  rows?: number;
  /** Reduce through subgroups (default: see matvecLayout). */
  subgroups?: boolean;
  /**
   * The looped kernel (wgsl/matvec_loop.wgsl: 4 rows per group, uniform trip count, tree reduction, no norm
   * fold; wg and threads apply, rows and subgroups do not). Default: see matvecLayout.
   */
  loop?: boolean;
}

/** A resolved matvec layout. */
export interface MatvecLayout {
  wg: number;
  threads: number;
  rows: number;
  /** Units (16-byte words when vec4, else u32 words) per weight row, per invocation, per batch of loads. */
  units: number;
  unitsPerThread: number;
  batch: number;
  vec4: boolean;
  subgroups: boolean;
  /** wgsl/matvec_loop.wgsl instead of wgsl/matvec.wgsl. */
  loop: boolean;
  /** Outputs per workgroup. */
  features: number;
}

export interface LinearBindings {
  out: GPUBuffer; // (rows, outStride) f32
  x: GPUBuffer; // (rows, inFeatures) f32, not aliasing out
  parts: readonly WeightPart[]; // W (outFeatures, inFeatures) packed dtype, split by rows
  bias?: GPUBuffer; // (outFeatures) f32, required when hasBias (glu: 2 * outFeatures, gate then up)
  step: GPUBuffer; // Step uniform: rows
  normWeight?: GPUBuffer; // (inFeatures) f32, required when rmsNorm
}

export interface Linear {
  /** The matvec layout (decode path). */
  layout: MatvecLayout;
  bind(b: LinearBindings): EncodedOp;
}

// Workgroup memory of a tile: the two staged K tiles with their padding (wgsl/matmul.wgsl).
function tileBytes(t: MatmulTile): number {
  return 16 * t.tileK * (2 * t.wgM + 1 + 2 * t.wgN + 1);
}

function fitsDevice(gpu: Gpu, t: MatmulTile): boolean {
  return t.wgM * t.wgN <= Math.min(256, gpu.limits.maxComputeInvocationsPerWorkgroup) && tileBytes(t) <= gpu.limits.maxComputeWorkgroupStorageSize;
}

function checkTile(gpu: Gpu, t: MatmulTile, dtype: WeightDtype): void {
  const wg = t.wgM * t.wgN;
  // 16-byte loads per invocation per K tile must be whole and at most the kernel's MAX_LOADS (4).
  const aLoads = (8 * t.wgM * t.tileK) / 4 / wg;
  const bLoads = (8 * t.wgN * t.tileK) / (dtype === 'f32' ? 4 : 8) / wg;
  const ok = t.tileK % 8 === 0 && [aLoads, bLoads].every((l) => Number.isInteger(l) && l >= 1 && l <= 4) && fitsDevice(gpu, t);
  if (!ok) throw new RangeError(`matmul tile ${JSON.stringify(t)} is not valid for ${dtype} weights on this device`);
}

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

const MAX_FPG = 8; // wgsl/matvec.wgsl
const MAX_LOADS = 16;

/** Whether the matvec kernel can reduce through subgroups here: the feature and the subgroup_id builtin. */
export function matvecSubgroupsAvailable(gpu: Gpu): boolean {
  const features = (gpu.instance as { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures;
  return gpu.hasSubgroups && !!features?.has('subgroup_id');
}

/** What the default matvec layout depends on besides k and dtype. */
export interface MatvecUse {
  /** Weight rows read (over all parts; 2N with glu). */
  weightRows?: number;
  /** The RMSNorm is folded in (only wgsl/matvec.wgsl does that). */
  norm?: boolean;
}

/** From this many weight rows the looped kernel is the default (no norm fold, rows of at most 8 KiB). */
export const MATVEC_LOOP_MIN_ROWS = 8192;

/**
 * The matvec layout for rows of `k` elements. Defaults, from the H200 measurements (bench/NOTES.md, v4):
 * * many weight rows (>= MATVEC_LOOP_MIN_ROWS; gate|up, LM head), rows of <= 8 KiB, no norm fold: the looped
 *   kernel (wgsl/matvec_loop.wgsl, = v3), 4 rows per group, 2 words per invocation per row (k = 2048 bf16:
 *   128 threads). gate|up 16384x2048 21.2 µs vs 24.4-28.0 for any wgsl/matvec.wgsl layout, LM head 123 vs 157:
 *   with thousands of workgroups occupancy wins, and the batched kernel's all-loads-at-once registers cost it;
 * * rows of <= 8 KiB otherwise (o, q|k|v): wgsl/matvec.wgsl, 2 rows per group, 4 units (8 x 16 B loads) per
 *   invocation (k = 2048 bf16: 64 threads), subgroup reduction: o 6.56 µs, q|k|v 7.38 (v3 6.69, 7.40; the
 *   former default 128 threads x 4 rows 7.58, 8.43);
 * * longer rows (down, k = 8192): wgsl/matvec.wgsl, 4 rows per group, 16 loads per invocation (256 threads),
 *   workgroup-memory reduction (sg=0 13.57 µs vs sg=1 14.22, v3 14.24).
 * 256 invocations per workgroup.
 */
export function matvecLayout(gpu: Gpu, k: number, dtype: WeightDtype, glu: boolean, t: MatvecTuning = {}, use: MatvecUse = {}): MatvecLayout {
  const rowWords = dtype === 'f32' ? k : k / 2;
  const vec4 = rowWords % 4 === 0;
  const units = vec4 ? rowWords / 4 : rowWords;
  const wg = t.wg ?? Math.min(256, gpu.limits.maxComputeInvocationsPerWorkgroup);
  const rowBytes = units * (vec4 ? 16 : 4);
  const long = rowBytes > 4096 * 2;
  const what = `matvec layout (k ${k} ${dtype})`;
  const pow2 = (x: number) => Number.isInteger(x) && x >= 1 && (x & (x - 1)) === 0;
  const loop = t.loop ?? (!use.norm && !long && (use.weightRows ?? 0) >= MATVEC_LOOP_MIN_ROWS);
  if (loop && use.norm) throw new RangeError(`${what}: the looped kernel does not fold the norm`);
  if (!pow2(wg) || wg > gpu.limits.maxComputeInvocationsPerWorkgroup || wg > 256) throw new RangeError(`${what}: workgroup size ${wg} is not a power of two <= 256 this device allows`);
  if (loop) {
    // The v3 rule: 2 units per invocation per row, at least 32 and at most wg threads.
    const threads = t.threads ?? Math.min(wg, Math.max(32, nextPow2(Math.ceil(units / 2))));
    if (!pow2(threads) || threads < 4 || threads > wg) throw new RangeError(`${what}: threads must be a power of two in [4, ${wg}], got ${threads}`);
    const unitsPerThread = Math.ceil(units / threads);
    return { wg, threads, rows: 4, units, unitsPerThread, batch: 1, vec4, subgroups: false, loop: true, features: (wg / threads) * (glu ? 2 : 4) };
  }
  const rows = t.rows ?? (long ? 4 : 2);
  const target = long ? 16 : 8; // loads in flight per invocation
  const threads = t.threads ?? Math.min(wg, Math.max(32, nextPow2(Math.ceil((units * rows) / target))));
  if (!pow2(threads) || threads < 4 || threads > wg) throw new RangeError(`${what}: threads must be a power of two in [4, ${wg}], got ${threads}`);
  if (!Number.isInteger(rows) || rows < 1 || rows > MAX_FPG || (glu && rows % 2 !== 0)) throw new RangeError(`${what}: rows must be ${glu ? 'even and ' : ''}in 1..${MAX_FPG}, got ${rows}`);
  // A CPU adapter gains nothing from subgroups (SwiftShader runs this kernel ~2x slower with them); long rows
  // measured faster without them on an H200.
  const subgroups = t.subgroups ?? (matvecSubgroupsAvailable(gpu) && !gpu.adapter.isFallbackAdapter && !long);
  if (subgroups && !matvecSubgroupsAvailable(gpu)) throw new RangeError(`${what}: subgroups requested, but this device lacks them or the subgroup_id builtin`);
  const unitsPerThread = Math.ceil(units / threads);
  const batch = Math.max(1, Math.min(unitsPerThread, Math.floor(MAX_LOADS / rows)));
  return { wg, threads, rows, units, unitsPerThread, batch, vec4, subgroups, loop: false, features: (wg / threads) * (glu ? rows / 2 : rows) };
}

// Workgroup f32 of the matvec reduction: region A (group, value, invocation) and the first round's output.
function redWords(l: MatvecLayout, nv: number): number {
  const fan = l.threads <= 32 ? l.threads : 16;
  return nv * l.wg + nv * (l.wg / l.threads) * (l.threads / fan);
}

export async function createLinear(gpu: Gpu, shape: LinearShape): Promise<Linear> {
  const { inFeatures: k, outFeatures: n, dtype } = shape;
  const outStride = shape.outStride ?? n;
  const colOffset = shape.colOffset ?? 0;
  const glu = !!shape.glu;
  const norm = shape.rmsNorm;
  const what = `linear (${n}x${k} ${dtype}${norm ? ' rmsnorm' : ''}${glu ? ' glu' : ''})`;
  if (dtype !== 'f32' && k % 2 !== 0) throw new RangeError(`${what}: ${dtype} weights need an even inFeatures, got ${k}`);
  if (colOffset + n > outStride) throw new RangeError(`${what}: columns [${colOffset}, ${colOffset + n}) do not fit outStride ${outStride}`);
  const fusedOnly = !!norm || glu;
  if (fusedOnly && (shape.maxRows ?? Infinity) > MATVEC_MAX_ROWS) throw new RangeError(`${what}: rmsNorm and glu are matvec-only: maxRows must be set, at most ${MATVEC_MAX_ROWS}`);
  if (glu && shape.accumulate) throw new RangeError(`${what}: glu does not accumulate`);
  const rowWords = dtype === 'f32' ? k : k / 2;
  const weightRows = glu ? 2 * n : n;
  const layout = matvecLayout(gpu, k, dtype, glu, shape.matvec, { weightRows, norm: !!norm });
  const common = { DTYPE: DTYPE_CODE[dtype], VEC4: layout.vec4 ? 1 : 0 };
  // Bias and accumulate are uniform flags, not pipeline constants: fewer pipelines to build at load.
  const flags = (shape.hasBias ? FLAG_BIAS : 0) | (shape.accumulate ? FLAG_ACCUMULATE : 0);

  const nv = layout.rows + (norm ? 1 : 0);
  const lanes = layout.subgroups ? lanesSubgroupSource : lanesPlainSource;
  const matvec = layout.loop
    ? getPipeline(gpu, 'matvec_loop', matvecLoopSource, {
        ...common,
        WG: layout.wg,
        TPF: layout.threads,
        GLU: glu ? 1 : 0,
        FOUT: glu ? 2 : 4,
      })
    : getPipeline(gpu, layout.subgroups ? 'matvec_sg' : 'matvec', `${lanes}\n${matvecSource}`, {
    ...common,
    WG: layout.wg,
    TPF: layout.threads,
    FPG: layout.rows,
    FOUT: glu ? layout.rows / 2 : layout.rows,
    UNITS: layout.units,
    UPT: layout.unitsPerThread,
    BATCH: layout.batch,
    K: k,
    NORM: norm ? 1 : 0,
    GLU: glu ? 1 : 0,
    NV: nv,
    RED_N: redWords(layout, nv),
      });

  const needMatmul = !fusedOnly && (shape.maxRows ?? Infinity) > MATVEC_MAX_ROWS;
  let tiles: MatmulTile[] = [];
  if (needMatmul) {
    if (shape.matmulTile) checkTile(gpu, shape.matmulTile, dtype);
    // A CPU adapter never gets enough rows for large tiles to pay, and building them is slow there.
    const auto = gpu.adapter.isFallbackAdapter ? [MATMUL_SMALL] : [MATMUL_LARGE, MATMUL_SMALL];
    tiles = shape.matmulTile ? [shape.matmulTile] : auto.filter((t) => fitsDevice(gpu, t));
  }
  const matmuls = tiles.map((t) =>
    getPipeline(gpu, 'matmul', matmulSource, { ...common, WG_M: t.wgM, WG_N: t.wgN, TILE_K: t.tileK }),
  );
  const [mv, ...mms] = await Promise.all([matvec, ...matmuls]);
  const noBias = shape.hasBias ? undefined : createStorage(gpu, 16, 'linear.no-bias');
  const noNorm = norm ? undefined : createStorage(gpu, 16, 'linear.no-norm');

  return {
    layout,
    bind(b) {
      checkParts(what, b.parts, rowWords, weightRows);
      if (glu && b.parts.length !== 1) throw new RangeError(`${what}: glu needs [gate; up] in one part, got ${b.parts.length}`);
      const bias = shape.hasBias ? b.bias : noBias;
      if (!bias) throw new Error(`${what}: hasBias is set but no bias buffer was bound`);
      if (bias.size < weightRows * 4 && shape.hasBias) throw new RangeError(`${what}: bias buffer has ${bias.size} bytes, needs ${weightRows * 4}`);
      const g = norm ? b.normWeight : noNorm;
      if (!g) throw new Error(`${what}: rmsNorm is set but no normWeight buffer was bound`);
      if (norm && g.size < k * 4) throw new RangeError(`${what}: normWeight has ${g.size} bytes, needs ${k * 4}`);
      const eps = norm ? f32Bits(norm.eps) : 0;
      const perPart = b.parts.map((p) => {
        const outputs = glu ? n : p.rowCount;
        const mvGroup = layout.loop
          ? bindGroup(
              gpu,
              mv,
              [b.out, b.x, b.x, p.buffer, p.buffer, bias, createUniform(gpu, [k, outputs, outStride, colOffset + p.rowStart, rowWords, p.rowStart, flags, glu ? n : 0], 'matvec_loop.params'), b.step],
              'matvec_loop',
            )
          : bindGroup(
              gpu,
              mv,
              [b.out, b.x, b.x, p.buffer, p.buffer, bias, createUniform(gpu, [outputs, outStride, colOffset + p.rowStart, p.rowStart, flags, glu ? n : 0, eps], 'matvec.params'), b.step, g, g],
              'matvec',
            );
        let mmGroups: GPUBindGroup[] = [];
        if (mms.length) {
          const params = createUniform(gpu, [k, p.rowCount, outStride, colOffset + p.rowStart, rowWords, p.rowStart, flags], 'linear.params');
          const buffers = [b.out, b.x, b.x, p.buffer, p.buffer, bias, params, b.step];
          mmGroups = mms.map((pl) => bindGroup(gpu, pl, buffers, 'matmul'));
        }
        return { outputs, rowCount: p.rowCount, matvec: mvGroup, matmul: mmGroups };
      });
      return {
        encode(pass, rows) {
          if (rows < 1) return;
          if (rows * k * 4 > b.x.size) throw new RangeError(`${what}: x holds fewer than ${rows} rows`);
          if (rows * outStride * 4 > b.out.size) throw new RangeError(`${what}: out holds fewer than ${rows} rows`);
          if (rows <= MATVEC_MAX_ROWS || mms.length === 0) {
            if (rows > MATVEC_MAX_ROWS) throw new RangeError(`${what}: built with maxRows ${shape.maxRows}, encoded with ${rows} rows`);
            for (const p of perPart) {
              const [gx, gy] = foldGrid(gpu, ceilDiv(p.outputs, layout.features));
              dispatch(pass, mv, p.matvec, gx, gy);
            }
            return;
          }
          for (const p of perPart) {
            // The first tile is the large one when there are two: used once it yields enough workgroups.
            const big = tiles[0];
            const i = tiles.length > 1 && ceilDiv(rows, 8 * big.wgM) * ceilDiv(p.rowCount, 8 * big.wgN) < LARGE_MIN_WORKGROUPS ? 1 : 0;
            const t = tiles[i];
            const gx = ceilDiv(p.rowCount, 8 * t.wgN);
            const gy = ceilDiv(rows, 8 * t.wgM);
            checkGridDim(gpu, what, Math.max(gx, gy));
            dispatch(pass, mms[i], p.matmul[i], gx, gy);
          }
        },
      };
    },
  };
}
