/**
 * The model panel: the embedded default model, "Open model folder" (directory picker or file input),
 * "Load from URL" (downloaded into IndexedDB with byte progress, resumable), the stored models with their
 * sizes, storage estimate and persistence. Says whether a model fits before loading it.
 */
import { deleteModel, getModel, listModels, readStored, storedBytes, totalBytes, type StoredModel } from '../storage/model-store';
import { downloadModel, inspectRemoteModel, modelIdForUrl, normalizeBaseUrl } from '../storage/model-download';
import { requestPersistence, storageInfo } from '../storage/quota';
import type { EngineInfo, ModelSource, UploadProgress } from '../worker/api';
import { Comlink } from '../worker/client';
import type { App } from './app';
import { clearBanner, showProblem } from './banner';
import { deviceBudget } from './cost';
import { byId, el } from './dom';
import { explainError } from './errors';
import { formatBytes, formatPct } from './format';
import { modelFit, modelShape, type FitVerdict } from './model-fit';

export const DEFAULT_MODEL_URL = 'models/default/';

interface Sized {
  weightBytes: number;
  config: Record<string, unknown> | null;
}

export class ModelPanel {
  private lastSource: { source: ModelSource; label: string } | null = null;
  private download: AbortController | null = null;

  constructor(private readonly app: App) {
    byId('load-default').addEventListener('click', () => void this.loadUrl(DEFAULT_MODEL_URL, 'embedded model', true));
    byId('open-folder').addEventListener('click', () => void this.openFolder());
    byId<HTMLInputElement>('model-files').addEventListener('change', (e) => {
      const files = Array.from((e.target as HTMLInputElement).files ?? []);
      if (files.length) void this.loadFiles(files);
    });
    byId<HTMLFormElement>('url-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const url = byId<HTMLInputElement>('model-url').value.trim();
      if (url) void this.downloadAndLoad(url);
    });
    byId('cancel-download').addEventListener('click', () => this.download?.abort());
    byId('persist').addEventListener('click', () => void requestPersistence().then(() => this.refreshStored()));
    void this.refreshStored();
  }

  /** Loads the embedded model on first open when this build has one (`?autoload=0` opens without it). */
  async autoload(): Promise<void> {
    if (new URLSearchParams(location.search).get('autoload') === '0') {
      byId('model-status').textContent = 'No model loaded (autoload=0): open a model folder or load one from a URL.';
      return;
    }
    const res = await fetch(new URL(`${DEFAULT_MODEL_URL}config.json`, location.href)).catch(() => null);
    const isJson = !!res?.ok && !/text\/html/i.test(res.headers.get('content-type') ?? '') && (await res.json().then(() => true, () => false));
    if (isJson) await this.loadUrl(DEFAULT_MODEL_URL, 'embedded model', false);
    else byId('model-status').textContent = 'No embedded model in this build: open a model folder or load one from a URL.';
  }

  /** Loads the same model again (after a lost device). */
  async reload(): Promise<void> {
    if (this.lastSource) await this.load(this.lastSource.source, this.lastSource.label, null);
  }

  private setStatus(text: string): void {
    byId('model-status').textContent = text;
  }

  private progress(loaded: number, total: number, text: string): void {
    byId('load-box').hidden = false;
    byId<HTMLProgressElement>('load-progress').value = total ? loaded / total : 0;
    byId('load-text').textContent = text;
  }

  private showFit(v: FitVerdict | null): void {
    const p = byId('fit-verdict');
    p.hidden = !v;
    if (!v) return;
    p.textContent = v.message;
    p.className = v.fits ? 'fit' : 'fit bad';
    p.dataset.fits = String(v.fits);
  }

  private fit(sized: Sized): FitVerdict {
    const mem = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
    const dev = deviceBudget(this.app.probe?.limits ?? {}, mem);
    return modelFit(sized.weightBytes, sized.config ? modelShape(sized.config) : null, dev);
  }

  async loadUrl(url: string, label: string, confirmIfTooLarge: boolean): Promise<void> {
    const baseUrl = normalizeBaseUrl(url);
    let verdict: FitVerdict | null = null;
    try {
      const remote = await inspectRemoteModel(baseUrl);
      const weightBytes = remote.files.filter((f) => f.name.endsWith('.safetensors')).reduce((s, f) => s + f.size, 0);
      verdict = this.fit({ weightBytes, config: remote.config });
    } catch {
      verdict = null; // the loader itself names what is missing
    }
    this.showFit(verdict);
    if (verdict && !verdict.fits && confirmIfTooLarge && !confirm(`${verdict.message}\n\nLoad it anyway?`)) return;
    await this.load({ kind: 'url', baseUrl }, label, verdict);
  }

  private async loadFiles(files: File[]): Promise<void> {
    const cfg = files.find((f) => f.name === 'config.json');
    let config: Record<string, unknown> | null = null;
    try {
      config = cfg ? (JSON.parse(await cfg.text()) as Record<string, unknown>) : null;
    } catch {
      config = null;
    }
    const weightBytes = files.filter((f) => f.name.endsWith('.safetensors')).reduce((s, f) => s + f.size, 0);
    const verdict = config ? this.fit({ weightBytes, config }) : null;
    this.showFit(verdict);
    const top = (files[0] as File & { webkitRelativePath?: string }).webkitRelativePath?.split('/')[0];
    await this.load({ kind: 'files', files }, top || 'model folder', verdict);
  }

  private async openFolder(): Promise<void> {
    const picker = (window as unknown as { showDirectoryPicker?: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
    if (!picker) {
      byId<HTMLInputElement>('model-files').click();
      return;
    }
    let dir: FileSystemDirectoryHandle;
    try {
      dir = await picker.call(window);
    } catch {
      return; // cancelled
    }
    const files: File[] = [];
    for await (const entry of (dir as unknown as { values(): AsyncIterable<FileSystemHandle> }).values()) {
      if (entry.kind === 'file') files.push(await (entry as FileSystemFileHandle).getFile());
    }
    await this.load({ kind: 'files', files }, dir.name, null);
  }

  async loadStored(m: StoredModel): Promise<void> {
    let config: Record<string, unknown> | null = null;
    const cf = m.files.find((f) => f.name === 'config.json');
    try {
      if (cf) config = JSON.parse(new TextDecoder().decode(await readStored(m, cf, 0, cf.size))) as Record<string, unknown>;
    } catch {
      config = null;
    }
    const weightBytes = m.files.filter((f) => f.name.endsWith('.safetensors')).reduce((s, f) => s + f.size, 0);
    const verdict = this.fit({ weightBytes, config });
    this.showFit(verdict);
    await this.load({ kind: 'stored', id: m.id }, m.name, verdict);
  }

  private async downloadAndLoad(url: string): Promise<void> {
    this.download = new AbortController();
    byId('cancel-download').hidden = false;
    try {
      const remote = await inspectRemoteModel(url);
      const weightBytes = remote.files.filter((f) => f.name.endsWith('.safetensors')).reduce((s, f) => s + f.size, 0);
      const verdict = this.fit({ weightBytes, config: remote.config });
      this.showFit(verdict);
      if (!verdict.fits && !confirm(`${verdict.message}\n\nDownload it anyway?`)) return;
      const m = await downloadModel(url, {
        remote,
        signal: this.download.signal,
        onProgress: (p) => this.progress(p.bytesLoaded, p.bytesTotal, `Downloading ${formatBytes(p.bytesLoaded)} of ${formatBytes(p.bytesTotal)}`),
      });
      await this.refreshStored();
      await this.load({ kind: 'stored', id: m.id }, m.name, verdict);
    } catch (e) {
      if ((e as Error).name === 'AbortError') this.setStatus('Download paused; resume it from the stored models list.');
      else showProblem(explainError(e));
    } finally {
      this.download = null;
      byId('cancel-download').hidden = true;
      byId('load-box').hidden = true;
      await this.refreshStored();
    }
  }

  async load(source: ModelSource, label: string, verdict: FitVerdict | null): Promise<EngineInfo | null> {
    clearBanner();
    this.app.modelLost();
    this.setStatus(`Loading ${label}…`);
    byId('model-chip').textContent = 'loading…';
    byId('model-chip').className = 'chip';
    this.progress(0, 1, 'Reading the model…');
    try {
      const info = await this.app.api.load(
        source,
        Comlink.proxy((p: UploadProgress) => this.progress(p.bytesLoaded, p.bytesTotal, `${formatBytes(p.bytesLoaded)} of ${formatBytes(p.bytesTotal)} · tensor ${p.tensorsLoaded}/${p.tensorsTotal}`)),
      );
      this.lastSource = { source, label };
      const c = info.config;
      this.setStatus(`${info.model}: ${c.architecture}, ${c.nLayers} layers, ${c.nKvHeads} KV heads × ${c.headDim}, ${formatBytes(info.weightBytes)} of weights${verdict && !verdict.fits ? ' (above the planning budget)' : ''}.`);
      byId('model-status').dataset.loaded = 'true';
      byId('model-chip').textContent = info.model.replace(/\/$/, '').split('/').pop() || info.model;
      byId('model-chip').className = 'chip ok';
      this.app.modelLoaded(info);
      return info;
    } catch (e) {
      this.setStatus('No model loaded.');
      delete byId('model-status').dataset.loaded;
      byId('model-chip').textContent = 'no model';
      byId('model-chip').className = 'chip bad';
      showProblem(explainError(e));
      return null;
    } finally {
      byId('load-box').hidden = true;
    }
  }

  async refreshStored(): Promise<void> {
    const list = byId('stored-models');
    const models = await listModels().catch(() => []);
    list.replaceChildren(
      ...(models.length
        ? models.map((m) => {
            const size = m.complete ? formatBytes(totalBytes(m)) : `${formatBytes(storedBytes(m))} of ${formatBytes(totalBytes(m))}`;
            const load = el('button', { type: 'button', class: 'small', text: m.complete ? 'Load' : 'Resume' });
            load.addEventListener('click', () => void (m.complete ? this.loadStored(m) : this.downloadAndLoad(m.source)));
            const del = el('button', { type: 'button', class: 'small', text: 'Delete', title: `Delete ${m.name}` });
            del.addEventListener('click', () => void deleteModel(m.id).then(() => this.refreshStored()));
            return el('li', { 'data-model': m.id }, el('span', { class: 'name', title: m.source, text: `${m.name} · ${size}` }), load, del);
          })
        : [el('li', { class: 'empty', text: 'None yet. Models loaded from a URL are kept here for offline use.' })]),
    );
    const s = await storageInfo();
    byId('storage-info').textContent =
      s.usage !== null && s.quota !== null
        ? `Using ${formatBytes(s.usage)} of ${formatBytes(s.quota)} (${formatPct(s.usage / s.quota)})${s.persisted ? ' · persistent' : ' · may be evicted under pressure'}`
        : 'Storage estimate not available.';
    byId<HTMLButtonElement>('persist').hidden = s.persisted === true;
  }

  /** For tests: the id a URL download is stored under. */
  static idFor(url: string): string {
    return modelIdForUrl(url);
  }

  static async stored(id: string): Promise<StoredModel | undefined> {
    return getModel(id);
  }
}
