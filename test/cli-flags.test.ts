/**
 * The CLI's options: every command declares the flags it takes (COMMANDS, src/cli/commands.ts) and
 * parseArgs rejects anything else before the command runs — an unknown or misspelt flag used to be
 * ignored silently (an older bundle ran `eval --from-item 8` from item 0). Checked here: the parser's
 * errors, that each command's list is exactly what its code reads, and that every command line in the
 * docs uses only flags its command takes.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closestName, editDistance, flagNames, intList, num, oneOf, oneOfList, parseArgs, type Args } from '../src/cli/args';
import { commandHelp, COMMANDS } from '../src/cli/commands';
import { POLICY_FLAGS, policyArgs } from '../src/cli/cache-json';
import { POLICIES } from '../src/rdkv/policies';

const names = Object.keys(COMMANDS);
const declared = (cmd: string) => [...Object.keys(COMMANDS[cmd].flags.values), ...COMMANDS[cmd].flags.booleans];
const parse = (cmd: string, ...argv: string[]) => parseArgs(argv, cmd, COMMANDS[cmd].flags);

describe('the commands', () => {
  it('are the eight of main.ts, each with its own options', () => {
    expect([...names].sort()).toEqual(['ask', 'bench', 'eval', 'eval-merge', 'generate', 'kernel-bench', 'rdkv-bench', 'verify']);
    expect(declared('eval')).toEqual(expect.arrayContaining(['from-item', 'per-cell', 'policy', 'budget', 'suite', 'json']));
    expect(declared('kernel-bench').sort()).toEqual(['out', 'profile', 'small']);
    for (const cmd of names) {
      const all = declared(cmd);
      expect(new Set(all).size, `${cmd} declares a flag twice`).toBe(all.length);
      expect(all, `${cmd}: help is every command's, not declared`).not.toContain('help');
    }
  });
});

describe('parseArgs', () => {
  it('parses known flags as before: values, switches, name=value, a lone --, values that start with one dash', () => {
    expect(parse('generate', '--model', 'm', '--prompt', 'Once upon', '--max-tokens', '32', '--greedy', '--json')).toEqual({
      _: [],
      model: 'm',
      prompt: 'Once upon',
      'max-tokens': '32',
      greedy: true,
      json: true,
    });
    expect(parse('eval', '--', '--per-cell=30', '--from-item', '8', '--budget', '10%', '--json=false')).toEqual({ _: [], 'per-cell': '30', 'from-item': '8', budget: '10%', json: false });
    expect(parse('generate', '--temperature', '-0.5', '--prompt', '-x', '--greedy=true')).toEqual({ _: [], temperature: '-0.5', prompt: '-x', greedy: true });
    expect(parse('generate', '--prompt=--not an option')).toEqual({ _: [], prompt: '--not an option' });
    expect(parse('kernel-bench', '--small', '--profile', 'false')).toEqual({ _: [], small: true, profile: 'false' });
    expect(parse('eval', '--help')).toEqual({ _: [], help: true });
    expect(parse('verify')).toEqual({ _: [] });
  });

  it.each(names)('%s takes every flag it declares', (cmd) => {
    const { values, booleans } = COMMANDS[cmd].flags;
    const argv = [...Object.keys(values).flatMap((n) => [`--${n}`, `v-${n}`]), ...booleans.map((n) => `--${n}`)];
    const expected = { _: [], ...Object.fromEntries(Object.keys(values).map((n) => [n, `v-${n}`])), ...Object.fromEntries(booleans.map((n) => [n, true])) };
    expect(parse(cmd, ...argv)).toEqual(expected);
  });

  it.each(names)('%s rejects every flag it does not take (those of the other commands, and a made-up one)', (cmd) => {
    const others = new Set(names.flatMap(declared).filter((n) => !declared(cmd).includes(n)));
    others.add('no-such-flag');
    for (const flag of others) {
      const message = `${cmd}: unknown option --${flag}`;
      expect(() => parse(cmd, `--${flag}`, '1'), message).toThrow(message);
      expect(() => parse(cmd, `--${flag}=1`), message).toThrow(message);
    }
  });

  it('names the command, the flag, the closest known flag and the list', () => {
    expect(() => parse('eval', '--from-itme', '8')).toThrow(
      'eval: unknown option --from-itme (did you mean --from-item?); options: --model, --lengths, --tasks, --per-cell, --from-item, --seed, --policy, --budget, --seconds, --suite, --reference, --out, --emit, --json, --help',
    );
    expect(() => parse('generate', '--polcy', 'rdkv')).toThrow('generate: unknown option --polcy (did you mean --policy?); options: --model,');
    expect(() => parse('ask', '--max_tokens', '8')).toThrow('(did you mean --max-tokens?)');
    expect(() => parse('bench', '--context', '1024')).toThrow('bench: unknown option --context (did you mean --contexts?)');
    // Nothing close: no suggestion, still the list.
    expect(() => parse('verify', '--document', 'x')).toThrow(/^verify: unknown option --document; options: --fixture, --kv, --help$/);
  });

  it('does not take the next option as a value, nor run off the end', () => {
    expect(() => parse('generate', '--model', '--json')).toThrow('generate: --model needs a value (DIR), got the option --json; write --model=--json if the value really starts with --');
    expect(() => parse('eval', '--suite', '--', '--per-cell', '3')).toThrow('eval: --suite needs a value (FILE), got the option --');
    expect(() => parse('eval', '--per-cell')).toThrow('eval: --per-cell needs a value (N)');
  });

  it('rejects a flag given twice, a value after a switch, a bare word and a single-dash flag', () => {
    expect(() => parse('eval', '--policy', 'rdkv', '--policy', 'full')).toThrow('eval: --policy is given twice ("rdkv" and "full"); give it once');
    expect(() => parse('eval', '--json', 'false')).toThrow("eval: unexpected argument 'false' (--json is a switch and takes no value: write --json, or --json=false)");
    // `npm run eval --from-item 8` (no lone --): npm keeps the flag and passes the 8.
    expect(() => parse('eval', '8')).toThrow("eval: unexpected argument '8' (eval takes no bare words; options start with --, and with npm they go after a lone --: npm run eval -- --option value)");
    expect(() => parse('ask', 'doc.txt')).toThrow('npm run cli -- ask --option value');
    expect(() => parse('generate', '-json')).toThrow("generate: unexpected argument '-json' (options start with two dashes: --json)");
  });
});

describe('oneOf: a flag with a fixed set of values', () => {
  const spec = { values: { kv: 'f16|f32' }, booleans: [] };
  it('takes a listed value and falls back when the flag is absent', () => {
    expect(oneOf(parseArgs(['--kv', 'f32'], 'verify', spec), 'kv', ['f16', 'f32'], 'f16')).toBe('f32');
    expect(oneOf(parseArgs([], 'verify', spec), 'kv', ['f16', 'f32'], 'f16')).toBe('f16');
  });
  it('names the allowed values instead of quietly using the default', () => {
    expect(() => oneOf(parseArgs(['--kv=bf16'], 'verify', spec), 'kv', ['f16', 'f32'], 'f16')).toThrow(
      "--kv must be f16 or f32, got 'bf16'",
    );
    expect(() => oneOf(parseArgs(['--kv', 'fp8'], 'verify', spec), 'kv', ['f32', 'f16', 'bf16'], 'bf16')).toThrow(
      "--kv must be f32, f16 or bf16, got 'fp8'",
    );
  });
  it('is what the runners use for their fixed-value flags (verify --kv, bench --kv, rdkv-bench --dtype, kernel-bench --profile)', () => {
    const uses: [string, string][] = [
      ['src/cli/verify.ts', 'kv'],
      ['bench/engine-bench.ts', 'kv'],
      ['bench/rdkv-bench.ts', 'dtype'],
      ['bench/kernel-bench.ts', 'profile'],
    ];
    for (const [file, flag] of uses) expect(readFileSync(file, 'utf8'), file).toContain(`oneOf(args, '${flag}'`);
  });
});

describe('list flags', () => {
  const spec = { values: { lengths: 'N,N,...', tasks: 'T,T,...' }, booleans: [] };
  const parse = (...argv: string[]) => parseArgs(argv, 'eval', spec);
  it('parse whole numbers and listed names, and fall back when absent', () => {
    expect(intList(parse('--lengths', '4096,16384'), 'lengths', [4096])).toEqual([4096, 16384]);
    expect(intList(parse(), 'lengths', [4096, 8192])).toEqual([4096, 8192]);
    expect(oneOfList(parse('--tasks=vt,freq'), 'tasks', ['vt', 'freq', 'passkey'], ['passkey'])).toEqual(['vt', 'freq']);
    expect(oneOfList(parse(), 'tasks', ['vt', 'freq'], ['freq'])).toEqual(['freq']);
  });
  it.each([['4k'], ['4096,'], ['0'], ['1.5'], ['-8']])('reject --lengths %s, naming the entry', (v) => {
    expect(() => intList(parse(`--lengths=${v}`), 'lengths', [4096, 16384])).toThrow(/^--lengths: '.*' is not a whole number of tokens; .* e\.g\. 4096,16384$/);
  });
  it('show an example list when the flag has no default list', () => {
    expect(() => intList(parse('--lengths=x'), 'lengths', [])).toThrow("--lengths: 'x' is not a whole number of tokens; give numbers separated by commas, e.g. 4096,16384");
  });
  it('reject an entry outside the set, listing the set', () => {
    expect(() => oneOfList(parse('--tasks', 'vt,frq'), 'tasks', ['vt', 'freq'], ['vt'])).toThrow("--tasks: unknown 'frq'; choose from vt, freq");
  });
});

describe('policyArgs', () => {
  const parse = (...argv: string[]) => parseArgs(argv, 'ask', { values: POLICY_FLAGS, booleans: [] });
  it('takes each engine policy and a budget in tokens, as a retention or a percentage', () => {
    expect(POLICIES.map((p) => policyArgs(parse('--policy', p)).policy)).toEqual([...POLICIES]);
    expect(policyArgs(parse())).toEqual({ policy: 'full' });
    expect(policyArgs(parse('--policy', 'rdkv', '--budget', '1024.7'))).toEqual({ policy: 'rdkv', budget: { tokens: 1024 } });
    expect(policyArgs(parse('--policy', 'rdkv', '--budget', '0.05'))).toEqual({ policy: 'rdkv', budget: { retention: 0.05 } });
    expect(policyArgs(parse('--policy', 'rdkv', '--budget', '5%'))).toEqual({ policy: 'rdkv', budget: { retention: 0.05 } });
  });
  it('names the policies when given another, and rejects a budget that is not positive', () => {
    expect(() => policyArgs(parse('--policy', 'h2o'))).toThrow("--policy must be full, rdkv, uniform, snapkv or streaming, got 'h2o'");
    expect(() => policyArgs(parse('--budget', '0'))).toThrow('--budget must be positive, got 0');
  });
  it('rejects a percentage that is not one, or outside (0%, 100%], instead of a NaN retention', () => {
    for (const b of ['x%', '%', '0%', '150%', '-5%']) {
      expect(() => policyArgs(parse('--policy', 'rdkv', '--budget', b))).toThrow(`--budget as a percentage must be above 0% and at most 100%, got '${b}'`);
    }
    expect(policyArgs(parse('--policy', 'rdkv', '--budget', '100%'))).toEqual({ policy: 'rdkv', budget: { retention: 1 } });
  });
});

describe('num with a range', () => {
  const args = (v: string): Args => ({ _: [], n: v });
  it('returns values inside the range and the fallback when absent', () => {
    expect(num(args('3'), 'n', 1, { integer: true, min: 1 })).toBe(3);
    expect(num(args('0.5'), 'n', 1, { min: 0, max: 1 })).toBe(0.5);
    expect(num({ _: [] }, 'n', 7, { integer: true, min: 1 })).toBe(7);
  });
  it('names the option, the rule and the value when outside it', () => {
    expect(() => num({ _: [], chunk: '0' }, 'chunk', 512, { integer: true, min: 1 })).toThrow("--chunk must be a whole number >= 1, got '0'");
    expect(() => num({ _: [], 'per-cell': '2.5' }, 'per-cell', 10, { integer: true, min: 1 })).toThrow("--per-cell must be a whole number >= 1, got '2.5'");
    expect(() => num({ _: [], 'top-p': '1.5' }, 'top-p', 1, { min: 0, max: 1 })).toThrow("--top-p must be a number from 0 to 1, got '1.5'");
    expect(() => num({ _: [], temperature: '-1' }, 'temperature', 0, { min: 0 })).toThrow("--temperature must be a number >= 0, got '-1'");
    expect(() => num({ _: [], seed: ' ' }, 'seed', 0, { integer: true, min: 0 })).toThrow("--seed must be a number, got ' '");
  });
});

describe('closest-name suggestion', () => {
  it('counts edits, a swap of neighbours as one', () => {
    expect(editDistance('from-itme', 'from-item')).toBe(1);
    expect(editDistance('polcy', 'policy')).toBe(1);
    expect(editDistance('kv', 'kv')).toBe(0);
    expect(editDistance('', 'out')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
  it('suggests only a near name', () => {
    expect(closestName('lenghts', ['lengths', 'tasks'])).toBe('lengths');
    expect(closestName('Seconds', ['seconds', 'seed'])).toBe('seconds');
    expect(closestName('document', ['fixture', 'kv', 'help'])).toBeUndefined();
  });
});

describe('--help', () => {
  it('lists each command\'s options with what their values are', () => {
    const help = commandHelp('eval');
    for (const f of flagNames(COMMANDS.eval.flags)) expect(help).toContain(`\n  ${f}`);
    expect(help).toContain('--from-item K');
    expect(help).toContain('--policy full|rdkv|uniform|snapkv|streaming');
  });
});

// ---- each command's list is what its code reads ----

const RUNNERS: Record<string, string> = {
  generate: 'src/cli/generate.ts',
  verify: 'src/cli/verify.ts',
  ask: 'src/cli/ask.ts',
  eval: 'bench/eval.ts',
  'eval-merge': 'bench/eval-merge.ts',
  bench: 'bench/engine-bench.ts',
  'rdkv-bench': 'bench/rdkv-bench.ts',
  'kernel-bench': 'bench/kernel-bench.ts',
};
/** Helpers a runner hands its args to, and the file each lives in (str and num read the name they are given). */
const HELPERS: Record<string, string> = { policyArgs: 'src/cli/cache-json.ts' };

