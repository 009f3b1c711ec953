/** A minimal safetensors writer for tests: tensors from f32 values (rounded to F16/BF16) or raw bytes. */
import { f32ToBf16Bits, f32ToF16Bits } from '../src/ref/pack';

export interface TestTensor {
  name: string;
  dtype: string; // F32, F16, BF16, or anything else (then `bytes` is required)
  shape: number[];
  values?: Float32Array;
  bytes?: Uint8Array;
}

/** Little-endian bytes of `values` in `dtype` (F32, F16 or BF16). */
export function encodeValues(values: Float32Array, dtype: string): Uint8Array<ArrayBuffer> {
  const size = dtype === 'F32' ? 4 : 2;
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (dtype === 'F32') view.setFloat32(4 * i, v, true);
    else if (dtype === 'F16') view.setUint16(2 * i, f32ToF16Bits(v), true);
    else if (dtype === 'BF16') view.setUint16(2 * i, f32ToBf16Bits(v), true);
    else throw new Error(`encodeValues: no encoder for ${dtype}`);
  });
  return out;
}

/**
 * A safetensors file. `header` may replace parts of the computed header entries (to write broken files);
 * the header is padded with spaces to a multiple of 8, as the reference writer does.
 */
export function writeSafetensors(
  tensors: readonly TestTensor[],
  options: { metadata?: Record<string, string>; header?: (h: Record<string, unknown>) => unknown } = {},
): Uint8Array<ArrayBuffer> {
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.bytes ?? encodeValues(t.values ?? new Float32Array(0), t.dtype);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(options.header ? options.header(header) : header));
  const headerBytes = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}
