/** The page: wires the panels to the engine Worker. Never touches WebGPU itself. */
import type { Settings } from '../storage/settings';
import type { CacheReport } from '../worker/api';
import { createChatCompletions } from '../worker/chat-completions';
import { Comlink, startEngineWorker } from '../worker/client';
import { App } from './app';
import { showProblem } from './banner';
import { ComparePanel } from './compare-panel';
import { ConversationsView } from './conversations-view';
import { DocumentPanel } from './document-panel';
import { byId } from './dom';
import { explainError } from './errors';
import { ModelPanel } from './model-panel';
import { SettingsForm } from './settings-form';
import { renderStats } from './stats-panel';

const { api } = startEngineWorker();

window.addEventListener('error', (e) => showProblem(explainError(e.error ?? e.message)));
window.addEventListener('unhandledrejection', (e) => showProblem(explainError(e.reason)));

let docs: DocumentPanel | null = null;
let convs: ConversationsView | null = null;
const settings = new SettingsForm(() => void docs?.render());
const get = (): Settings => settings.get();
const app = new App(api, {
  settings: get,
  conversationsChanged: () => void convs?.render(),
  documentChanged: () => void docs?.render(),
});
docs = new DocumentPanel(app, get);
convs = new ConversationsView(app);
const models = new ModelPanel(app);
new ComparePanel(app, get);
void convs.render();
void docs.render();

const net = byId('net-chip');
const online = () => (net.hidden = navigator.onLine);
window.addEventListener('online', online);
window.addEventListener('offline', online);
online();

// For developers embedding the engine (OpenAI-style) and for the end-to-end tests.
const openai = createChatCompletions(api, { wrap: Comlink.proxy, modelName: () => app.info?.model ?? 'none' });
Object.assign(window, {
  rdkv: { api, openai, app, showReport: (r: CacheReport, pieces: string[]) => app.showReportWithPieces(r, pieces) },
});

async function start(): Promise<void> {
  const chip = byId('adapter');
  try {
    app.probe = await api.probe();
    const a = app.probe.adapter;
    chip.textContent = `${a.vendor || 'GPU'} ${a.architecture || a.device}`.trim() + (a.isFallbackAdapter ? ' · software' : '');
    chip.className = a.isFallbackAdapter ? 'chip warn' : 'chip ok';
    chip.dataset.webgpu = 'true';
  } catch (e) {
    chip.textContent = 'no WebGPU';
    chip.className = 'chip bad';
    chip.dataset.webgpu = 'false';
    for (const id of ['load-default', 'open-folder']) byId<HTMLButtonElement>(id).disabled = true;
    showProblem(explainError(e));
    renderStats(null, null, null);
    return;
  }
  renderStats(app.probe, null, null);
  await api.onDeviceLost(
    Comlink.proxy((reason: string) => {
      app.modelLost();
      showProblem(explainError(Object.assign(new Error(`The GPU device was lost (${reason}).`), { name: 'DeviceLostError' })));
      void models.reload();
    }),
  );
  await models.autoload();
}

void start();

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`).catch((e: unknown) => console.warn('service worker not registered', e));
}
