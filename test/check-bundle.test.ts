/**
 * The GPU machine runs a CLI bundle built here (.gpu-kit/cli.mjs). scripts/build-cli.mjs writes the bundle's
 * sources with their SHA-256 beside it, and scripts/check-bundle.sh (called by scripts/gpu-run.sh) refuses a
 * bundle whose sources differ from the tree it was sent with: a stale bundle once ignored a flag it did not
 * know yet and evaluated other items than asked.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script without type declarations
import { buildCli } from '../scripts/build-cli.mjs';

const dir = mkdtempSync(join(tmpdir(), 'rdkv-bundle-'));
const bundle = join(dir, 'cli.mjs');
let manifest = '';

function check(target: string) {
  const r = spawnSync('bash', ['scripts/check-bundle.sh', target], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('CLI bundle source manifest', () => {
  beforeAll(async () => {
    await buildCli(bundle);
    manifest = readFileSync(`${bundle}.sha256`, 'utf8');
  }, 60_000);

  it('lists the entry, the WGSL kernels and the bench code it bundles, not node_modules', () => {
    const paths = manifest.trim().split('\n').map((l) => l.slice(66));
    expect(paths).toContain('src/cli/main.ts');
    expect(paths).toContain('bench/eval.ts');
    expect(paths.some((p) => p.endsWith('.wgsl'))).toBe(true);
    expect(paths.some((p) => p.includes('node_modules'))).toBe(false);
    expect(manifest.trim().split('\n').every((l) => /^[0-9a-f]{64} {2}\S+$/.test(l))).toBe(true);
  });

  it('passes for a bundle built from this tree', () => {
    expect(check(bundle)).toEqual({ status: 0, stderr: '' });
  });

  it('names the source that changed since the bundle was built', () => {
    const stale = join(dir, 'stale.mjs');
    const lines = manifest.split('\n');
    const i = lines.findIndex((l) => l.endsWith('  bench/eval.ts'));
    lines[i] = `${'0'.repeat(64)}  bench/eval.ts`;
    writeFileSync(`${stale}.sha256`, lines.join('\n'));
    const r = check(stale);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('built from other sources than this tree');
    expect(r.stderr).toContain('bench/eval.ts');
    expect(r.stderr).not.toContain('src/cli/main.ts');
    expect(r.stderr).toContain(`node scripts/build-cli.mjs ${stale}`);
  });

  it('says how to rebuild a bundle that has no manifest', () => {
    const r = check(join(dir, 'old.mjs'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('old.mjs.sha256');
    expect(r.stderr).toContain('rebuild it here');
  });
});
