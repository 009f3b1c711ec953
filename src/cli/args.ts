/** A small `--flag value` parser for the CLI: strings, numbers and booleans, with clear errors. */
export type Args = { _: string[]; [flag: string]: string | boolean | string[] };

export function parseArgs(argv: readonly string[], booleans: readonly string[]): Args {
  const out: Args = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') continue;
    if (!a.startsWith('--')) {
      out._.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq > 0 ? eq : undefined);
    if (booleans.includes(name)) {
      out[name] = eq > 0 ? a.slice(eq + 1) !== 'false' : true;
    } else if (eq > 0) {
      out[name] = a.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      out[name] = argv[++i];
    }
  }
  return out;
}

export function str(args: Args, name: string, fallback?: string): string {
  const v = args[name];
  if (typeof v === 'string') return v;
  if (fallback !== undefined) return fallback;
  throw new Error(`--${name} is required`);
}

export function num(args: Args, name: string, fallback?: number): number {
  const v = args[name];
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`--${name} is required`);
  }
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${String(v)}'`);
  return n;
}
