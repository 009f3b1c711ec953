/**
 * The uncompressed KV cache: per layer two buffers K and V laid out [Hkv, capacity, d], f32 or f16 (two
 * values per u32 word). Grows by reallocation (existing entries are copied) when a longer context comes.
 */
import type { Gpu } from '../gpu/device';
import { createStorage } from '../gpu/kernel';

export interface FullCacheShape {
  nLayers: number;
  nKvHeads: number;
  headDim: number;
  f16: boolean;
}

export class FullCache {
  k: GPUBuffer[] = []; // per layer: (Hkv, capacity, d)
  v: GPUBuffer[] = [];
  capacity = 0;

  constructor(
    private readonly gpu: Gpu,
    readonly shape: FullCacheShape,
  ) {}

  bytesPerToken(): number {
    const { nLayers, nKvHeads, headDim, f16 } = this.shape;
    return 2 * nLayers * nKvHeads * headDim * (f16 ? 2 : 4);
  }

  /** Bytes of one layer's K (or V) buffer at `capacity` tokens. */
  layerBytes(capacity: number): number {
    const { nKvHeads, headDim, f16 } = this.shape;
    return nKvHeads * capacity * headDim * (f16 ? 2 : 4);
  }

  /**
   * Makes room for `tokens` entries (exactly, or with a quarter more to amortise growth), keeping the first `keep`. Returns true when buffers changed
   * (callers rebind what reads them).
   */
  ensure(tokens: number, keep: number, exact = false): boolean {
    if (tokens <= this.capacity) return false;
    // Grow by a quarter beyond what is asked (whole 256-token blocks): amortised copies without the
    // doubling that would make a 128K context allocate room for 256K.
    const headroom = exact || !this.capacity ? 0 : tokens / 4;
    const capacity = Math.max(256, Math.ceil((tokens + headroom) / 256) * 256);
    const bytes = this.layerBytes(capacity);
    if (bytes > this.gpu.maxBindingBytes) {
      const maxTokens = Math.floor(this.gpu.maxBindingBytes / this.layerBytes(1));
      throw new RangeError(
        `a ${tokens}-token context needs ${mib(bytes)} per layer for the full-precision cache, over this ` +
          `device's ${mib(this.gpu.maxBindingBytes)} buffer limit (at most ${maxTokens} tokens); use a compressing policy`,
      );
    }
    const enc = this.gpu.device.createCommandEncoder();
    const grow = (old: GPUBuffer[], name: string) =>
      Array.from({ length: this.shape.nLayers }, (_, l) => {
        const b = createStorage(this.gpu, bytes, `${name}${l}`);
        if (keep > 0 && old[l]) {
          // Rows are per head: copy each head's first `keep` tokens into its new slot.
          const rowOld = this.layerBytes(this.capacity) / this.shape.nKvHeads;
          const rowNew = bytes / this.shape.nKvHeads;
          const n = (this.layerBytes(keep) / this.shape.nKvHeads + 3) & ~3;
          for (let h = 0; h < this.shape.nKvHeads; h++) enc.copyBufferToBuffer(old[l], h * rowOld, b, h * rowNew, n);
        }
        return b;
      });
    const k = grow(this.k, 'kcache');
    const v = grow(this.v, 'vcache');
    this.gpu.device.queue.submit([enc.finish()]);
    for (const b of [...this.k, ...this.v]) b.destroy();
    this.k = k;
    this.v = v;
    this.capacity = capacity;
    return true;
  }

  allocatedBytes(): number {
    return 2 * this.shape.nLayers * this.layerBytes(this.capacity);
  }

  destroy(): void {
    for (const b of [...this.k, ...this.v]) b.destroy();
    this.k = [];
    this.v = [];
    this.capacity = 0;
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 24 ? 1 : 0)} MiB`;
}
