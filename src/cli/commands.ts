/**
 * The CLI's commands: each one's runner and the options it takes (declared in the runner's module, next to
 * the code that reads them). main.ts parses a command's flags against its list before running it.
 */
import { type Args, type CommandFlags, flagUsage } from './args';
import { ASK_FLAGS, runAsk } from './ask';
import { GENERATE_FLAGS, runGenerate } from './generate';
import { runVerify, VERIFY_FLAGS } from './verify';
import { BENCH_FLAGS, runBench } from '../../bench/engine-bench';
import { EVAL_FLAGS, runEval } from '../../bench/eval';
import { EVAL_MERGE_FLAGS, runEvalMerge } from '../../bench/eval-merge';
import { KERNEL_BENCH_FLAGS, runKernelBench } from '../../bench/kernel-bench';
import { RDKV_BENCH_FLAGS, runRdkvBench } from '../../bench/rdkv-bench';

export interface Command {
  flags: CommandFlags;
  run: (args: Args) => Promise<number>;
  /** One line: what the command does. */
  about: string;
}

export const COMMANDS: Readonly<Record<string, Command>> = {
  generate: { flags: GENERATE_FLAGS, run: runGenerate, about: 'load a model folder, prefill a prompt, generate (src/cli/generate.ts)' },
  verify: { flags: VERIFY_FLAGS, run: runVerify, about: "a transformers reference fixture through the engine: tokens and logits error (src/cli/verify.ts)" },
  'rdkv-bench': { flags: RDKV_BENCH_FLAGS, run: runRdkvBench, about: 'decode speed and memory of the full cache vs RDKV vs the baselines (bench/rdkv-bench.ts)' },
  'kernel-bench': { flags: KERNEL_BENCH_FLAGS, run: runKernelBench, about: 'kernel micro-benchmarks (bench/kernel-bench.ts)' },
  bench: { flags: BENCH_FLAGS, run: runBench, about: 'engine prefill and decode speed with random weights (bench/engine-bench.ts)' },
  ask: { flags: ASK_FLAGS, run: runAsk, about: 'answer a question about a document (src/cli/ask.ts)' },
  eval: { flags: EVAL_FLAGS, run: runEval, about: 'the seeded long-document question suite (bench/eval.ts)' },
  'eval-merge': { flags: EVAL_MERGE_FLAGS, run: runEvalMerge, about: 'one result from several eval calls of one model, policy and suite (bench/eval-merge.ts)' },
};

/** `--help` of one command: what it does and every option it takes. */
export function commandHelp(name: string): string {
  const c = COMMANDS[name];
  return `usage: npm run cli -- ${name} [options]\n${c.about}\noptions:\n${flagUsage(c.flags).replace(/^/gm, '  ')}`;
}
