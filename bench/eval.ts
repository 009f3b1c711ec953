/**
 * `npm run eval -- [--model DIR] [--lengths 4096,16384,32768,65536,131072] [--tasks a,b] [--per-cell N] [--from-item K]
 *   [--seed S] [--policy P --budget B] [--seconds S] [--suite FILE] [--reference FILE] [--out FILE] [--emit FILE]`
 *
 * The seeded long-document question suite (src/eval/tasks.ts) with this project's engine: each item's
 * document + question go through the model's chat template, the prompt is prefilled (compressed as
 * asked), the answer is decoded greedily and compared (exact match, normalised). Prints a table of
 * accuracy per task and length and writes JSON under bench/results/ (rewritten after every item).
 *
 * Items run round robin over the cells (item 0 of every cell, lengths ascending, then item 1...), so
 * --seconds (no new item after S seconds) cuts every cell evenly: a subset per cell at all five lengths.
 * --emit writes the suite's specs (no GPU) for tools/train/eval_hf.py, the transformers side; --suite
 * FILE answers the items of such a file instead of generating them.
 * --reference FILE (tools/train/eval_hf.py's result, or an earlier run of this command): compares the
 * greedy answers item by item (same text, same token ids, same prompt length) and prints the agreement.
 * Its items run first; without --suite they are the only items, rebuilt from the specs the file carries.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Args, type CommandFlags, num, str, intList, oneOfList } from '../src/cli/args';
import { Engine } from '../src/engine/engine';
import type { Policy } from '../src/rdkv/policy-names';
import { POLICY_FLAGS, policyArgs } from '../src/cli/cache-json';
import { documentQuestion } from '../src/model/document-prompt';
import { nodeModelFiles } from '../src/model/model-files';
import { DEFAULT_MODEL_DIR, loadHaystack, promptCounter } from '../src/eval/node';
import { documentOf, generateSuite, LENGTHS, normalizeAnswer, TASKS, type Suite, type TaskItem, type TaskName } from '../src/eval/tasks';

export interface EvalRecord {
  id: string;
  task: TaskName;
  length: number;
  promptTokens: number;
  answer: string;
  expected: string;
  correct: boolean;
  tokens: number[];
  prefillMs: number;
  decodeMs: number;
}

/** The distinct lengths of some items, ascending. */
export function lengthsOf(items: readonly Pick<EvalRecord, 'length'>[]): number[] {
  return [...new Set(items.map((r) => r.length))].sort((a, b) => a - b);
}

export function accuracyTable(records: readonly Pick<EvalRecord, 'task' | 'length' | 'correct'>[]): { text: string; cells: Record<string, Record<number, number>>; average: Record<number, number> } {
  const lengths = lengthsOf(records);
  const tasks = TASKS.filter((t) => records.some((r) => r.task === t));
  const cells: Record<string, Record<number, number>> = {};
  const average: Record<number, number> = {};
  for (const t of tasks) {
    cells[t] = {};
    for (const L of lengths) {
      const rs = records.filter((r) => r.task === t && r.length === L);
      if (rs.length) cells[t][L] = rs.filter((r) => r.correct).length / rs.length;
    }
  }
  for (const L of lengths) {
    const accs = tasks.map((t) => cells[t][L]).filter((x) => x !== undefined);
    if (accs.length) average[L] = accs.reduce((a, b) => a + b, 0) / accs.length;
  }
  const pct = (x: number | undefined) => (x === undefined ? '-' : (100 * x).toFixed(1));
  const lines = ['task'.padEnd(16) + lengths.map((L) => `${L / 1024}K`.padStart(8)).join('')];
  for (const t of tasks) lines.push(t.padEnd(16) + lengths.map((L) => pct(cells[t][L]).padStart(8)).join(''));
  lines.push('average'.padEnd(16) + lengths.map((L) => pct(average[L]).padStart(8)).join(''));
  return { text: lines.join('\n'), cells, average };
}

/** An answered item of a reference run (eval_hf.py or this command); the spec fields when it carries them. */
export interface ReferenceItem extends Partial<Omit<TaskItem, 'answer'>> {
  id: string;
  answer: string | null;
  expected?: string;
  promptTokens?: number;
  tokens?: number[];
  correct?: boolean;
}

