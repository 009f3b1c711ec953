import { defineConfig } from 'vitest/config';
import { wgslText } from './scripts/wgsl-plugin';
import { useSwiftShaderWhenNoDriverSet } from './scripts/vulkan-env.mjs';

// Set in the main process so that worker threads (and Dawn's native getenv) inherit it.
useSwiftShaderWhenNoDriverSet();

export default defineConfig({
  plugins: [wgslText()],
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One GPU (SwiftShader on 2 cores): run files one after another.
    fileParallelism: false,
    // Dawn crashes in forked children here (futex error); worker threads run it fine.
    pool: 'forks',
  },
});
