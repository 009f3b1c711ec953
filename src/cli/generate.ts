/** `generate`: load a model folder, prefill a prompt, generate, print text or one JSON object. */
import { Engine } from '../engine/engine';
import { nodeModelFiles } from '../model/model-files';
import { type Args, type CommandFlags, num, str } from './args';
import { cacheJson, POLICY_FLAGS, policyArgs } from './cache-json';

/** The options runGenerate reads (the CLI rejects any other). */
export const GENERATE_FLAGS: CommandFlags = {
  values: { model: 'DIR', prompt: 'TEXT', 'max-tokens': 'N', temperature: 'T', 'top-k': 'K', 'top-p': 'P', seed: 'S', ...POLICY_FLAGS },
  booleans: ['greedy', 'json'],
};

export async function runGenerate(args: Args): Promise<number> {
  const modelDir = str(args, 'model');
  const prompt = str(args, 'prompt', '');
  const maxTokens = num(args, 'max-tokens', 64, { integer: true, min: 1 });
  const json = args.json === true;
  const engine = await Engine.load(await nodeModelFiles(modelDir));
  const ids = engine.encode(prompt, true);
  const { policy, budget } = policyArgs(args);
  const result = await engine.generate(ids, {
    maxTokens,
    policy,
    budget,
    sampling: args.greedy
      ? { greedy: true }
      : {
          temperature: num(args, 'temperature', engine.generation.temperature ?? 0, { min: 0 }),
          topK: num(args, 'top-k', engine.generation.topK ?? 0, { integer: true, min: 0 }),
          topP: num(args, 'top-p', engine.generation.topP ?? 1, { min: 0, max: 1 }),
          seed: num(args, 'seed', 0, { integer: true, min: 0 }),
        },
    onToken: json ? undefined : (_id, delta) => process.stdout.write(delta),
  });
  const { adapter } = engine.info();
  if (json) {
    console.log(
      JSON.stringify({
        promptTokens: result.promptTokens,
        tokens: result.tokens,
        text: result.text,
        prefillMs: round(result.prefillMs),
        decodeMs: round(result.decodeMs),
        stopReason: result.stopReason,
        ...(policy !== 'full' && result.report ? { cache: cacheJson(result.report) } : {}),
        adapter: { vendor: adapter.vendor, architecture: adapter.architecture, description: adapter.description },
      }),
    );
  } else {
    process.stdout.write('\n');
    console.error(
      `[${result.promptTokens.length} prompt tokens in ${round(result.prefillMs)} ms, ` +
        `${result.tokens.length} tokens in ${round(result.decodeMs)} ms, stop: ${result.stopReason}]`,
    );
  }
  engine.destroy();
  return 0;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
