/**
 * `verify --fixture DIR`: runs a transformers reference fixture (expected.json + logits.bin, written by
 * tools/fixtures/make_fixtures.py) through the engine and reports token agreement and logits error.
 */
import { readFile } from 'node:fs/promises';
import { Engine } from '../engine/engine';
import { nodeModelFiles } from '../model/model-files';
import { worstFixtureError } from '../ref/logits';
import { type Args, type CommandFlags, str, oneOf } from './args';

/** The options runVerify reads (the CLI rejects any other). */
export const VERIFY_FLAGS: CommandFlags = { values: { fixture: 'DIR', kv: 'f16|f32' }, booleans: [] };

export async function runVerify(args: Args): Promise<number> {
  const dir = str(args, 'fixture');
  const exp = JSON.parse(await readFile(`${dir}/expected.json`, 'utf8')) as {
    promptIds: number[];
    greedyTokens: number[];
    vocabSize: number;
  };
  const bin = await readFile(`${dir}/logits.bin`);
  const ref = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const kv = args.kv === undefined ? undefined : oneOf(args, 'kv', ['f16', 'f32'], 'f16');
  const engine = await Engine.load(await nodeModelFiles(dir), { kvDtype: kv });
  const n = exp.greedyTokens.length;
  const r = await engine.generate(exp.promptIds, { maxTokens: n, eosIds: [], keepLogits: true, sampling: { greedy: true } });
  const worst = worstFixtureError(r.logits ?? [], ref, exp.promptIds.length, exp.vocabSize);
  const same = r.tokens.length === n && r.tokens.every((t, i) => t === exp.greedyTokens[i]);
  const { adapter } = engine.info();
  console.log(
    JSON.stringify({ fixture: dir, tokensMatch: same, maxRelLogitError: worst, adapter: `${adapter.vendor} ${adapter.architecture}` }),
  );
  engine.destroy();
  return same ? 0 : 1;
}