export interface Agreement {
  compared: number;
  sameAnswer: number;
  sameTokens: number;
  samePromptTokens: number;
  /** Per length: [compared, same answer]. */
  byLength: Record<number, [number, number]>;
  disagreements: { id: string; answer: string; reference: string | null; promptTokens: number; referencePromptTokens?: number }[];
}

/** The item's number within its cell (`task-length-n`). */
export const itemIndex = (it: Pick<TaskItem, 'id'>) => Number(it.id.slice(it.id.lastIndexOf('-') + 1));

/**
 * The items of the asked lengths and tasks whose number in their cell is in [fromItem, perCell) (perCell
 * undefined: no upper bound). --from-item lets the engine answer items another check scored, e.g. the
 * teacher-forced check's items 8 and on.
 */
export function selectItems<T extends Pick<TaskItem, 'id' | 'length' | 'task'>>(
  items: readonly T[],
  o: { lengths: readonly number[]; tasks: readonly TaskName[]; perCell?: number; fromItem?: number },
): T[] {
  const from = o.fromItem ?? 0;
  return items.filter((it) => o.lengths.includes(it.length) && o.tasks.includes(it.task) && itemIndex(it) >= from && (o.perCell === undefined || itemIndex(it) < o.perCell));
}

/** Item n of every cell before item n + 1 of any; lengths ascending within a round, else the given order. */
export function roundRobin<T extends Pick<TaskItem, 'id' | 'length'>>(items: readonly T[]): T[] {
  return items
    .map((it, i) => ({ it, i }))
    .sort((a, b) => itemIndex(a.it) - itemIndex(b.it) || a.it.length - b.it.length || a.i - b.i)
    .map((x) => x.it);
}

function hasSpec(r: ReferenceItem): r is ReferenceItem & Omit<TaskItem, 'answer'> {
  return typeof r.hayStart === 'number' && typeof r.hayEnd === 'number' && Array.isArray(r.inserts) && typeof r.question === 'string' && r.task !== undefined && r.length !== undefined;
}

/** The items a reference answered, rebuilt from the specs it carries (eval_hf.py writes them). */
export function referenceItems(ref: readonly ReferenceItem[]): TaskItem[] {
  return ref.map((r) => {
    if (!hasSpec(r)) throw new Error(`reference item ${r.id} carries no spec (hayStart, hayEnd, inserts, question): give --suite FILE too`);
    return { id: r.id, task: r.task, length: r.length, hayStart: r.hayStart, hayEnd: r.hayEnd, inserts: r.inserts, question: r.question, answer: r.expected ?? '' };
  });
}

/** Runs the reference's items first (in its order), then the others round robin. */
export function orderItems(items: readonly TaskItem[], ref?: readonly ReferenceItem[]): TaskItem[] {
  if (!ref) return roundRobin(items);
  const rank = new Map(ref.map((r, i) => [r.id, i]));
  const first = items.filter((it) => rank.has(it.id)).sort((a, b) => rank.get(a.id)! - rank.get(b.id)!);
  return [...first, ...roundRobin(items.filter((it) => !rank.has(it.id)))];
}

/** Greedy answers against a reference's: same text (trimmed), same token ids (a final end-of-turn id dropped), same prompt length. */
export function compareAnswers(ours: readonly Pick<EvalRecord, 'id' | 'length' | 'answer' | 'tokens' | 'promptTokens'>[], ref: readonly ReferenceItem[], eosIds: readonly number[] = []): Agreement {
  const byId = new Map(ref.map((r) => [r.id, r]));
  const strip = (t: readonly number[]) => {
    const out = [...t];
    while (out.length && eosIds.includes(out[out.length - 1])) out.pop();
    return out;
  };
  const a: Agreement = { compared: 0, sameAnswer: 0, sameTokens: 0, samePromptTokens: 0, byLength: {}, disagreements: [] };
  for (const o of ours) {
    const r = byId.get(o.id);
    if (!r) continue;
    a.compared++;
    const sameAnswer = r.answer !== null && r.answer.trim() === o.answer.trim();
    const sameTokens = r.tokens !== undefined && strip(r.tokens).join(',') === strip(o.tokens).join(',');
    if (sameAnswer) a.sameAnswer++;
    if (sameTokens) a.sameTokens++;
    if (r.promptTokens === o.promptTokens) a.samePromptTokens++;
    const cell = (a.byLength[o.length] ??= [0, 0]);
    cell[0]++;
    if (sameAnswer) cell[1]++;
    if (!sameAnswer) a.disagreements.push({ id: o.id, answer: o.answer, reference: r.answer, promptTokens: o.promptTokens, referencePromptTokens: r.promptTokens });
  }
  return a;
}

