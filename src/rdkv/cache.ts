/**
 * CPU reference of the compressed cache itself: fills a head's u32 arena exactly as layout.ts
 * describes it, and reads it back (dequantised). The GPU packing and decode kernels are tested
 * against these.
 */
import { f16BitsToF32, f32ToF16Bits } from '../ref/pack';
import { encodeHeader, type HeadLayout, type Span } from './layout';
import { dequantizeValue, packCodes, quantizeMatrix, unpackCodes } from './quantize';

/**
 * Packs one head. k, v: (T, d) row-major post-RoPE prompt keys and values. Returns the arena,
 * (layout.totalWords) u32.
 */
export function packHead(l: HeadLayout, k: Float32Array, v: Float32Array): Uint32Array {
  const { T, d } = l;
  if (k.length !== T * d || v.length !== T * d) throw new Error(`rdkv: k/v must be (T, d) = (${T}, ${d})`);
  const arena = new Uint32Array(l.totalWords);
  arena.set(encodeHeader(l), l.header.offsetWords);

  // K of the quantised slots, stored channels only, in perm order: (nQ, dStored)
  const { dStored, perm } = l.k;
  if (l.nQ > 0 && dStored > 0) {
    writeU16(arena, l.k.permSpan, perm);
    const kq = new Float32Array(l.nQ * dStored); // (nQ, dStored) row-major, perm order
    for (let s = 0; s < l.nQ; s++) {
      const t = l.keptPositions[s];
      for (let j = 0; j < dStored; j++) kq[s * dStored + j] = k[t * d + perm[j]];
    }
    // One quantisation per width group (the same groups as the full matrix: per channel, per tokenGroup).
    const scales = new Float32Array(l.nTokenGroups * dStored); // (nTokenGroups, dStored)
    const zeros = new Float32Array(l.nTokenGroups * dStored); // (nTokenGroups, dStored)
    for (const g of l.k.groups) {
      if (g.channels === 0) continue;
      const sub = new Float32Array(l.nQ * g.channels); // (nQ, channels) this width group
      for (let s = 0; s < l.nQ; s++) {
        for (let j = 0; j < g.channels; j++) sub[s * g.channels + j] = kq[s * dStored + g.firstChannel + j];
      }
      const q = quantizeMatrix(sub, l.nQ, g.channels, g.bits, { kind: 'channel', tokenGroup: l.tokenGroup }, l.zeroPoint);
      arena.set(packCodes(q.codes, l.nQ, g.channels, g.bits), g.codes.offsetWords);
      for (let tg = 0; tg < l.nTokenGroups; tg++) {
        for (let j = 0; j < g.channels; j++) {
          scales[tg * dStored + g.firstChannel + j] = q.scales[tg * g.channels + j];
          zeros[tg * dStored + g.firstChannel + j] = q.zeros[tg * g.channels + j];
        }
      }
    }
    arena.set(new Uint32Array(scales.buffer), l.k.scales.offsetWords);
    writeZeros(arena, l, l.k.zeros, zeros);
  }

  for (const seg of l.vSegments) {
    if (seg.count === 0) continue;
    const rows = gatherRows(v, d, seg.positions);
    const q = quantizeMatrix(rows, seg.count, d, seg.bits, { kind: 'token' }, l.zeroPoint);
    arena.set(packCodes(q.codes, seg.count, d, seg.bits), seg.codes.offsetWords);
    arena.set(new Uint32Array(q.scales.buffer), seg.scales.offsetWords);
    writeZeros(arena, l, seg.zeros, q.zeros);
  }
  writeF16(arena, l.zoneB.v, gatherRows(v, d, l.zoneB.positions));
  if (l.zoneB.k.words > 0) writeF16(arena, l.zoneB.k, gatherRows(k, d, l.zoneB.positions));
  if (l.positions.words > 0) arena.set(l.keptPositions, l.positions.offsetWords);
  return arena;
}

/**
 * Reads a packed head back. Returns, in slot order, k: (kept, d) and v: (kept, d) row-major as the
 * attention sees them (dequantised; dropped K channels are 0).
 */
