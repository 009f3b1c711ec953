/**
 * The one error type for everything that can go wrong while loading a model: it names the file (and
 * the tensor, where there is one) so the UI can show the user what to fix.
 */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  /** The file at fault, e.g. 'config.json' or 'model-00002-of-00004.safetensors'. */
  readonly file: string;
  /** The tensor at fault, when there is one. */
  readonly tensor?: string;

  constructor(file: string, message: string, options: { tensor?: string; cause?: unknown } = {}) {
    super(`${file}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = file;
    if (options.tensor !== undefined) this.tensor = options.tensor;
  }
}

/** JSON.parse with an error that names the file. */
export function parseJsonFile(bytes: Uint8Array, file: string): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new ModelLoadError(file, 'is not valid UTF-8 text', { cause: e });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ModelLoadError(file, `is not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
