/**
 * `ask --model DIR --document FILE --question TEXT [--policy P --budget B] [--max-tokens N] [--json]`:
 * the product's job from the command line. The document and question go into the user turn of the
 * model's chat template, the prompt is prefilled (and the cache compressed when a policy is given),
 * and the greedy answer is printed. --model defaults to the embedded model (public/models/default).
 */
import { readFileSync } from 'node:fs';
import { Engine } from '../engine/engine';
import { DEFAULT_MODEL_DIR } from '../eval/node';
import { documentQuestion } from '../model/document-prompt';
import { nodeModelFiles } from '../model/model-files';
import { type Args, type CommandFlags, num, str } from './args';
import { cacheJson, POLICY_FLAGS, policyArgs } from './cache-json';

/** The options runAsk reads (the CLI rejects any other). */
export const ASK_FLAGS: CommandFlags = {
  values: { model: 'DIR', document: 'FILE', question: 'TEXT', 'max-tokens': 'N', ...POLICY_FLAGS },
  booleans: ['json'],
};

export async function runAsk(args: Args): Promise<number> {
  const modelDir = str(args, 'model', DEFAULT_MODEL_DIR);
  const documentPath = str(args, 'document');
  const question = str(args, 'question');
  if (!question.trim()) throw new Error('--question is empty: ask something about the document');
  let document: string;
  try {
    document = readFileSync(documentPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder, not a text file' : e instanceof Error ? e.message : String(e);
    throw new Error(`--document ${documentPath}: cannot read it (${why})`);
  }
  const json = args.json === true;
  const { policy, budget } = policyArgs(args);
  const engine = await Engine.load(await nodeModelFiles(modelDir));
  const ids = engine.encode(engine.renderChat([{ role: 'user', content: documentQuestion(document, question) }]));
  const result = await engine.generate(ids, {
    maxTokens: num(args, 'max-tokens', 64, { integer: true, min: 1 }),
    sampling: { greedy: true },
    policy,
    ...(budget !== undefined ? { budget } : {}),
  });
  const answer = result.text.trim();
  if (json) {
    console.log(
      JSON.stringify({
        answer,
        promptTokens: ids.length,
        answerTokens: result.tokens.length,
        prefillMs: Math.round(result.prefillMs * 100) / 100,
        decodeMs: Math.round(result.decodeMs * 100) / 100,
        stopReason: result.stopReason,
        policy,
        ...(budget !== undefined ? { budget } : {}),
        ...(policy !== 'full' && result.report ? { cache: cacheJson(result.report) } : {}),
      }),
    );
  } else {
    console.log(answer);
    console.error(`[${ids.length} prompt tokens, prefill ${Math.round(result.prefillMs)} ms, ${result.tokens.length} tokens in ${Math.round(result.decodeMs)} ms]`);
  }
  engine.destroy();
  return 0;
}
