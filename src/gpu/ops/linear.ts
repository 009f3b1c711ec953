/**
 * Linear layer: out[r, colOffset + n] (= or +=) x[r, :] . W[n, :] (+ bias[n]). W may be split by rows
 * into parts (one dispatch each). Kernels: wgsl/matvec.wgsl for up to MATVEC_MAX_ROWS rows (decode),
 * wgsl/matmul.wgsl above that (prefill). CPU reference: src/ref/linear.ts.
 */
import matmulSource from '../../../wgsl/matmul.wgsl';
import matvecSource from '../../../wgsl/matvec.wgsl';
import type { Gpu } from '../device';
import { DTYPE_CODE, type WeightDtype } from '../dtype';
import { bindGroup, ceilDiv, createStorage, createUniform, dispatch, getPipeline } from '../kernel';
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
  /** Tuning: force one matmul tile (default: large and small, chosen per batch) and matvec group width. */
  matmulTile?: MatmulTile;
  matvecThreads?: number;
}

export interface LinearBindings {
  out: GPUBuffer; // (rows, outStride) f32
  x: GPUBuffer; // (rows, inFeatures) f32, not aliasing out
  parts: readonly WeightPart[]; // W (outFeatures, inFeatures) packed dtype, split by rows
  bias?: GPUBuffer; // (outFeatures) f32, required when hasBias
  step: GPUBuffer; // Step uniform: rows
}

export interface EncodedOp {
  /** Records the dispatches for `rows` rows (the kernels bound rows by step.rows, which must match). */
  encode(pass: GPUComputePassEncoder, rows: number): void;
}

export interface Linear {
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

export async function createLinear(gpu: Gpu, shape: LinearShape): Promise<Linear> {
  const { inFeatures: k, outFeatures: n, dtype } = shape;
  const outStride = shape.outStride ?? n;
  const colOffset = shape.colOffset ?? 0;
  const what = `linear (${n}x${k} ${dtype})`;
  if (dtype !== 'f32' && k % 2 !== 0) throw new RangeError(`${what}: ${dtype} weights need an even inFeatures, got ${k}`);
  if (colOffset + n > outStride) throw new RangeError(`${what}: columns [${colOffset}, ${colOffset + n}) do not fit outStride ${outStride}`);
  const rowWords = dtype === 'f32' ? k : k / 2;
  const vec4 = rowWords % 4 === 0;
  const common = { DTYPE: DTYPE_CODE[dtype], VEC4: vec4 ? 1 : 0 };
  // Bias and accumulate are uniform flags, not pipeline constants: fewer pipelines to build at load.
  const flags = (shape.hasBias ? FLAG_BIAS : 0) | (shape.accumulate ? FLAG_ACCUMULATE : 0);

  const units = vec4 ? rowWords / 4 : rowWords;
  // About two 16-byte words per invocation per row: enough loads in flight, short reduction.
  const tpf = shape.matvecThreads ?? Math.min(256, Math.max(32, nextPow2(Math.ceil(units / 2))));
  if (![4, 8, 16, 32, 64, 128, 256].includes(tpf)) throw new RangeError(`${what}: matvecThreads must be a power of two in [4, 256], got ${tpf}`);
  const featuresPerWorkgroup = (256 / tpf) * 4; // FEATURES in wgsl/matvec.wgsl
  const matvec = getPipeline(gpu, 'matvec', matvecSource, { ...common, WG: 256, TPF: tpf });

  const needMatmul = (shape.maxRows ?? Infinity) > MATVEC_MAX_ROWS;
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

  return {
    bind(b) {
      checkParts(what, b.parts, rowWords, n);
      const bias = shape.hasBias ? b.bias : noBias;
      if (!bias) throw new Error(`${what}: hasBias is set but no bias buffer was bound`);
      if (bias.size < n * 4 && shape.hasBias) throw new RangeError(`${what}: bias buffer has ${bias.size} bytes, needs ${n * 4}`);
      const perPart = b.parts.map((p) => {
        const params = createUniform(gpu, [k, p.rowCount, outStride, colOffset + p.rowStart, rowWords, p.rowStart, flags], 'linear.params');
        const buffers = [b.out, b.x, b.x, p.buffer, p.buffer, bias, params, b.step];
        return {
          rowCount: p.rowCount,
          matvec: bindGroup(gpu, mv, buffers, 'matvec'),
          matmul: mms.map((pl) => bindGroup(gpu, pl, buffers, 'matmul')),
        };
      });
      return {
        encode(pass, rows) {
          if (rows < 1) return;
          if (rows * k * 4 > b.x.size) throw new RangeError(`${what}: x holds fewer than ${rows} rows`);
          if (rows * outStride * 4 > b.out.size) throw new RangeError(`${what}: out holds fewer than ${rows} rows`);
          if (rows <= MATVEC_MAX_ROWS || mms.length === 0) {
            if (rows > MATVEC_MAX_ROWS) throw new RangeError(`${what}: built with maxRows ${shape.maxRows}, encoded with ${rows} rows`);
            for (const p of perPart) {
              const [gx, gy] = foldGrid(gpu, ceilDiv(p.rowCount, featuresPerWorkgroup));
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
