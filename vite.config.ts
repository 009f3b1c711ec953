import { defineConfig } from 'vite';
import { wgslText } from './scripts/wgsl-plugin';

export default defineConfig({
  plugins: [wgslText()],
  worker: { format: 'es', plugins: () => [wgslText()] },
  build: { target: 'es2022' },
});
