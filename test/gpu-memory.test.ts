import { describe, expect, it } from 'vitest';
import { createStorage } from '../src/gpu/kernel';
import { requireGpu } from './gpu';

describe('GPU memory accounting', () => {
  it('counts current and peak bytes of created and destroyed buffers', async () => {
    const gpu = await requireGpu();
    const base = gpu.memory.currentBytes;
    gpu.memory.resetPeak();
    const a = createStorage(gpu, 4096);
    const b = createStorage(gpu, 1 << 20);
    expect(gpu.memory.currentBytes - base).toBe(4096 + (1 << 20));
    b.destroy();
    b.destroy();
    expect(gpu.memory.currentBytes - base).toBe(4096);
    expect(gpu.memory.peakBytes - base).toBe(4096 + (1 << 20));
    a.destroy();
    expect(gpu.memory.currentBytes).toBe(base);
  });
});
