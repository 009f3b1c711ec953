/**
 * eval-merge (bench/eval-merge.ts): several `npm run eval` calls of one model, policy and suite make one
 * result. Checked on seeded random results written to files: the union by id and the recomputed table
 * against a table computed here from the records, the calls listed (a merged input contributes its own),
 * the coverage lines, and the errors — another policy, model, adapter, a different answer to the same
 * item, a file that is not a result, fewer than two inputs, --out among the inputs.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { coverage, type EvalResult, mergeResults, readResult, runEvalMerge } from '../bench/eval-merge';
import type { EvalRecord } from '../bench/eval';
import { Rng, TASKS } from '../src/eval/tasks';

const dir = mkdtempSync(join(tmpdir(), 'rdkv-merge-'));
const ADAPTER = { vendor: 'nvidia', architecture: '', description: 'NVIDIA: 580.159.04' };

/** A seeded eval record: random prompt length, answer digits, token ids and correctness. */
function record(rng: Rng, task: string, length: number, n: number): EvalRecord {
  const answer = String(rng.int(1_000_000, 9_999_999));
  const correct = rng.next() < 0.8;
  return {
    id: `${task}-${length}-${n}`,
    task: task as EvalRecord['task'],
    length,
    promptTokens: length - rng.int(100, 900),
    answer,
    expected: correct ? answer : String(rng.int(1_000_000, 9_999_999)),
    correct,
    tokens: Array.from({ length: rng.int(3, 9) }, () => rng.int(4, 4095)),
    prefillMs: 1 + 100 * rng.next(),
    decodeMs: 1 + 10 * rng.next(),
  };
}

function result(records: EvalRecord[], o: Partial<EvalResult> = {}): EvalResult {
  return {
    model: 'public/models/default', policy: 'full', budget: null, seed: 20240917, perCell: 5, fromItem: 0,
    lengths: [...new Set(records.map((r) => r.length))], tasks: [...new Set(records.map((r) => r.task))],
    suite: '.train-data/suite30.json', adapter: ADAPTER, seconds: 10 + records.length, itemsRun: records.length, items: records, ...o,
  };
}

function save(name: string, doc: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(doc));
  return f;
}

const rng = new Rng(91);
const all = TASKS.flatMap((t) => [4096, 131072].flatMap((L) => Array.from({ length: 6 }, (_, n) => record(rng, t, L, n))));
const first = all.filter((r) => Number(r.id.split('-')[2]) < 4); // items 0-3
const second = all.filter((r) => Number(r.id.split('-')[2]) >= 3); // items 3-5: item 3 twice

