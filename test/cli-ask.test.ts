/**
 * `npm run cli -- ask` as a user runs it: a separate Node process with the embedded model on this machine's
 * WebGPU adapter. The process must print the answer and exit 0 (an answer that ends at EOS before
 * --max-tokens leaves decode steps queued ahead; exiting with them in flight crashed Dawn, status 139),
 * and bad input must end in one clear line naming the flag and the file.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'rdkv-ask-'));
const docPath = join(dir, 'doc.txt');
writeFileSync(
  docPath,
  'The lighthouse stood on the rocks above the bay, and its keeper kept a log of every ship. ' +
    'The special magic number for harbor is 5829301. The keeper rowed to the mainland on Sundays.',
);

function ask(...flags: string[]) {
  const r = spawnSync(process.execPath, ['scripts/cli.mjs', 'ask', ...flags], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('cli ask with the embedded model (public/models/default)', () => {
  // No adapter, no model: the command fails and so does the test (nothing here skips).
  it('answers from the document as JSON and exits 0, with the full cache and with RDKV', () => {
    const question = 'What is the special magic number for harbor?';
    const full = ask('--document', docPath, '--question', question, '--json');
    expect({ status: full.status, signal: full.signal, stderr: full.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const out = JSON.parse(full.stdout.trim().split('\n').pop() ?? '');
    expect(out.answer).toBe('5829301');
    expect(out.stopReason).toBe('eos');
    expect(out.answerTokens).toBeLessThan(64); // it stopped early: steps had run ahead of the EOS
    expect(out.promptTokens).toBeGreaterThan(40);
    expect(out.prefillMs).toBeGreaterThan(0);
    expect(out.decodeMs).toBeGreaterThan(0);
    expect(out.cache).toBeUndefined();

    // A budget the prompt exceeds: the cache object reports what RDKV kept.
    const rdkv = ask('--document', docPath, '--question', question, '--policy', 'rdkv', '--budget', '16', '--json');
    expect({ status: rdkv.status, signal: rdkv.signal }).toEqual({ status: 0, signal: null });
    const c = JSON.parse(rdkv.stdout.trim().split('\n').pop() ?? '').cache;
    expect(c.policy).toBe('rdkv');
    expect(c.tokens).toBe(out.promptTokens);
    expect(c.budgetTokens).toBe(16);
    expect(c.retention).toBeGreaterThan(0);
    expect(c.retention).toBeLessThan(1);
    expect(c.layers).toHaveLength(8);
  }, 600_000);

  it('says which file it cannot read, and what is missing', () => {
    const missing = join(dir, 'no-such.txt');
    const r = ask('--document', missing, '--question', 'What is the pass key?');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`--document ${missing}: cannot read it (no such file)`);
    const folder = ask('--document', dir, '--question', 'What is the pass key?');
    expect(folder.status).toBe(1);
    expect(folder.stderr).toContain('it is a folder, not a text file');
    const noQuestion = ask('--document', docPath);
    expect(noQuestion.status).toBe(1);
    expect(noQuestion.stderr).toContain('--question is required');
    const empty = ask('--document', docPath, '--question', '  ');
    expect(empty.stderr).toContain('--question is empty');
  }, 120_000);
});
