// Bundles the Node entry (src/cli/main.ts) into one ES module; WGSL files become strings.
// Usage: node scripts/build-cli.mjs [outfile]   (default dist/cli/cli.mjs)
// The tokenizer package (@mlc-ai/web-tokenizers) is loaded at run time from its own file (src/model/tokenizer.ts),
// so its package.json and main file are copied to node_modules/ beside the bundle: a kit built into .gpu-kit/
// then answers tokenizer commands on the GPU machine without node_modules carried (4.7 MB instead of 9.3).
// Beside the bundle, <outfile>.sha256 lists the project sources it was built from in `sha256sum` format, so the
// GPU machine can tell a bundle that is older than the tree it was sent with (scripts/check-bundle.sh).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

/** The bundle's own sources (esbuild's metafile inputs, without node_modules), as `sha256sum -c` reads them. */
export function sourceManifest(inputs) {
  return Object.keys(inputs)
    .filter((p) => !p.includes('node_modules/') && !p.includes(':'))
    .sort()
    .map((p) => `${createHash('sha256').update(readFileSync(p)).digest('hex')}  ${p}\n`)
    .join('');
}

export async function buildCli(outfile = 'dist/cli/cli.mjs') {
  const result = await build({
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
    metafile: true,
  });
  writeFileSync(`${outfile}.sha256`, sourceManifest(result.metafile.inputs));
  copyRuntimePackages(dirname(outfile));
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await buildCli(process.argv[2]));
}
