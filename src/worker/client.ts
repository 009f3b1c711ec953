/** The page side: starts the engine Worker and wraps it in the typed EngineApi. */
import * as Comlink from 'comlink';
import type { EngineApi } from './api';

export function startEngineWorker(): { api: Comlink.Remote<EngineApi>; worker: Worker } {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'rdkv-engine' });
  return { api: Comlink.wrap<EngineApi>(worker), worker };
}

export { Comlink };
