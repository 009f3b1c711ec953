/** Shared by the rdkv GPU tests: random widths and keys, and the arena comparison with packHead. */
import { layoutSpans, type HeadLayout } from '../src/rdkv/layout';
import { unpackCodes } from '../src/rdkv/quantize';
import { f16BitsToF32 } from '../src/ref/pack';
import { randn, rng } from '../src/ref/random';

export function randomBits(seed: number, n: number, widths: number[]): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => widths[Math.floor(r() * widths.length)]);
}

/** K like post-RoPE keys: per-channel means far from 0 on a third of the channels. */
export function keys(seed: number, n: number, d: number): Float32Array {
  const k = randn(seed, n * d, 1.5);
  for (let i = 0; i < k.length; i++) if ((i % d) % 3 === 0) k[i] += (i % d) % 2 ? 6 : -5;
  return k;
}

const f32 = (w: number) => new Float32Array(Uint32Array.of(w).buffer)[0];

/**
 * Compares a GPU arena with packHead's word by word. Codes may differ by one (division rounding at a
 * half-integer boundary): counted. Scales/zero points within f32 rounding; f16 within one unit.
 */
export function compareHead(l: HeadLayout, got: Uint32Array, want: Uint32Array) {
  let codes = 0;
  let mismatches = 0;
  const bad: string[] = [];
  const codesOf = (name: string) => {
    const m = /^(k|v)Codes(\d)$/.exec(name);
    if (!m) return undefined;
    const b = Number(m[2]);
    if (m[1] === 'k') {
      const g = l.k.groups.find((x) => x.bits === b);
      return g ? { rows: l.nQ, len: g.channels, bits: b } : undefined;
    }
    const s = l.vSegments.find((x) => x.bits === b);
    return s ? { rows: s.count, len: l.d, bits: b } : undefined;
  };
  for (const [name, span] of layoutSpans(l)) {
    if (span.words === 0) continue;
    const g = got.subarray(span.offsetWords, span.offsetWords + span.words);
    const w = want.subarray(span.offsetWords, span.offsetWords + span.words);
    const c = codesOf(name);
    if (c) {
      const a = unpackCodes(g, c.rows, c.len, c.bits);
      const e = unpackCodes(w, c.rows, c.len, c.bits);
      for (let i = 0; i < a.length; i++) {
        codes++;
        if (a[i] !== e[i]) {
          mismatches++;
          if (Math.abs(a[i] - e[i]) > 1) bad.push(`${name}[${i}] ${a[i]} vs ${e[i]}`);
        }
      }
    } else if (/Scales/.test(name) || (/Zeros/.test(name) && l.zeroPoint === 'float')) {
      for (let i = 0; i < g.length; i++) {
        const x = f32(g[i]);
        const y = f32(w[i]);
        if (!(Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(y)))) bad.push(`${name}[${i}] ${x} vs ${y}`);
      }
    } else if (/Zeros/.test(name)) {
      const a = unpackCodes(g, 1, 4 * g.length, 8);
      const e = unpackCodes(w, 1, 4 * w.length, 8);
      for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - e[i]) > 1) bad.push(`${name}[${i}] ${a[i]} vs ${e[i]}`);
    } else if (/^zoneB/.test(name)) {
      for (let i = 0; i < 2 * g.length; i++) {
        const x = f16BitsToF32((g[i >> 1] >>> ((i & 1) * 16)) & 0xffff);
        const y = f16BitsToF32((w[i >> 1] >>> ((i & 1) * 16)) & 0xffff);
        if (!(Math.abs(x - y) <= Math.abs(y) * 2 ** -10)) bad.push(`${name}[${i}] ${x} vs ${y}`);
      }
    } else {
      for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) bad.push(`${name}[${i}] ${g[i]} vs ${w[i]}`);
    }
  }
  return { codes, mismatches, bad };
}