describe('eval-merge', () => {
  it('merges two calls: every item once, the table recomputed from the records', () => {
    const m = mergeResults([{ file: 'a.json', result: result(first) }, { file: 'b.json', result: result(second, { fromItem: 3, perCell: 6 }) }], 'two calls');
    expect(m.items).toHaveLength(all.length);
    expect(new Set(m.items.map((r) => r.id)).size).toBe(all.length);
    expect(m.itemsRun).toBe(all.length);
    for (const L of [4096, 131072]) {
      const perTask = TASKS.map((t) => {
        const rs = all.filter((r) => r.task === t && r.length === L);
        return rs.filter((r) => r.correct).length / rs.length;
      });
      expect(m.average[L]).toBeCloseTo(perTask.reduce((a, b) => a + b, 0) / TASKS.length, 12);
    }
    expect(m.merged?.map((c) => [c.file, c.fromItem, c.perCell, c.itemsRun])).toEqual([['a.json', 0, 5, first.length], ['b.json', 3, 6, second.length]]);
    expect(m.seconds).toBe(20 + first.length + second.length);
    expect(m).toMatchObject({ policy: 'full', perCell: null, fromItem: null, lengths: [4096, 131072], note: 'two calls', agreement: null });
  });

  it('takes a merged input as the calls it was made of', () => {
    const a = result(first.filter((r) => r.length === 4096));
    const b = result(second.filter((r) => r.length === 4096), { fromItem: 3 });
    const ab = mergeResults([{ file: 'a.json', result: a }, { file: 'b.json', result: b }], 'the 4K part');
    const c = result(all.filter((r) => r.length === 131072), { note: 'one call, cut' });
    const m = mergeResults([{ file: 'ab.json', result: ab }, { file: 'c.json', result: c }]);
    expect(m.merged?.map((x) => x.file)).toEqual(['a.json', 'b.json', 'c.json']);
    expect(m.merged?.[2].note).toBe('one call, cut');
    expect(m.note).toBe('the 4K part');
    expect(m.items).toHaveLength(all.length);
  });

  it("sums the inputs' agreements with their references, unless two compared the same item", () => {
    const agree = (rs: EvalRecord[], same: number, L: number) => ({
      compared: rs.length, sameAnswer: same, sameTokens: same, samePromptTokens: rs.length, byLength: { [L]: [rs.length, same] as [number, number] },
      disagreements: rs.slice(same).map((r) => ({ id: r.id, answer: r.answer, reference: 'x', promptTokens: r.promptTokens })),
    });
    const a4 = first.filter((r) => r.length === 4096 && r.id.endsWith('-0'));
    const a128 = second.filter((r) => r.length === 131072 && r.id.endsWith('-5'));
    const a = result(first, { reference: 'eval_hf.json', agreement: agree(a4, a4.length - 1, 4096) });
    const later = second.filter((r) => !r.id.endsWith('-3'));
    const b = result(later, { reference: 'eval_hf.json', agreement: agree(a128, a128.length, 131072) });
    const c = result(all.slice(0, 3));
    const m = mergeResults([{ file: 'a.json', result: a }, { file: 'b.json', result: b }, { file: 'c.json', result: c }]);
    expect(m.reference).toBe('eval_hf.json');
    expect(m.agreement).toMatchObject({ compared: a4.length + a128.length, sameAnswer: a4.length + a128.length - 1, byLength: { 4096: [a4.length, a4.length - 1], 131072: [a128.length, a128.length] } });
    expect(m.agreement?.disagreements.map((d) => d.id)).toEqual([a4[a4.length - 1].id]);
    expect(m.items).toHaveLength(all.length);
    // item 3 is in both first and second: which items each compared is not recorded, so no sum
    const twice = mergeResults([{ file: 'a.json', result: a }, { file: 'b.json', result: { ...b, items: second } }]);
    expect(twice.agreement).toBeNull();
    expect(twice.reference).toBeNull();
    expect(twice.note).toMatch(/^a\.json and b\.json both answered \S+-3 and both compared answers with a reference: the agreements are not summed\.$/);
  });

  it('lists the item numbers present per length, with the gaps', () => {
    const gappy = all.filter((r) => !(r.length === 131072 && r.task === 'vt' && r.id.endsWith('-1')));
    expect(coverage(gappy)).toEqual(['4K: 42 items, items 0-5 of each task', `128K: 41 items, ${TASKS.map((t) => `${t} ${t === 'vt' ? '0, 2-5' : '0-5'}`).join('; ')}`]);
  });

  it('refuses results that are not of one model, policy, budget, seed, suite and adapter', () => {
    const a = { file: 'a.json', result: result(first) };
    expect(() => mergeResults([a, { file: 'b.json', result: result(second, { policy: 'rdkv', budget: 1024 }) }])).toThrow(
      'eval-merge: b.json has policy "rdkv", a.json has "full": only results of one model, policy, budget, seed and suite merge',
    );
    expect(() => mergeResults([a, { file: 'b.json', result: result(second, { model: 'other' }) }])).toThrow(/b\.json has model "other"/);
    expect(() => mergeResults([a, { file: 'b.json', result: result(second, { suite: null }) }])).toThrow(/b\.json has suite null/);
    expect(() => mergeResults([a, { file: 'b.json', result: result(second, { adapter: { vendor: 'amd', description: 'x' } }) }])).toThrow(/only results of one adapter merge/);
    expect(() => mergeResults([a])).toThrow('eval-merge: give at least two results to merge (got 1)');
  });

  it('refuses an item answered differently by two inputs (other weights or another build)', () => {
    const changed = second.map((r) => (r.id === 'passkey-4096-3' ? { ...r, answer: `${r.answer}9` } : r));
    expect(() => mergeResults([{ file: 'a.json', result: result(first) }, { file: 'b.json', result: result(changed) }])).toThrow(
      /^eval-merge: passkey-4096-3 was answered "\d+" \(\d+ prompt tokens\) in a\.json and "\d+9" \(\d+\) in b\.json/,
    );
    const retokenized = second.map((r) => (r.id === 'vt-131072-3' ? { ...r, tokens: [...r.tokens, 7] } : r));
    expect(() => mergeResults([{ file: 'a.json', result: result(first) }, { file: 'b.json', result: result(retokenized) }])).toThrow(/vt-131072-3 was answered/);
  });

  it('names the file that is not an eval result', () => {
    expect(() => readResult(save('hf.json', { transformers: '5.17.0', records: [] }))).toThrow(/hf\.json is not an `npm run eval` result \(no items, model, policy, seed, adapter\)/);
    expect(() => readResult(save('bad.json', '{'.repeat(3)))).toThrow(/bad\.json is not an `npm run eval` result/);
    writeFileSync(join(dir, 'broken.json'), '{"items": [');
    expect(() => readResult(join(dir, 'broken.json'))).toThrow(/eval-merge: cannot read .*broken\.json/);
    expect(() => readResult(join(dir, 'missing.json'))).toThrow(/eval-merge: cannot read .*missing\.json/);
  });

  it('runs as a command: reads the files, writes the merge, refuses to overwrite an input', async () => {
    const a = save('a.json', result(first));
    const b = save('b.json', result(second, { fromItem: 3 }));
    const out = join(dir, 'out', 'merged.json');
    expect(await runEvalMerge({ _: [], inputs: `${a},${b}`, out, note: 'merged in a test' })).toBe(0);
    const m = JSON.parse(readFileSync(out, 'utf8')) as EvalResult;
    expect(m.items).toHaveLength(all.length);
    expect(m.merged?.map((c) => c.file)).toEqual([a, b]);
    expect(m.note).toBe('merged in a test');
    await expect(runEvalMerge({ _: [], inputs: `${a},${b}`, out: a })).rejects.toThrow(/--out .*a\.json is also an input/);
  });
});
