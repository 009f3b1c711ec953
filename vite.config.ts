import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { wgslText } from './scripts/wgsl-plugin';

/** Files the service worker must not precache (itself, its list, source maps). */
const SKIP = /(^|\/)(sw\.js|asset-manifest\.json)$|\.map$/;

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

/**
 * After the build, writes dist/asset-manifest.json: every built file (shell, worker, wasm, pdf.js worker,
 * public/models/default/*) and a version that changes with any of them. public/sw.js precaches that list.
 */
function assetManifest(): Plugin {
  let outDir = 'dist';
  return {
    name: 'rdkv-asset-manifest',
    apply: 'build',
    configResolved(c) {
      outDir = join(c.root, c.build.outDir);
    },
    closeBundle() {
      const hash = createHash('sha256');
      const assets: string[] = [];
      for (const file of listFiles(outDir).sort()) {
        const rel = relative(outDir, file).split(sep).join('/');
        if (SKIP.test(rel)) continue;
        const st = statSync(file);
        hash.update(`${rel}:${st.size}:`);
        if (st.size < 8 * 1024 * 1024) hash.update(readFileSync(file));
        else hash.update(String(st.mtimeMs));
        assets.push(rel);
      }
      const manifest = { version: hash.digest('hex').slice(0, 16), assets: ['./', ...assets] };
      writeFileSync(join(outDir, 'asset-manifest.json'), JSON.stringify(manifest, null, 1));
    },
  };
}

export default defineConfig({
  plugins: [wgslText(), assetManifest()],
  worker: { format: 'es', plugins: () => [wgslText()] },
  build: { target: 'es2022' },
});
