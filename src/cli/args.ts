/**
 * A small `--flag value` parser for the CLI: strings, numbers and booleans, with clear errors. Each command
 * declares the options it takes (CommandFlags, next to the code that reads them); anything else is an error
 * before any work starts, so a misspelt or unsupported option never runs the command with its default.
 */
export type Args = { _: string[]; [flag: string]: string | boolean | string[] };

/** The options one command takes: value options (name → what the value is, for --help) and switches. */
export interface CommandFlags {
  readonly values: Readonly<Record<string, string>>;
  readonly booleans: readonly string[];
}

/** Every command takes --help (main prints the command's options instead of running it). */
export const HELP_FLAG = 'help';

/** The option names of a command, as written on the command line (--help last). */
export function flagNames(flags: CommandFlags): string[] {
  return [...Object.keys(flags.values), ...flags.booleans, HELP_FLAG].map((n) => `--${n}`);
}

/** One line per option: `--name VALUE` or `--name`. */
export function flagUsage(flags: CommandFlags): string {
  return [...Object.entries(flags.values).map(([n, v]) => `--${n} ${v}`), ...flags.booleans.map((n) => `--${n}`), `--${HELP_FLAG}`].join('\n');
}

/** Optimal string alignment distance: edits, with a swap of two neighbours counted as one. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name closest to `name`, if it is close enough to be a slip (a third of its letters, at least 2). */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(name.toLowerCase(), k);
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Parses `argv` (what follows the command name) against the command's declared options. Errors, each naming
 * the command: an option it does not take (with the closest one it does, and the list), an option given
 * twice, a value option at the end or followed by another option instead of its value, a bare word.
 */
export function parseArgs(argv: readonly string[], command: string, flags: CommandFlags): Args {
  const booleans = [...flags.booleans, HELP_FLAG];
  const known = [...Object.keys(flags.values), ...booleans];
  const out: Args = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') continue;
    if (!a.startsWith('--')) {
      const prev = i > 0 ? argv[i - 1] : '';
      const hint = booleans.includes(prev.slice(2))
        ? `${prev} is a switch and takes no value: write ${prev}, or ${prev}=false`
        : a.startsWith('-') && a.length > 1
          ? `options start with two dashes: --${a.replace(/^-+/, '')}`
          : `${command} takes no bare words; options start with --, and with npm they go after a lone --: ${npmExample(command)}`;
      throw new Error(`${command}: unexpected argument '${a}' (${hint}); options: ${flagNames(flags).join(', ')}`);
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq > 0 ? eq : undefined);
    if (!known.includes(name)) {
      const near = closestName(name, known);
      throw new Error(`${command}: unknown option --${name}${near ? ` (did you mean --${near}?)` : ''}; options: ${flagNames(flags).join(', ')}`);
    }
    let value: string | boolean;
    if (booleans.includes(name)) {
      value = eq > 0 ? a.slice(eq + 1) !== 'false' : true;
    } else if (eq > 0) {
      value = a.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new Error(`${command}: --${name} needs a value (${flags.values[name]})`);
      const next = argv[i + 1];
      if (next.startsWith('--')) {
        throw new Error(`${command}: --${name} needs a value (${flags.values[name]}), got the option ${next}; write --${name}=${next} if the value really starts with --`);
      }
      value = argv[++i];
    }
    if (out[name] !== undefined) throw new Error(`${command}: --${name} is given twice (${JSON.stringify(out[name])} and ${JSON.stringify(value)}); give it once`);
    out[name] = value;
  }
  return out;
}

/** How the command is run through npm, with the lone -- before the options. */
function npmExample(command: string): string {
  return command === 'eval' || command === 'bench' ? `npm run ${command} -- --option value` : `npm run cli -- ${command} --option value`;
}

export function str(args: Args, name: string, fallback?: string): string {
  const v = args[name];
  if (typeof v === 'string') return v;
  if (fallback !== undefined) return fallback;
  throw new Error(`--${name} is required`);
}

/** What a number option may be: a whole number, and its bounds (inclusive). */
export interface NumRange {
  integer?: boolean;
  min?: number;
  max?: number;
}

/** A number option; with `range`, a value outside it is an error that names the option, the rule and the value. */
export function num(args: Args, name: string, fallback?: number, range: NumRange = {}): number {
  const v = args[name];
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`--${name} is required`);
  }
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${String(v)}'`);
  const { integer = false, min, max } = range;
  const ok = (!integer || Number.isInteger(n)) && (min === undefined || n >= min) && (max === undefined || n <= max);
  if (!ok) {
    const kind = integer ? 'a whole number' : 'a number';
    const bounds = min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` >= ${min}` : max !== undefined ? ` <= ${max}` : '';
    throw new Error(`--${name} must be ${kind}${bounds}, got '${v}'`);
  }
  return n;
}

/** A string flag that must be one of `options` (the fallback when absent); anything else is an error naming them. */
export function oneOf<T extends string>(args: Args, name: string, options: readonly T[], fallback: T): T {
  const v = str(args, name, fallback);
  if (!(options as readonly string[]).includes(v)) {
    throw new Error(`--${name} must be ${options.slice(0, -1).join(', ')} or ${options[options.length - 1]}, got '${v}'`);
  }
  return v as T;
}

/** The example an intList error shows when the flag has no default list. */
const TOKEN_LIST_EXAMPLE = [4096, 16384];

/** A comma-separated list of whole numbers (token counts), each at least 1; `fallback` when the flag is absent. */
export function intList(args: Args, name: string, fallback: readonly number[]): number[] {
  const v = args[name];
  if (v === undefined) return [...fallback];
  return str(args, name)
    .split(',')
    .map((s) => {
      const n = Number(s);
      if (s.trim() === '' || !Number.isInteger(n) || n < 1) {
        throw new Error(`--${name}: '${s}' is not a whole number of tokens; give numbers separated by commas, e.g. ${(fallback.length ? fallback : TOKEN_LIST_EXAMPLE).join(',')}`);
      }
      return n;
    });
}

/** A comma-separated list whose every entry is one of `options`; `fallback` when the flag is absent. */
export function oneOfList<T extends string>(args: Args, name: string, options: readonly T[], fallback: readonly T[]): T[] {
  const v = args[name];
  if (v === undefined) return [...fallback];
  return str(args, name)
    .split(',')
    .map((s) => {
      if (!(options as readonly string[]).includes(s)) throw new Error(`--${name}: unknown '${s}'; choose from ${options.join(', ')}`);
      return s as T;
    });
}
