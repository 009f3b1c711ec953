/** The page: load a model into the engine Worker, prompt it, stream the answer. Never touches WebGPU. */
import { Comlink, startEngineWorker } from '../worker/client';
import type { UploadProgress } from '../model/upload';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  adapter: $('adapter'),
  urlForm: $<HTMLFormElement>('url-form'),
  url: $<HTMLInputElement>('model-url'),
  files: $<HTMLInputElement>('model-files'),
  progress: $<HTMLProgressElement>('load-progress'),
  status: $('model-status'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  maxTokens: $<HTMLInputElement>('max-tokens'),
  greedy: $<HTMLInputElement>('greedy'),
  generate: $<HTMLButtonElement>('generate'),
  stop: $<HTMLButtonElement>('stop'),
  output: $('output'),
  stats: $('stats'),
  error: $('error'),
};

const { api } = startEngineWorker();
// Exposed for end-to-end tests and for developers poking at the engine from the console.
(window as unknown as { rdkv: typeof api }).rdkv = api;

function showError(e: unknown): void {
  ui.error.hidden = false;
  ui.error.textContent = e instanceof Error ? e.message : String(e);
}

function onProgress(p: UploadProgress): void {
  ui.progress.hidden = false;
  ui.progress.value = p.bytesTotal ? p.bytesLoaded / p.bytesTotal : 0;
  ui.status.textContent = `Loading ${p.tensorsLoaded}/${p.tensorsTotal} tensors, ${(p.bytesLoaded / 2 ** 20).toFixed(1)} of ${(p.bytesTotal / 2 ** 20).toFixed(1)} MiB`;
}

async function load(source: Parameters<typeof api.load>[0]): Promise<void> {
  ui.error.hidden = true;
  ui.generate.disabled = true;
  try {
    const info = await api.load(source, Comlink.proxy(onProgress));
    const c = info.config;
    ui.status.textContent = `Loaded ${info.model}: ${c.architecture}, ${c.nLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}, ${(info.weightBytes / 2 ** 20).toFixed(1)} MiB of weights`;
    ui.status.dataset.loaded = 'true';
    ui.adapter.textContent = `${info.adapter.vendor || 'unknown vendor'} ${info.adapter.architecture}${info.adapter.isFallbackAdapter ? ' (software adapter)' : ''}`;
    ui.generate.disabled = false;
  } catch (e) {
    ui.status.textContent = 'No model loaded.';
    showError(e);
  } finally {
    ui.progress.hidden = true;
  }
}

ui.urlForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void load({ kind: 'url', baseUrl: new URL(ui.url.value, location.href).href });
});
ui.files.addEventListener('change', () => {
  if (ui.files.files?.length) void load({ kind: 'files', files: Array.from(ui.files.files) });
});

ui.generate.addEventListener('click', async () => {
  ui.error.hidden = true;
  ui.output.textContent = '';
  ui.generate.disabled = true;
  ui.stop.disabled = false;
  try {
    const result = await api.generate(
      {
        prompt: ui.prompt.value,
        maxTokens: Number(ui.maxTokens.value) || 64,
        sampling: ui.greedy.checked ? { greedy: true } : { temperature: 0.8, topP: 0.95, seed: Date.now() % 1e9 },
      },
      Comlink.proxy((_id: number, delta: string) => {
        ui.output.textContent += delta;
      }),
    );
    ui.output.textContent = result.text;
    ui.output.dataset.done = 'true';
    const tps = result.tokens.length / Math.max(result.decodeMs / 1000, 1e-9);
    ui.stats.textContent = `${result.promptTokens.length} prompt tokens in ${result.prefillMs.toFixed(0)} ms · ${result.tokens.length} tokens at ${tps.toFixed(1)} tokens/s · stop: ${result.stopReason}`;
  } catch (e) {
    showError(e);
  } finally {
    ui.generate.disabled = false;
    ui.stop.disabled = true;
  }
});
ui.stop.addEventListener('click', () => void api.stop());

ui.adapter.textContent = 'navigator.gpu' in navigator ? 'WebGPU available' : 'WebGPU is not available in this browser';
