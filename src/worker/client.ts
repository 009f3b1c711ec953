/** The page side: starts the engine Worker and wraps it in the typed EngineApi. */
import * as Comlink from 'comlink';
import type { EngineApi } from './api';
import { installErrorTransfer } from './error-transfer';

export type EngineRemote = Comlink.Remote<EngineApi>;

export function startEngineWorker(): { api: EngineRemote; worker: Worker } {
  installErrorTransfer();
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'rdkv-engine' });
  return { api: Comlink.wrap<EngineApi>(worker), worker };
}

export { Comlink };