export function agreementText(a: Agreement, label = 'reference'): string {
  const pct = (x: number) => (a.compared ? ((100 * x) / a.compared).toFixed(1) : '-');
  const lines = [
    `agreement with ${label}: ${a.sameAnswer}/${a.compared} same greedy answer (${pct(a.sameAnswer)}%), ${a.sameTokens}/${a.compared} same token ids, ${a.samePromptTokens}/${a.compared} same prompt length`,
    '  per length: ' + Object.entries(a.byLength).map(([L, [n, same]]) => `${Number(L) / 1024}K ${same}/${n}`).join(', '),
  ];
  for (const d of a.disagreements) lines.push(`  ${d.id}: ${JSON.stringify(d.answer)} vs ${JSON.stringify(d.reference)}${d.referencePromptTokens !== undefined && d.referencePromptTokens !== d.promptTokens ? ` (prompt ${d.promptTokens} vs ${d.referencePromptTokens} tokens)` : ''}`);
  return lines.join('\n');
}

export function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(value, null, 1));
  renameSync(`${file}.tmp`, file);
}

/** The options runEval reads (the CLI rejects any other). */
export const EVAL_FLAGS: CommandFlags = {
  values: {
    model: 'DIR',
    lengths: 'L,L,...',
    tasks: 'TASK,TASK,...',
    'per-cell': 'N',
    'from-item': 'K',
    seed: 'S',
    ...POLICY_FLAGS,
    seconds: 'S',
    suite: 'FILE',
    reference: 'FILE',
    out: 'FILE',
    emit: 'FILE',
  },
  booleans: ['json'],
};

