/** The EngineApi implementation: runs in the Worker (or in-thread in tests), owns the Engine. */
import { Engine } from '../engine/engine';
import type { EngineInfo } from '../engine/engine';
import { fileListModelFiles, urlModelFiles } from '../model/model-files';
import type { UploadProgress } from '../model/upload';
import type { EngineApi, GenerateRequest, ModelSource, WorkerGenerateResult } from './api';

export class EngineService implements EngineApi {
  private engine: Engine | null = null;
  private abort: AbortController | null = null;

  async load(source: ModelSource, onProgress?: (p: UploadProgress) => void): Promise<EngineInfo> {
    const files = source.kind === 'url' ? urlModelFiles(source.baseUrl) : fileListModelFiles(source.files);
    const engine = await Engine.load(files, { onProgress });
    this.engine?.destroy();
    this.engine = engine;
    return engine.info();
  }

  async encode(text: string, addBos = true): Promise<number[]> {
    return this.need().encode(text, addBos);
  }

  async generate(req: GenerateRequest, onToken?: (id: number, delta: string) => void): Promise<WorkerGenerateResult> {
    const engine = this.need();
    if (this.abort) throw new Error('a generation is already running');
    const ids = req.ids ?? (req.messages ? engine.encode(engine.renderChat(req.messages), false) : engine.encode(req.prompt ?? '', true));
    this.abort = new AbortController();
    try {
      return await engine.generate(ids, {
        maxTokens: req.maxTokens,
        sampling: req.sampling,
        stopStrings: req.stopStrings,
        keepLogits: req.keepLogits,
        continueContext: req.continueContext,
        onToken,
        signal: this.abort.signal,
      });
    } finally {
      this.abort = null;
    }
  }

  async stop(): Promise<void> {
    this.abort?.abort();
  }

  async info(): Promise<EngineInfo | null> {
    return this.engine?.info() ?? null;
  }

  private need(): Engine {
    if (!this.engine) throw new Error('no model is loaded');
    return this.engine;
  }
}
