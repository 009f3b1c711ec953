/**
 * The seeded long-document question suite (evaluation side). Same task families and sentence/question
 * formats as the training generator (tools/train/tasks.py), but its own PRNG and seeds, its own key
 * words (./words.ts, disjoint from training's) and held-out haystack text (./haystack.txt.gz, never
 * trained on).
 *
 * An item is a spec: a haystack slice [hayStart, hayEnd) plus sentences inserted at offsets in it, a
 * question and the expected answer, so a suite is small and the document is rebuilt exactly in
 * TypeScript (documentOf) or Python (tools/train/eval_hf.py).
 */
import { EVAL_WORDS } from './words';

export const TASKS = ['niah_single', 'niah_multikey', 'niah_multivalue', 'niah_multiquery', 'passkey', 'vt', 'freq'] as const;
export type TaskName = (typeof TASKS)[number];
export const LENGTHS = [4096, 16384, 32768, 65536, 131072] as const;

export interface TaskItem {
  id: string;
  task: TaskName;
  /** Target prompt length in tokens (the rendered chat prompt is at most this long). */
  length: number;
  hayStart: number;
  hayEnd: number;
  /** [offset in the slice, text] in increasing offset order; the text carries its leading space. */
  inserts: [number, string][];
  question: string;
  answer: string;
}

export interface Suite {
  version: 1;
  seed: number;
  items: TaskItem[];
}

/** mulberry32: a small, fast, seedable PRNG. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  sample<T>(xs: readonly T[], n: number): T[] {
    const out: T[] = [];
    const used = new Set<number>();
    while (out.length < n) {
      const i = Math.floor(this.next() * xs.length);
      if (!used.has(i)) {
        used.add(i);
        out.push(xs[i]);
      }
    }
    return out;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
}

const magic = (k: string, v: string) => `The special magic number for ${k} is ${v}.`;
const num = (r: Rng) => String(r.int(1_000_000, 9_999_999));
const joinAnd = (xs: string[]) => (xs.length === 1 ? xs[0] : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** The inserted sentences (in document order), the question and the answer of one task. */
export function makeTask(task: TaskName, r: Rng, words: readonly string[] = EVAL_WORDS): { needles: string[]; question: string; answer: string } {
  switch (task) {
    case 'niah_single': {
      const k = r.pick(words);
      const v = num(r);
      return { needles: [magic(k, v)], question: `What is the special magic number for ${k}?`, answer: v };
    }
    case 'niah_multikey': {
      const keys = r.sample(words, r.int(2, 8));
      const vals = keys.map(() => num(r));
      const i = r.int(0, keys.length - 1);
      return { needles: keys.map((k, j) => magic(k, vals[j])), question: `What is the special magic number for ${keys[i]}?`, answer: vals[i] };
    }
    case 'niah_multivalue': {
      const k = r.pick(words);
      const vals = Array.from({ length: r.int(2, 4) }, () => num(r));
      return { needles: vals.map((v) => magic(k, v)), question: `What are all the special magic numbers for ${k}?`, answer: vals.join(', ') };
    }
    case 'niah_multiquery': {
      const keys = r.sample(words, r.int(2, 4));
      const vals = keys.map(() => num(r));
      const order = r.shuffle(keys.map((_, i) => i));
      return {
        needles: keys.map((k, j) => magic(k, vals[j])),
        question: `What are the special magic numbers for ${joinAnd(order.map((i) => keys[i]))}?`,
        answer: order.map((i) => vals[i]).join(', '),
      };
    }
    case 'passkey': {
      const v = String(r.int(10_000, 9_999_999));
      return { needles: [`The pass key is ${v}. Remember it. ${v} is the pass key.`], question: 'What is the pass key?', answer: v };
    }
    case 'vt': {
      const hops = r.int(1, 4);
      const names: string[] = [];
      while (names.length < 2 * (hops + 1)) {
        const n = Array.from({ length: 4 }, () => String.fromCharCode(65 + r.int(0, 25))).join('');
        if (!names.includes(n)) names.push(n);
      }
      const chain = names.slice(0, hops + 1);
      const other = names.slice(hops + 1);
      const v = num(r);
      const w = num(r);
      const lines = (ns: string[], val: string) => [`VAR ${ns[0]} = ${val}.`, ...ns.slice(1).map((n, j) => `VAR ${n} = VAR ${ns[j]}.`)];
      const a = lines(chain, v);
      const b = lines(other, w);
      const needles: string[] = [];
      let ia = 0;
      let ib = 0;
      while (ia < a.length || ib < b.length) {
        if (ib >= b.length || (ia < a.length && r.next() < 0.5)) needles.push(a[ia++]);
        else needles.push(b[ib++]);
      }
      const answer = [...chain].reverse().map((n) => `VAR ${n}`).join(' = ') + ` = ${v}`;
      return { needles, question: `What is the value of VAR ${chain[chain.length - 1]}?`, answer };
    }
    case 'freq': {
      const cands = r.sample(words, r.int(2, 5));
      const top = r.int(4, 8);
      const counts = [top, ...cands.slice(1).map(() => r.int(1, Math.floor(top / 2)))];
      const needles = r.shuffle(cands.flatMap((w, i) => Array.from({ length: counts[i] }, () => `The word of the day is ${w}.`)));
      return { needles, question: 'Which word of the day occurs most often?', answer: cands[0] };
    }
  }
}

