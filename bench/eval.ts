/**
 * `npm run eval -- [--model DIR] [--lengths 4096,16384,32768,65536,131072] [--tasks a,b] [--per-cell N]
 *   [--seed S] [--policy P --budget B] [--out FILE] [--emit FILE]`
 *
 * The seeded long-document question suite (src/eval/tasks.ts) with this project's engine: each item's
 * document + question go through the model's chat template, the prompt is prefilled (compressed as
 * asked), the answer is decoded greedily and compared (exact match, normalised). Prints a table of
 * accuracy per task and length and writes JSON under bench/results/. --emit writes the suite's specs
 * (no GPU) for tools/train/eval_hf.py, the transformers side.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Args, num, str } from '../src/cli/args';
import { Engine } from '../src/engine/engine';
import type { CachePolicy } from '../src/engine/cache-report';
import { policyArgs } from '../src/cli/cache-json';
import { nodeModelFiles } from '../src/model/model-files';
import { DEFAULT_MODEL_DIR, loadHaystack, promptCounter } from '../src/eval/node';
import { documentOf, generateSuite, LENGTHS, normalizeAnswer, TASKS, userContent, type TaskItem, type TaskName } from '../src/eval/tasks';

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

export function accuracyTable(records: readonly Pick<EvalRecord, 'task' | 'length' | 'correct'>[]): { text: string; cells: Record<string, Record<number, number>>; average: Record<number, number> } {
  const lengths = [...new Set(records.map((r) => r.length))].sort((a, b) => a - b);
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

export async function runEval(args: Args): Promise<number> {
  const modelDir = str(args, 'model', DEFAULT_MODEL_DIR);
  const lengths = str(args, 'lengths', LENGTHS.join(',')).split(',').map(Number);
  const tasks = str(args, 'tasks', TASKS.join(',')).split(',') as TaskName[];
  for (const t of tasks) if (!TASKS.includes(t)) throw new Error(`unknown task '${t}'; tasks: ${TASKS.join(', ')}`);
  const perCell = num(args, 'per-cell', 10);
  const seed = num(args, 'seed', 20240917);
  const hay = loadHaystack();
  const files = await nodeModelFiles(modelDir);
  const suite = generateSuite(hay, { seed, lengths, tasks, perCell, countTokens: await promptCounter(files) });

  if (typeof args.emit === 'string') {
    mkdirSync(dirname(args.emit), { recursive: true });
    writeFileSync(args.emit, JSON.stringify(suite));
    console.error(`wrote ${suite.items.length} items to ${args.emit}`);
    return 0;
  }

  const { policy, budget } = policyArgs(args);
  const engine = await Engine.load(files);
  const records: EvalRecord[] = [];
  const started = Date.now();
  for (const item of suite.items) records.push(await evalItem(engine, hay, item, policy, budget, args.json !== true));
  const table = accuracyTable(records);
  console.log(table.text);
  const adapter = engine.info().adapter;
  const out = str(args, 'out', `bench/results/eval-${policy}${budget ? `-${typeof args.budget === 'string' ? args.budget.replace('%', 'pct') : ''}` : ''}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        model: modelDir,
        policy,
        budget: budget ?? null,
        seed,
        perCell,
        lengths,
        tasks,
        adapter: { vendor: adapter.vendor, architecture: adapter.architecture, description: adapter.description },
        seconds: (Date.now() - started) / 1000,
        accuracy: table.cells,
        average: table.average,
        items: records,
      },
      null,
      1,
    ),
  );
  console.error(`wrote ${out}`);
  engine.destroy();
  return 0;
}

async function evalItem(
  engine: Engine,
  hay: string,
  item: TaskItem,
  policy: CachePolicy,
  budget: ReturnType<typeof policyArgs>['budget'],
  log: boolean,
): Promise<EvalRecord> {
  const prompt = engine.renderChat([{ role: 'user', content: userContent(documentOf(hay, item), item.question) }]);
  const ids = engine.encode(prompt);
  const result = await engine.generate(ids, {
    maxTokens: 48,
    sampling: { greedy: true },
    policy,
    ...(budget !== undefined ? { budget } : {}),
  });
  const answer = result.text.trim();
  const correct = normalizeAnswer(answer) === normalizeAnswer(item.answer);
  if (log) console.error(`${item.id} [${ids.length} tokens] ${correct ? 'ok ' : 'BAD'} ${JSON.stringify(answer)} (expected ${JSON.stringify(item.answer)})`);
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