export function unpackHead(l: HeadLayout, arena: Uint32Array): { k: Float32Array; v: Float32Array } {
  const { d, kept } = l;
  const kOut = new Float32Array(kept * d); // (kept, d) slot order, original channel order
  const vOut = new Float32Array(kept * d); // (kept, d) slot order
  const { dStored } = l.k;
  if (l.nQ > 0 && dStored > 0) {
    const perm = readU16(arena, l.k.permSpan, dStored);
    // (nTokenGroups, dStored)
    const scales = new Float32Array(arena.buffer.slice(arena.byteOffset + 4 * l.k.scales.offsetWords, arena.byteOffset + 4 * (l.k.scales.offsetWords + l.k.scales.words)));
    const zeros = readZeros(arena, l, l.k.zeros, l.nTokenGroups * dStored);
    for (const g of l.k.groups) {
      if (g.channels === 0) continue;
      const codes = unpackCodes(arena, l.nQ, g.channels, g.bits, g.codes.offsetWords);
      for (let s = 0; s < l.nQ; s++) {
        const tg = Math.floor(s / l.tokenGroup);
        for (let j = 0; j < g.channels; j++) {
          const pj = tg * dStored + g.firstChannel + j;
          kOut[s * d + perm[g.firstChannel + j]] = dequantizeValue(codes[s * g.channels + j], scales[pj], zeros[pj]);
        }
      }
    }
  }
  for (const seg of l.vSegments) {
    if (seg.count === 0) continue;
    const codes = unpackCodes(arena, seg.count, d, seg.bits, seg.codes.offsetWords);
    const zeros = readZeros(arena, l, seg.zeros, seg.count);
    for (let r = 0; r < seg.count; r++) {
      const sc = new Float32Array(new Uint32Array([arena[seg.scales.offsetWords + r]]).buffer)[0];
      for (let c = 0; c < d; c++) vOut[(seg.firstSlot + r) * d + c] = dequantizeValue(codes[r * d + c], sc, zeros[r]);
    }
  }
  const nB = l.zoneB.count;
  vOut.set(readF16(arena, l.zoneB.v, nB * d), l.zoneB.firstSlot * d);
  if (l.zoneB.k.words > 0) kOut.set(readF16(arena, l.zoneB.k, nB * d), l.zoneB.firstSlot * d);
  return { k: kOut, v: vOut };
}

/** Zero points into their span: u8×4 ('integer') or f32 words ('float'). */
function writeZeros(arena: Uint32Array, l: HeadLayout, span: Span, zeros: ArrayLike<number>): void {
  if (l.zeroPoint === 'float') arena.set(new Uint32Array(Float32Array.from(zeros).buffer), span.offsetWords);
  else arena.set(packCodes(zeros, 1, zeros.length, 8), span.offsetWords);
}

function readZeros(arena: Uint32Array, l: HeadLayout, span: Span, n: number): Float32Array {
  if (l.zeroPoint === 'float') return new Float32Array(Uint32Array.from(arena.subarray(span.offsetWords, span.offsetWords + n)).buffer);
  return Float32Array.from(unpackCodes(arena, 1, n, 8, span.offsetWords));
}

/** (positions.length, d) rows of x: (T, d). */
function gatherRows(x: Float32Array, d: number, positions: Uint32Array): Float32Array {
  const out = new Float32Array(positions.length * d);
  positions.forEach((t, r) => out.set(x.subarray(t * d, (t + 1) * d), r * d));
  return out;
}

function writeF16(arena: Uint32Array, span: Span, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) {
    const w = span.offsetWords + (i >> 1);
    arena[w] = (arena[w] | (f32ToF16Bits(values[i]) << ((i & 1) * 16))) >>> 0;
  }
}

function readF16(arena: Uint32Array, span: Span, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f16BitsToF32((arena[span.offsetWords + (i >> 1)] >>> ((i & 1) * 16)) & 0xffff);
  return out;
}

function writeU16(arena: Uint32Array, span: Span, values: Uint16Array): void {
  for (let i = 0; i < values.length; i++) {
    const w = span.offsetWords + (i >> 1);
    arena[w] = (arena[w] | (values[i] << ((i & 1) * 16))) >>> 0;
  }
}

function readU16(arena: Uint32Array, span: Span, n: number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = (arena[span.offsetWords + (i >> 1)] >>> ((i & 1) * 16)) & 0xffff;
  return out;
}
