/** Embedding lookup from a (vocab, dim) table split by rows into parts. Kernel: wgsl/embedding.wgsl. */
import source from '../../../wgsl/embedding.wgsl';
import type { Gpu } from '../device';
import { DTYPE_CODE, type WeightDtype } from '../dtype';
import { bindGroup, ceilDiv, createUniform, dispatch, getPipeline, type EncodedOp } from '../kernel';
import { checkParts, type WeightPart } from '../split';
import { checkGridDim } from './grid';

export interface EmbeddingShape {
  dim: number;
  dtype: WeightDtype;
}

export interface EmbeddingBindings {
  out: GPUBuffer; // (rows, dim) f32
  ids: GPUBuffer; // (rows) u32 token ids, validated by the caller: an id in no part writes nothing
  parts: readonly WeightPart[]; // table rows, packed dtype
  step: GPUBuffer; // Step uniform: rows
}

const WG = 256;

export async function createEmbedding(gpu: Gpu, shape: EmbeddingShape) {
  const { dim, dtype } = shape;
  const what = `embedding (dim ${dim} ${dtype})`;
  if (dtype !== 'f32' && dim % 2 !== 0) throw new RangeError(`${what}: ${dtype} tables need an even dim`);
  const rowWords = dtype === 'f32' ? dim : dim / 2;
  const pipeline = await getPipeline(gpu, 'embedding', source, { WG, DTYPE: DTYPE_CODE[dtype] });
  return {
    bind(b: EmbeddingBindings): EncodedOp {
      checkParts(what, b.parts, rowWords);
      const groups = b.parts.map((p) => {
        const params = createUniform(gpu, [dim, rowWords, p.rowStart, p.rowCount], 'embedding.params');
        return bindGroup(gpu, pipeline, [b.out, b.ids, p.buffer, params, b.step], 'embedding');
      });
      return {
        encode(pass, rows) {
          if (rows < 1) return;
          checkGridDim(gpu, what, rows);
          for (const g of groups) dispatch(pass, pipeline, g, ceilDiv(rowWords, WG), rows);
        },
      };
    },
  };
}
