// Bundles the Node entry (src/cli/main.ts) into one ES module; WGSL files become strings.
// Usage: node scripts/build-cli.mjs [outfile]   (default dist/cli/cli.mjs)
import { build } from 'esbuild';

export async function buildCli(outfile = 'dist/cli/cli.mjs') {
  await build({
    entryPoints: ['src/cli/main.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    loader: { '.wgsl': 'text' },
    external: ['webgpu'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await buildCli(process.argv[2]));
}