export async function runEval(args: Args): Promise<number> {
  const modelDir = str(args, 'model', DEFAULT_MODEL_DIR);
  const lengths = intList(args, 'lengths', LENGTHS);
  const tasks = oneOfList(args, 'tasks', TASKS, TASKS);
  const perCell = num(args, 'per-cell', 10, { integer: true, min: 1 });
  const fromItem = num(args, 'from-item', 0, { integer: true, min: 0 });
  if ((typeof args.suite !== 'string' || args['per-cell'] !== undefined) && fromItem >= perCell) {
    throw new Error(`--from-item ${fromItem} leaves no item below --per-cell ${perCell} (items are numbered from 0 in each cell)`);
  }
  const seconds = num(args, 'seconds', Infinity, { min: 0 });
  const hay = loadHaystack();
  const files = await nodeModelFiles(modelDir);
  const refFile = typeof args.reference === 'string' ? args.reference : undefined;
  const refDoc = refFile ? (JSON.parse(readFileSync(refFile, 'utf8')) as { items?: ReferenceItem[]; seed?: number; transformers?: string; adapter?: unknown }) : undefined;
  const ref = refDoc ? (refDoc.items ?? []).filter((r) => lengths.includes(r.length ?? 0) && tasks.includes(r.task as TaskName)) : undefined;

  let suite: Suite;
  if (typeof args.suite === 'string') {
    suite = JSON.parse(readFileSync(args.suite, 'utf8')) as Suite;
    suite.items = selectItems(suite.items, { lengths, tasks, perCell: args['per-cell'] === undefined ? undefined : perCell, fromItem });
  } else if (ref) {
    suite = { version: 1, seed: refDoc?.seed ?? num(args, 'seed', 20240917, { integer: true, min: 0 }), items: referenceItems(ref) };
  } else {
    const seed = num(args, 'seed', 20240917, { integer: true, min: 0 });
    suite = generateSuite(hay, { seed, lengths, tasks, perCell, countTokens: await promptCounter(files) });
    suite.items = selectItems(suite.items, { lengths, tasks, fromItem });
  }
  if (!suite.items.length) {
    const source = typeof args.suite === 'string' ? `${args.suite} holds` : 'there are';
    throw new Error(`no items to run: ${source} none at lengths ${lengths.join(',')} for tasks ${tasks.join(',')} numbered ${fromItem}${typeof args.suite === 'string' && args['per-cell'] === undefined ? ' and on' : ` to ${perCell - 1}`}`);
  }

  if (typeof args.emit === 'string') {
    mkdirSync(dirname(args.emit), { recursive: true });
    writeFileSync(args.emit, JSON.stringify(suite));
    console.error(`wrote ${suite.items.length} items to ${args.emit}`);
    return 0;
  }

  const { policy, budget } = policyArgs(args);
  const engine = await Engine.load(files);
  const eosIds = [...engine.generation.eosTokenIds];
  const refById = new Map((ref ?? []).map((r) => [r.id, r]));
  const adapter = engine.info().adapter;
  const out = str(args, 'out', `bench/results/eval-${policy}${budget ? `-${typeof args.budget === 'string' ? args.budget.replace('%', 'pct') : ''}` : ''}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const items = orderItems(suite.items, ref);
  const records: EvalRecord[] = [];
  const started = Date.now();
  const report = () => {
    const table = accuracyTable(records);
    const agreement = ref ? compareAnswers(records, ref, eosIds) : undefined;
    return {
      table,
      agreement,
      json: {
        model: modelDir,
        policy,
        budget: budget ?? null,
        seed: suite.seed,
        perCell,
        fromItem,
        lengths,
        tasks,
        suite: typeof args.suite === 'string' ? args.suite : null,
        reference: refFile ?? null,
        adapter: { vendor: adapter.vendor, architecture: adapter.architecture, description: adapter.description },
        seconds: (Date.now() - started) / 1000,
        itemsRun: records.length,
        itemsInSuite: items.length,
        accuracy: table.cells,
        average: table.average,
        agreement: agreement ?? null,
        items: records,
      },
    };
  };
  for (const item of items) {
    if ((Date.now() - started) / 1000 > seconds) break;
    const rec = await evalItem(engine, hay, item, policy, budget, args.json !== true, refById.get(item.id), eosIds);
    records.push(rec);
    writeJson(out, report().json);
  }
  const { table, agreement, json } = report();
  console.log(table.text);
  const per: Record<number, number> = {};
  for (const r of records) per[r.length] = (per[r.length] ?? 0) + 1;
  console.log(`${records.length} of ${items.length} items in ${json.seconds.toFixed(0)} s (items per length: ${Object.entries(per).map(([L, n]) => `${Number(L) / 1024}K ${n}`).join(', ')})`);
  if (agreement) console.log(agreementText(agreement, refDoc?.transformers ? `transformers ${refDoc.transformers}` : (refFile ?? 'reference')));
  writeJson(out, json);
  console.error(`wrote ${out}`);
  engine.destroy();
  return 0;
}

async function evalItem(
  engine: Engine,
  hay: string,
  item: TaskItem,
  policy: Policy,
  budget: ReturnType<typeof policyArgs>['budget'],
  log: boolean,
  ref: ReferenceItem | undefined,
  eosIds: readonly number[],
): Promise<EvalRecord> {
  const prompt = engine.renderChat([{ role: 'user', content: documentQuestion(documentOf(hay, item), item.question) }]);
  const ids = engine.encode(prompt);
  const result = await engine.generate(ids, {
    maxTokens: 48,
    sampling: { greedy: true },
    policy,
    ...(budget !== undefined ? { budget } : {}),
  });
  const answer = result.text.trim();
  const correct = normalizeAnswer(answer) === normalizeAnswer(item.answer);
  if (log) {
    const vs = ref ? (compareAnswers([{ id: item.id, length: item.length, answer, tokens: result.tokens, promptTokens: ids.length }], [ref], eosIds).sameAnswer ? ' = ref' : ` != ref ${JSON.stringify(ref.answer)}`) : '';
    const ms = (result.prefillMs + result.decodeMs).toFixed(0);
    console.error(`${item.id} [${ids.length} tokens, ${ms} ms] ${correct ? 'ok ' : 'BAD'} ${JSON.stringify(answer)} (expected ${JSON.stringify(item.answer)})${vs}`);
  }
  return {
    id: item.id,
    task: item.task,
    length: item.length,
    promptTokens: ids.length,
    answer,
    expected: item.answer,
    correct,
    tokens: result.tokens,
    prefillMs: result.prefillMs,
    decodeMs: result.decodeMs,
  };
}