/** Flags a file reads: str/num/oneOf/intList/oneOfList(args, 'x'), args.x, args['x']; and the helpers it passes args to. */
function reads(file: string): { flags: Set<string>; helpers: Set<string> } {
  const src = readFileSync(file, 'utf8');
  const flags = new Set<string>();
  for (const m of src.matchAll(/\b(?:str|num|oneOf|intList|oneOfList)\(args, '([^']+)'/g)) flags.add(m[1]);
  for (const m of src.matchAll(/\bargs\.([A-Za-z_$][\w$]*)/g)) flags.add(m[1]);
  for (const m of src.matchAll(/\bargs\['([^']+)'\]/g)) flags.add(m[1]);
  const helpers = new Set<string>();
  for (const m of src.matchAll(/\b(\w+)\(args\s*[,)]/g)) if (!['str', 'num', 'oneOf', 'intList', 'oneOfList'].includes(m[1])) helpers.add(m[1]);
  return { flags, helpers };
}

describe('each command declares exactly the flags its code reads', () => {
  it('finds reads in a runner (the scan itself)', () => {
    const r = reads('bench/eval.ts');
    expect([...r.flags]).toEqual(expect.arrayContaining(['from-item', 'per-cell', 'suite', 'emit', 'reference', 'json', 'seconds']));
    expect([...r.helpers]).toEqual(['policyArgs']);
  });

  it.each(Object.entries(RUNNERS))('%s (%s)', (cmd, file) => {
    const { flags, helpers } = reads(file);
    for (const h of helpers) {
      expect(HELPERS[h], `${file} passes args to ${h}: add it to HELPERS so its reads are counted`).toBeDefined();
      for (const f of reads(HELPERS[h]).flags) flags.add(f);
    }
    expect(flags.has('_'), `${file} reads bare words, which parseArgs rejects`).toBe(false);
    expect([...flags].sort()).toEqual(declared(cmd).sort());
  });

  it('covers every command', () => {
    expect(Object.keys(RUNNERS).sort()).toEqual([...names].sort());
  });
});

// ---- the docs' command lines use only flags their command takes ----

function walk(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'node_modules' || f.startsWith('.') || f === '__pycache__' ? [] : walk(p, ext);
    return ext.test(f) ? [p] : [];
  });
}