/** A slice of `hay` of about nChars from the line start at or after `start`, ending at a sentence or line end. */
export function haystackSlice(hay: string, start: number, nChars: number): [number, number] {
  let s = hay.indexOf('\n', start);
  s = s < 0 || s + nChars >= hay.length ? 0 : s + 1;
  const chunk = hay.slice(s, s + nChars);
  const e = Math.max(chunk.lastIndexOf('. '), chunk.lastIndexOf('.\n'), chunk.lastIndexOf('\n'));
  let end = e > chunk.length / 2 ? s + e + 1 : s + chunk.length;
  while (end > s && /\s/.test(hay[end - 1])) end--;
  while (s < end && /\s/.test(hay[s])) s++;
  return [s, end];
}

/** Inserts each needle (with a leading space) after a sentence end, at increasing random depths. */
export function placeNeedles(text: string, needles: readonly string[], r: Rng): [number, string][] {
  let cands: number[] = [];
  for (const m of text.matchAll(/[.!?](?=[ \n])/g)) cands.push(m.index + 1);
  if (cands.length < 8) {
    cands = [];
    for (const m of text.matchAll(/[ \n]/g)) if (m.index > 0) cands.push(m.index);
  }
  if (cands.length === 0) cands = [text.length];
  const picks = needles.map(() => r.pick(cands)).sort((a, b) => a - b);
  return needles.map((n, i) => [picks[i], ` ${n}`]);
}

/** The document of an item. */
export function documentOf(hay: string, item: Pick<TaskItem, 'hayStart' | 'hayEnd' | 'inserts'>): string {
  const text = hay.slice(item.hayStart, item.hayEnd);
  let out = '';
  let last = 0;
  for (const [p, s] of item.inserts) {
    out += text.slice(last, p) + s;
    last = p;
  }
  return out + text.slice(last);
}

export interface SuiteOptions {
  seed?: number;
  lengths?: readonly number[];
  tasks?: readonly TaskName[];
  perCell?: number;
  /** Token count of a rendered prompt (the model's chat template + tokenizer). */
  countTokens: (document: string, question: string) => number;
}

/**
 * Items for every (task, length) cell: the document is sized so the rendered prompt has at most
 * `length` tokens and at least 95% of it (at least 85% where the haystack's sentences are too long to
 * land in that window). Items depend on the seed and on every option: a cell's first items are not the
 * same under another `perCell` (the chars-per-token estimate carries over from item to item).
 */
export function generateSuite(hay: string, o: SuiteOptions): Suite {
  const seed = o.seed ?? 20240917;
  const items: TaskItem[] = [];
  let cpt = 3.2; // chars per token, refined as items are sized
  for (const length of o.lengths ?? LENGTHS) {
    for (const task of o.tasks ?? TASKS) {
      for (let n = 0; n < (o.perCell ?? 10); n++) {
        const r = new Rng(seed ^ Math.imul(length, 2654435761) ^ Math.imul(TASKS.indexOf(task) + 1, 40503) ^ Math.imul(n + 1, 9973));
        const { needles, question, answer } = makeTask(task, r);
        const start = r.int(0, hay.length - 1);
        let chars = Math.floor((length - 40 - needles.join(' ').length / 3) * cpt * 0.98);
        let item: TaskItem | undefined;
        // Proportional steps first (these fixed every cell of the suites used so far within 6 attempts; kept
        // as they were so those items do not change). A slice whose cut lands on a sentence end can jump over
        // the 95-100% window (a long sentence without a break): then bisect between the sizes known to fall
        // short and to overshoot, and as a last resort keep the longest prompt that fits (>= 85% of length).
        let under = 0; // largest chars whose prompt fell short
        let over = Infinity; // smallest chars whose prompt was too long
        let longestFit: { item: TaskItem; tokens: number } | undefined;
        for (let attempt = 0; attempt < 24; attempt++) {
          const [hayStart, hayEnd] = haystackSlice(hay, start, chars);
          const inserts = placeNeedles(hay.slice(hayStart, hayEnd), needles, new Rng(r.int(0, 2 ** 31)));
          const cand: TaskItem = { id: `${task}-${length}-${n}`, task, length, hayStart, hayEnd, inserts, question, answer };
          const doc = documentOf(hay, cand);
          const tokens = o.countTokens(doc, question);
          cpt = 0.5 * cpt + 0.5 * (doc.length / tokens);
          if (tokens <= length && tokens >= 0.95 * length) {
            item = cand;
            break;
          }
          if (tokens > length) over = Math.min(over, chars);
          else {
            under = Math.max(under, chars);
            if (!longestFit || tokens > longestFit.tokens) longestFit = { item: cand, tokens };
          }
          const next = Math.floor(chars * (0.975 * length) / tokens);
          chars = attempt < 5 || !(over < Infinity && under > 0) ? next : Math.floor((under + over) / 2);
          if (attempt >= 5 && over - under <= 1) break;
        }
        if (!item && longestFit && longestFit.tokens >= 0.85 * length) item = longestFit.item;
        if (!item) throw new Error(`could not size ${task} item ${n} at ${length} tokens (haystack offset ${start}): no slice gave a prompt of 85-100% of the length`);
        items.push(item);
      }
    }
  }
  return { version: 1, seed, items };
}

/** Answer normalisation for exact match: trimmed, inner whitespace collapsed, a final period dropped. */
export function normalizeAnswer(s: string): string {
  return s.trim().replace(/\s+/g, ' ').replace(/\.$/, '').toLowerCase();
}
