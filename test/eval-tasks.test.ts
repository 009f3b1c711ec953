import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadHaystack } from '../src/eval/node';
import { documentOf, generateSuite, makeTask, normalizeAnswer, Rng, TASKS, userContent } from '../src/eval/tasks';
import { EVAL_WORDS } from '../src/eval/words';
import { accuracyTable } from '../bench/eval';

const hay = loadHaystack();
// A stand-in token counter (about 3.3 characters a token) so suites can be sized without a model.
const countTokens = (doc: string, q: string) => Math.ceil(userContent(doc, q).length / 3.3) + 8;

describe('evaluation suite generator', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = generateSuite(hay, { seed: 7, lengths: [4096], perCell: 2, countTokens });
    const b = generateSuite(hay, { seed: 7, lengths: [4096], perCell: 2, countTokens });
    const c = generateSuite(hay, { seed: 8, lengths: [4096], perCell: 2, countTokens });
    expect(a).toEqual(b);
    expect(a.items.map((i) => i.answer)).not.toEqual(c.items.map((i) => i.answer));
    expect(a.items).toHaveLength(TASKS.length * 2);
  });

  it('sizes documents to the target length and keeps every inserted sentence', () => {
    const suite = generateSuite(hay, { seed: 3, lengths: [4096, 16384], perCell: 1, countTokens });
    for (const item of suite.items) {
      const doc = documentOf(hay, item);
      const n = countTokens(doc, item.question);
      expect(n).toBeLessThanOrEqual(item.length);
      expect(n).toBeGreaterThanOrEqual(0.95 * item.length);
      for (const [, s] of item.inserts) expect(doc).toContain(s.trim());
      expect(item.inserts.map(([p]) => p)).toEqual([...item.inserts.map(([p]) => p)].sort((x, y) => x - y));
    }
  });

  it('builds answerable tasks of every family', () => {
    const r = new Rng(11);
    for (const task of TASKS) {
      for (let i = 0; i < 20; i++) {
        const { needles, question, answer } = makeTask(task, r);
        const text = needles.join(' ');
        if (task === 'freq') {
          const counts = new Map<string, number>();
          for (const n of needles) counts.set(n, (counts.get(n) ?? 0) + 1);
          const top = [...counts.entries()].sort((x, y) => y[1] - x[1]);
          expect(top[0][0]).toBe(`The word of the day is ${answer}.`);
          if (top.length > 1) expect(top[0][1]).toBeGreaterThanOrEqual(2 * top[1][1]);
        } else if (task === 'vt') {
          const parts = answer.split(' = ');
          expect(question).toBe(`What is the value of ${parts[0]}?`);
          for (let j = 0; j + 1 < parts.length; j++) expect(text).toContain(`${parts[j]} = ${parts[j + 1]}.`);
        } else {
          for (const v of answer.split(', ')) expect(text).toContain(v);
        }
      }
    }
  });

  it('uses key words disjoint from the training generator and a held-out haystack', () => {
    const train = new Set(readFileSync('tools/train/words_train.txt', 'utf8').split(/\s+/).filter(Boolean));
    expect(EVAL_WORDS.length).toBeGreaterThan(500);
    expect(EVAL_WORDS.filter((w) => train.has(w))).toEqual([]);
    expect(hay.length).toBeGreaterThan(1_000_000); // room for 128K-token documents
    expect(Buffer.from(hay, 'latin1').every((b) => b < 128)).toBe(true); // ASCII: offsets agree between JS and Python
  });

  it('normalises answers and tabulates accuracy', () => {
    expect(normalizeAnswer('  1234,  5678. ')).toBe('1234, 5678');
    const t = accuracyTable([
      { task: 'vt', length: 4096, correct: true },
      { task: 'vt', length: 4096, correct: false },
      { task: 'freq', length: 4096, correct: true },
    ]);
    expect(t.cells.vt[4096]).toBe(0.5);
    expect(t.average[4096]).toBe(0.75);
  });
});