const SCRIPTS = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;

interface DocCommand {
  file: string;
  line: number;
  command: string;
  flags: string[];
  text: string;
  /** `npm run eval --flag`: flags before a lone -- go to npm, not to the command. */
  noSeparator: boolean;
}

/**
 * Command lines in a file: `npm run cli -- CMD ...`, `npm run SCRIPT ...` for a script that runs
 * scripts/cli.mjs CMD, and `gpu-run.sh CMD ...` / `cli.mjs CMD ...`. A command line runs to the next one, a
 * backtick, a blank line, or (outside markdown) the end of a line that the next does not continue as a comment.
 */
function docCommands(file: string, text: string): DocCommand[] {
  const start = /npm run cli\s+--\s+([a-z][\w-]*)|npm run ([a-z][\w:-]*)|(?<![\w-])(?:gpu-run\.sh|cli\.mjs)[ \t]+([a-z][\w-]*)/g;
  const matches = [...text.matchAll(start)];
  const out: DocCommand[] = [];
  const markdown = file.endsWith('.md');
  matches.forEach((m, k) => {
    let command = m[1] ?? m[3];
    if (m[2] !== undefined) {
      const script = /\bscripts\/cli\.mjs ([a-z][\w-]*)/.exec(SCRIPTS[m[2]] ?? '');
      if (!script) return; // npm run cli without a command, npm run build, ...
      command = script[1];
    }
    const from = (m.index ?? 0) + m[0].length;
    const to = k + 1 < matches.length ? (matches[k + 1].index ?? text.length) : text.length;
    let seg = text.slice(from, to);
    const ends = [seg.indexOf('`'), seg.search(/\n[ \t]*\n/), markdown ? -1 : seg.search(/\n(?![ \t]*(\*(?!\/)|#|\/\/))/)].filter((i) => i >= 0);
    if (ends.length) seg = seg.slice(0, Math.min(...ends));
    seg = seg.replace(/(^|\s)#\s.*$/gm, '');
    const flags = [...seg.matchAll(/(?<![\w-])--([a-z][\w-]*)/g)].map((f) => f[1]);
    const line = text.slice(0, m.index).split('\n').length;
    out.push({ file, line, command, flags, text: (m[0] + seg).replace(/\s+/g, ' ').trim(), noSeparator: m[2] !== undefined && /^[ \t]*--[a-z]/.test(seg) });
  });
  return out;
}

const DOC_FILES = ['README.md', ...walk('docs', /\.md$/), 'bench/NOTES.md', ...walk('tools', /\.(py|sh)$/), ...walk('scripts', /\.(sh|mjs)$/), ...walk('src/cli', /\.ts$/), ...walk('bench', /\.ts$/)];

describe('command lines in the docs', () => {
  const found = DOC_FILES.flatMap((f) => docCommands(f, readFileSync(f, 'utf8')));

  it('finds them (the scan itself)', () => {
    const sample = docCommands(
      'x.md',
      '```sh\nnpm run cli -- ask --document d --question "q?" --json   # a --comment\nnpm run eval -- --per-cell 3\n```\n' +
        'Per layer (`npm run cli\n-- kernel-bench --small`) and `bash scripts/gpu-run.sh eval --suite s\n  --seconds 9; bash scripts/gpu-run.sh bench --kv f16` and `npm run eval --polcy x` `npm run build --x`; scripts/build-cli.mjs writes a bundle.',
    );
    expect(sample.map((c) => [c.command, c.flags, c.noSeparator])).toEqual([
      ['ask', ['document', 'question', 'json'], false],
      ['eval', ['per-cell'], false],
      ['kernel-bench', ['small'], false],
      ['eval', ['suite', 'seconds'], false],
      ['bench', ['kv'], false],
      ['eval', ['polcy'], true],
    ]);
    expect(found.length).toBeGreaterThan(40);
    expect(new Set(found.map((c) => c.command))).toEqual(new Set(names));
    expect(found.some((c) => c.file === 'README.md' && c.command === 'eval' && c.flags.includes('suite'))).toBe(true);
  });

  it('name only commands the CLI has, and pass flags after a lone -- with npm run', () => {
    const bad = found.filter((c) => !names.includes(c.command) || c.noSeparator).map((c) => `${c.file}:${c.line}: ${c.text}`);
    expect(bad).toEqual([]);
  });

  it('use only flags their command takes', () => {
    const bad = found.flatMap((c) =>
      names.includes(c.command) ? c.flags.filter((f) => f !== 'help' && !declared(c.command).includes(f)).map((f) => `${c.file}:${c.line}: ${c.command} does not take --${f}: ${c.text}`) : [],
    );
    expect(bad).toEqual([]);
  });
});

// ---- the real entry: one process ----

describe('npm run cli (scripts/cli.mjs)', () => {
  it('stops at an unknown flag with exit 1 and one line naming the command and the flag, before any work', () => {
    const r = spawnSync(process.execPath, ['scripts/cli.mjs', 'eval', '--from-itme', '8'], { encoding: 'utf8', timeout: 120_000 });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 1, stdout: '' });
    expect(r.stderr.trim().split('\n')).toEqual([`error: eval: unknown option --from-itme (did you mean --from-item?); options: ${flagNames(COMMANDS.eval.flags).join(', ')}`]);
  }, 180_000);
});
