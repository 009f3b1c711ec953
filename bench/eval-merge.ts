/**
 * `npm run cli -- eval-merge --inputs A.json,B.json,... --out FILE [--note TEXT]`
 *
 * One result from several `npm run eval` results of one model, policy, budget, seed, suite and adapter: the
 * calls a device session splits an evaluation into (cut by --seconds, continued with --from-item or --tasks).
 * The items are the union by id, the table is recomputed from them, and `merged` lists every call (its
 * file, --per-cell, --from-item, lengths, tasks, items) so the result says how it was made. An item answered
 * by two inputs must carry the same answer, token ids and prompt length (the engine is deterministic; a
 * difference means other weights or another build, and such results do not merge). An input that is itself
 * a merge contributes its own calls. Agreements with a reference (--reference) are summed over the inputs
 * that compared, each over its own items.
 */
import { readFileSync } from 'node:fs';
import { type Args, type CommandFlags, str } from '../src/cli/args';
import { TASKS, type TaskName } from '../src/eval/tasks';
import { accuracyTable, type Agreement, agreementText, type EvalRecord, itemIndex, lengthsOf, writeJson } from './eval';

/** One call's part of a merged result. */
export interface MergedCall {
  file: string;
  perCell: number | null;
  fromItem: number | null;
  lengths: number[];
  tasks: string[];
  itemsRun: number;
  seconds: number;
  note?: string;
}

/** The fields of an `npm run eval` result this command reads (bench/eval.ts writes them). */
export interface EvalResult {
  model: string;
  policy: string;
  budget: number | string | null;
  seed: number;
  perCell: number | null;
  fromItem: number | null;
  lengths: number[];
  tasks: string[];
  suite: string | null;
  reference?: string | null;
  agreement?: Agreement | null;
  adapter: { vendor?: string; architecture?: string; description?: string };
  seconds: number;
  itemsRun: number;
  items: EvalRecord[];
  note?: string;
  merged?: MergedCall[];
}

/** What eval-merge writes: an eval result whose calls are listed in `merged`. */
export interface MergedResult extends EvalResult {
  reference: string | null;
  itemsInSuite: null;
  accuracy: Record<string, Record<number, number>>;
  average: Record<number, number>;
  agreement: Agreement | null;
  merged: MergedCall[];
}

/** The settings every input must share, in the order an error names them. */
const SAME = ['model', 'policy', 'budget', 'seed', 'suite'] as const;

/** Reads one input; a file that is not an eval result is an error naming the file and what is missing. */
export function readResult(file: string): EvalResult {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`eval-merge: cannot read ${file}: ${(e as Error).message}`);
  }
  const d = doc as Partial<EvalResult>;
  const missing = ['items', 'model', 'policy', 'seed', 'adapter'].filter((k) => d?.[k as keyof EvalResult] === undefined);
  if (typeof doc !== 'object' || doc === null || missing.length) {
    throw new Error(`eval-merge: ${file} is not an \`npm run eval\` result (no ${missing.join(', ') || 'object'})`);
  }
  if (!Array.isArray(d.items)) throw new Error(`eval-merge: ${file}: items is not a list`);
  return d as EvalResult;
}

/** The calls an input stands for: its own, or the ones it was merged from. */
function callsOf(file: string, r: EvalResult): MergedCall[] {
  if (r.merged?.length) return r.merged;
  return [{
    file,
    perCell: r.perCell ?? null,
    fromItem: r.fromItem ?? null,
    lengths: r.lengths ?? lengthsOf(r.items),
    tasks: r.tasks ?? [],
    itemsRun: r.items.length,
    seconds: r.seconds ?? 0,
    ...(r.note ? { note: r.note } : {}),
  }];
}

/**
 * The inputs' agreements with their references, summed. A result does not list which of its items it
 * compared, so the sum holds only when no two inputs that compared share an item (else null, and the reason).
 */
export function mergeAgreements(inputs: readonly { file: string; result: EvalResult }[]): { agreement: Agreement | null; reference: string | null; why?: string } {
  const withRef = inputs.filter((i) => i.result.agreement);
  if (!withRef.length) return { agreement: null, reference: null };
  const seen = new Map<string, string>();
  for (const { file, result } of withRef) {
    for (const r of result.items) {
      const other = seen.get(r.id);
      if (other) return { agreement: null, reference: null, why: `${other} and ${file} both answered ${r.id} and both compared answers with a reference: the agreements are not summed` };
      seen.set(r.id, file);
    }
  }
  const a: Agreement = { compared: 0, sameAnswer: 0, sameTokens: 0, samePromptTokens: 0, byLength: {}, disagreements: [] };
  for (const { result } of withRef) {
    const g = result.agreement as Agreement;
    a.compared += g.compared;
    a.sameAnswer += g.sameAnswer;
    a.sameTokens += g.sameTokens;
    a.samePromptTokens += g.samePromptTokens;
    for (const [L, [n, same]] of Object.entries(g.byLength)) {
      const cell = (a.byLength[Number(L)] ??= [0, 0]);
      cell[0] += n;
      cell[1] += same;
    }
    a.disagreements.push(...g.disagreements);
  }
  const refs = [...new Set(withRef.map((i) => i.result.reference).filter((r): r is string => !!r))];
  return { agreement: a, reference: refs.length ? refs.join(',') : null };
}

