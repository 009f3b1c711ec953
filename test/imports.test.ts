/**
 * The dependency direction of docs/DEVELOPING.md: ui → worker ⇢ engine → model, kv, rdkv → gpu. The pure
 * modules (src/rdkv, src/ref) import nothing at run time from the GPU side or the page.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Module specifiers of value (non-type) imports and re-exports. */
function valueImports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^(?:import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)) if (!m[1]) out.push(m[2]);
  for (const m of src.matchAll(/^import\s+'([^']+)'/gm)) out.push(m[1]);
  return out;
}

const forbidden: [string, RegExp, string][] = [
  ['src/rdkv', /\/(gpu|kv|engine|worker|ui|model)\//, 'the pure RDKV policy'],
  ['src/ref', /\/(gpu|kv|engine|worker|ui|model)\//, 'the CPU references'],
  // The RDKV kernels' wrappers read the (pure) layout definitions of src/rdkv.
  ['src/gpu', /\/(kv|engine|worker|ui|model)\//, 'the GPU layer'],
  ['src/model', /\/(engine|worker|ui)\//, 'the model'],
  ['src/kv', /\/(engine|worker|ui)\//, 'the cache'],
  ['src/engine', /\/(worker|ui)\//, 'the engine'],
];

describe('dependency direction', () => {
  it.each(forbidden)('%s imports nothing it should not', (dir, bad, what) => {
    const offenders = files(dir).flatMap((f) => valueImports(f).filter((s) => s.startsWith('.') && bad.test(`/${s.replace(/^(\.\.?\/)+/, '')}`)).map((s) => `${f} → ${s}`));
    expect(offenders, `${what} must not import these`).toEqual([]);
  });
});
