/**
 * `ask --model DIR --document FILE --question TEXT [--policy P --budget B] [--max-tokens N] [--json]`:
 * the product's job from the command line. The document and question go into the user turn of the
 * model's chat template, the prompt is prefilled (and the cache compressed when a policy is given),
 * and the greedy answer is printed. --model defaults to the embedded model (public/models/default).
 */
import { readFileSync } from 'node:fs';
import type { CachePolicy } from '../engine/cache-report';
import { Engine } from '../engine/engine';
import { DEFAULT_MODEL_DIR, parseBudget } from '../eval/node';
import { userContent } from '../eval/tasks';
import { nodeModelFiles } from '../model/model-files';
import { type Args, num, str } from './args';

export async function runAsk(args: Args): Promise<number> {
  const modelDir = str(args, 'model', DEFAULT_MODEL_DIR);
  const document = readFileSync(str(args, 'document'), 'utf8');
  const question = str(args, 'question');
  const json = args.json === true;
  const policy = typeof args.policy === 'string' ? (args.policy as CachePolicy) : undefined;
  const budget = parseBudget(typeof args.budget === 'string' ? args.budget : undefined);
  const engine = await Engine.load(await nodeModelFiles(modelDir));
  const ids = engine.encode(engine.renderChat([{ role: 'user', content: userContent(document, question) }]));
  const result = await engine.generate(ids, {
    maxTokens: num(args, 'max-tokens', 64),
    sampling: { greedy: true },
    ...(policy !== undefined ? { policy } : {}),
    ...(budget !== undefined ? { budget } : {}),
  });
  const answer = result.text.trim();
  if (json) {
    const report = result.report;
    console.log(
      JSON.stringify({
        answer,
        promptTokens: ids.length,
        answerTokens: result.tokens.length,
        prefillMs: Math.round(result.prefillMs * 100) / 100,
        decodeMs: Math.round(result.decodeMs * 100) / 100,
        stopReason: result.stopReason,
        policy: policy ?? 'full',
        ...(policy !== undefined && policy !== 'full' && report ? { cache: summarizeReport(report) } : {}),
      }),
    );
  } else {
    console.log(answer);
    console.error(`[${ids.length} prompt tokens, prefill ${Math.round(result.prefillMs)} ms, ${result.tokens.length} tokens in ${Math.round(result.decodeMs)} ms]`);
  }
  engine.destroy();
  return 0;
}

/** The cache report without its per-unit arrays (those are for the heatmap), plus their sizes. */
function summarizeReport(report: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(report)) {
    if (ArrayBuffer.isView(v)) out[`${k}Length`] = (v as Uint8Array).length;
    else out[k] = v;
  }
  return out;
}