/** The merged result (same shape as `npm run eval`'s JSON, plus `merged`), or an error naming the inputs that disagree. */
export function mergeResults(inputs: readonly { file: string; result: EvalResult }[], note?: string): MergedResult {
  if (inputs.length < 2) throw new Error(`eval-merge: give at least two results to merge (got ${inputs.length})`);
  const [first] = inputs;
  for (const { file, result } of inputs.slice(1)) {
    for (const k of SAME) {
      if (JSON.stringify(result[k] ?? null) !== JSON.stringify(first.result[k] ?? null)) {
        throw new Error(`eval-merge: ${file} has ${k} ${JSON.stringify(result[k] ?? null)}, ${first.file} has ${JSON.stringify(first.result[k] ?? null)}: only results of one model, policy, budget, seed and suite merge`);
      }
    }
    if ((result.adapter.description ?? '') !== (first.result.adapter.description ?? '') || result.adapter.vendor !== first.result.adapter.vendor) {
      throw new Error(`eval-merge: ${file} ran on ${JSON.stringify(result.adapter)}, ${first.file} on ${JSON.stringify(first.result.adapter)}: only results of one adapter merge`);
    }
  }
  const byId = new Map<string, { rec: EvalRecord; file: string }>();
  for (const { file, result } of inputs) {
    for (const rec of result.items) {
      const seen = byId.get(rec.id);
      if (!seen) {
        byId.set(rec.id, { rec, file });
      } else if (seen.rec.answer !== rec.answer || seen.rec.promptTokens !== rec.promptTokens || seen.rec.tokens.join(',') !== rec.tokens.join(',')) {
        throw new Error(`eval-merge: ${rec.id} was answered ${JSON.stringify(seen.rec.answer)} (${seen.rec.promptTokens} prompt tokens) in ${seen.file} and ${JSON.stringify(rec.answer)} (${rec.promptTokens}) in ${file}: the engine is deterministic, so these are other weights or another build and do not merge`);
      }
    }
  }
  const taskRank = (t: string) => TASKS.indexOf(t as TaskName);
  const items = [...byId.values()].map((x) => x.rec).sort((a, b) => a.length - b.length || taskRank(a.task) - taskRank(b.task) || itemIndex(a) - itemIndex(b));
  const table = accuracyTable(items);
  const lengths = lengthsOf(items);
  const merged = inputs.flatMap(({ file, result }) => callsOf(file, result));
  const notes = [note, ...inputs.map((i) => (i.result.merged?.length ? i.result.note : undefined))].filter((n): n is string => !!n);
  const { agreement, reference, why } = mergeAgreements(inputs);
  if (why) notes.push(`${why}.`);
  return {
    model: first.result.model,
    policy: first.result.policy,
    budget: first.result.budget ?? null,
    seed: first.result.seed,
    perCell: null,
    fromItem: null,
    lengths,
    tasks: TASKS.filter((t) => items.some((r) => r.task === t)),
    suite: first.result.suite ?? null,
    reference,
    adapter: first.result.adapter,
    seconds: merged.reduce((s, c) => s + c.seconds, 0),
    itemsRun: items.length,
    itemsInSuite: null,
    accuracy: table.cells,
    average: table.average,
    agreement,
    items,
    merged,
    ...(notes.length ? { note: notes.join(' ') } : {}),
  };
}

/** Per length and task, the item numbers present, as ranges (`0-24`, `0, 2-12`): where a merge has gaps. */
export function coverage(items: readonly Pick<EvalRecord, 'id' | 'task' | 'length'>[]): string[] {
  const ranges = (ns: number[]) => {
    const out: string[] = [];
    for (let i = 0; i < ns.length; ) {
      let j = i;
      while (j + 1 < ns.length && ns[j + 1] === ns[j] + 1) j++;
      out.push(i === j ? `${ns[i]}` : `${ns[i]}-${ns[j]}`);
      i = j + 1;
    }
    return out.join(', ');
  };
  const lines: string[] = [];
  for (const L of lengthsOf(items)) {
    const at = items.filter((r) => r.length === L);
    const per = TASKS.filter((t) => at.some((r) => r.task === t)).map((t) => [t, ranges(at.filter((r) => r.task === t).map(itemIndex).sort((a, b) => a - b))] as const);
    const same = per.every(([, r]) => r === per[0][1]);
    lines.push(`${L / 1024}K: ${at.length} items, ` + (same ? `items ${per[0][1]} of each task` : per.map(([t, r]) => `${t} ${r}`).join('; ')));
  }
  return lines;
}

export const EVAL_MERGE_FLAGS: CommandFlags = {
  values: { inputs: 'FILE,FILE,...', out: 'FILE', note: 'TEXT' },
  booleans: [],
};

export async function runEvalMerge(args: Args): Promise<number> {
  const files = str(args, 'inputs').split(',').map((f) => f.trim()).filter(Boolean);
  const out = str(args, 'out');
  if (files.includes(out)) throw new Error(`eval-merge: --out ${out} is also an input; write the merge to a new file`);
  const merged = mergeResults(files.map((file) => ({ file, result: readResult(file) })), typeof args.note === 'string' ? args.note : undefined);
  console.log(accuracyTable(merged.items).text);
  for (const line of coverage(merged.items)) console.log(line);
  if (merged.agreement) console.log(agreementText(merged.agreement, merged.reference ?? 'reference'));
  console.log(`${merged.itemsRun} items from ${merged.merged.length} calls (${files.length} files)`);
  writeJson(out, merged);
  console.error(`wrote ${out}`);
  return 0;
}
