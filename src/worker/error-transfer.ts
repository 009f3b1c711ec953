/**
 * Comlink's default 'throw' handler keeps only message, name and stack. This one also carries an error's
 * own plain fields (file, tensor, requestedBytes, ...) and its cause's message, so the page can explain
 * what went wrong. Install it on both sides (worker entry and client).
 */
import * as Comlink from 'comlink';

type Plain = string | number | boolean | null;

interface SerializedError {
  isError: true;
  value: { message: string; name: string; stack?: string; fields: Record<string, Plain>; cause?: string };
}
type Serialized = SerializedError | { isError: false; value: unknown };

function ownFields(e: Error): Record<string, Plain> {
  const out: Record<string, Plain> = {};
  for (const [k, v] of Object.entries(e)) {
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

export function serializeThrown(value: unknown): Serialized {
  if (value instanceof Error) {
    const cause = value.cause instanceof Error ? value.cause.message : typeof value.cause === 'string' ? value.cause : undefined;
    return { isError: true, value: { message: value.message, name: value.name, stack: value.stack, fields: ownFields(value), cause } };
  }
  return { isError: false, value };
}

export function deserializeThrown(s: Serialized): never {
  if (s.isError) {
    const e = Object.assign(new Error(s.value.message), s.value.fields, { name: s.value.name, stack: s.value.stack });
    if (s.value.cause !== undefined) Object.defineProperty(e, 'cause', { value: s.value.cause });
    throw e;
  }
  throw s.value;
}

export function installErrorTransfer(): void {
  const base = Comlink.transferHandlers.get('throw');
  if (!base) return;
  Comlink.transferHandlers.set('throw', {
    canHandle: base.canHandle,
    serialize: (thrown: unknown) => [serializeThrown((thrown as { value: unknown }).value), []],
    deserialize: (s: unknown) => deserializeThrown(s as Serialized),
  });
}
