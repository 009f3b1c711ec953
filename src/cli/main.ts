/**
 * Node entry: `npm run cli -- <command> [flags]`.
 *   generate --model DIR --prompt TEXT --max-tokens N [--greedy] [--temperature T --top-k K --top-p P --seed S] [--json]
 *   bench    (see bench/engine-bench.ts)
 */
import { parseArgs } from './args';
import { runGenerate } from './generate';
import { runVerify } from './verify';
import { runBench } from '../../bench/engine-bench';
import { runEval } from '../../bench/eval';
import { runAsk } from './ask';
import { runKernelBench } from '../../bench/kernel-bench';
import { runRdkvBench } from '../../bench/rdkv-bench';

const USAGE = `usage: npm run cli -- generate --model DIR --prompt TEXT --max-tokens N [--greedy] [--json]
           [--policy full|rdkv|uniform|snapkv|streaming] [--budget B|F|P%]
       npm run cli -- verify --fixture test/fixtures/llama-f32 [--kv f16|f32]
       npm run cli -- bench [--shape llama-3.2-1b] [--contexts 1024,8192] [--dtype bf16]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const args = parseArgs(rest, ['greedy', 'json', 'help', 'small']);
  switch (command) {
    case 'generate':
      return runGenerate(args);
    case 'verify':
      return runVerify(args);
    case 'rdkv-bench':
      return runRdkvBench(args);
    case 'kernel-bench':
      return runKernelBench(args);
    case 'bench':
      return runBench(args);
    case 'ask':
      return runAsk(args);
    case 'eval':
      return runEval(args);
    default:
      console.error(USAGE);
      return command === undefined || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
