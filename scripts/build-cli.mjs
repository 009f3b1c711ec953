// Bundles the Node entry (src/cli/main.ts) into one ES module; WGSL files become strings.
// Usage: node scripts/build-cli.mjs [outfile]   (default dist/cli/cli.mjs)
// The tokenizer package (@mlc-ai/web-tokenizers) is loaded at run time from its own file (src/model/tokenizer.ts),
// so its package.json and main file are copied to node_modules/ beside the bundle: a kit built into .gpu-kit/
// then answers tokenizer commands on the GPU machine without node_modules carried (4.7 MB instead of 9.3).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const RUNTIME_PACKAGES = ['@mlc-ai/web-tokenizers'];

/** Copies each package's package.json and main file under <dir>/node_modules/<name>/; returns the files written. */
export function copyRuntimePackages(dir, names = RUNTIME_PACKAGES) {
  const require = createRequire(import.meta.url);
  const written = [];
  for (const name of names) {
    const pkgFile = require.resolve(`${name}/package.json`);
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    if (!pkg.main) throw new Error(`${pkgFile}: no "main" field, nothing to copy for ${name}`);
    const target = join(dir, 'node_modules', name);
    for (const rel of ['package.json', pkg.main]) {
      const to = join(target, rel);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(join(dirname(pkgFile), rel), to);
      written.push(to);
    }
  }
  return written;
}

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
  copyRuntimePackages(dirname(outfile));
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await buildCli(process.argv[2]));
}
