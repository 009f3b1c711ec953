import type { Plugin } from 'vite';

/** Loads `*.wgsl` files as their source text, so every kernel lives in a real `.wgsl` file. */
export function wgslText(): Plugin {
  return {
    name: 'wgsl-text',
    transform(code, id) {
      if (!id.endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(code)};`, map: null };
    },
  };
}
