/**
 * The page controller: the current conversation, the engine's state, and the question flow (prefill →
 * compress → stream, follow-ups from the cache, re-read, regenerate, stop), with everything persisted.
 */
import {
  deleteCache,
  loadCache,
  loadReport,
  newConversationId,
  saveCache,
  saveConversation,
  saveReport,
  titleFor,
  type Conversation,
  type StoredDocument,
  type StoredMessage,
} from '../storage/conversations';
import { budgetOf, budgetTokensFor, samplingOf, type Settings } from '../storage/settings';
import type { CacheReport, DeviceProbe, EngineInfo, PrefillProgress, WorkerGenerateResult } from '../worker/api';
import { Comlink, type EngineRemote } from '../worker/client';
import { showProblem } from './banner';
import { messageItem, renderMessages, streamingItem } from './chat-view';
import { byId } from './dom';
import { explainError } from './errors';
import { formatDuration, formatRate } from './format';
import { CachePanel } from './heatmap/cache-panel';
import { contextMessages } from './prompt';
import { renderStats } from './stats-panel';

export interface AppHooks {
  settings: () => Settings;
  /** Called when the conversation list may have changed. */
  conversationsChanged: () => void;
  /** Called when the document or the model changed (cost estimate). */
  documentChanged: () => void;
}

export class App {
  info: EngineInfo | null = null;
  probe: DeviceProbe | null = null;
  conv: Conversation;
  report: CacheReport | null = null;
  /** The engine's cache holds this conversation's context from message `conv.cacheStart`. */
  private contextValid = false;
  private busy = false;
  private readonly cache = new CachePanel();
  private readonly messages = byId('messages');

  constructor(
    readonly api: EngineRemote,
    private readonly hooks: AppHooks,
  ) {
    this.conv = this.blank();
    byId('cache-host').append(this.cache.root);
    byId('cache-host').hidden = true;
    byId<HTMLFormElement>('ask-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.ask(false);
    });
    byId('reread').addEventListener('click', () => void this.ask(true));
    byId('stop').addEventListener('click', () => void this.api.stop());
    byId('cancel-prefill').addEventListener('click', () => void this.api.stop());
    byId<HTMLTextAreaElement>('question').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        void this.ask(false);
      }
    });
    this.renderChat();
  }

  private blank(): Conversation {
    const now = Date.now();
    return { id: newConversationId(), title: 'New conversation', createdAt: now, updatedAt: now, document: null, messages: [], settings: this.hooks.settings() };
  }

  isBusy(): boolean {
    return this.busy;
  }

  /** After a model (re)load: nothing of any conversation is in the cache any more. */
  modelLoaded(info: EngineInfo): void {
    this.info = info;
    this.contextValid = false;
    this.updateControls();
    this.hooks.documentChanged();
    void this.refreshStats();
    if (this.conv.messages.length) void this.resume();
  }

  /** Something else used the engine's cache (compare): the next question reads the document again. */
  invalidateContext(): void {
    this.contextValid = false;
  }

  setBusy(b: boolean): void {
    this.busy = b;
    this.updateControls();
  }

  modelLost(): void {
    this.info = null;
    this.contextValid = false;
    this.updateControls();
  }

  setDocument(doc: StoredDocument): void {
    this.conv.document = doc;
    this.contextValid = false;
    if (!this.conv.messages.length) this.conv.title = titleFor(doc);
    void this.persist();
    this.hooks.documentChanged();
    this.updateControls();
  }

  newConversation(): void {
    this.conv = this.blank();
    this.contextValid = false;
    this.report = null;
    byId('cache-host').hidden = true;
    byId('cache-empty').hidden = false;
    this.renderChat();
    this.hooks.documentChanged();
    this.hooks.conversationsChanged();
  }

  /** Opens a stored conversation; with a saved cache and the same model, no prefill is needed. */
  async open(c: Conversation): Promise<void> {
    this.conv = c;
    this.contextValid = false;
    this.report = (await loadReport(c.id)) ?? null;
    this.renderChat();
    this.hooks.documentChanged();
    this.hooks.conversationsChanged();
    if (this.report) await this.showReport(this.report, null);
    else {
      byId('cache-host').hidden = true;
      byId('cache-empty').hidden = false;
    }
    await this.resume();
  }

  /** Restores the saved compressed cache into the engine, when there is one for this model. */
  private async resume(): Promise<void> {
    const hint = byId('chat-hint');
    delete byId('chat-panel').dataset.resumed;
    if (!this.info || !this.conv.messages.length) return;
    const snap = await loadCache(this.conv.id).catch(() => undefined);
    if (!snap) {
      hint.textContent = 'The next question reads the document again (no saved cache).';
      byId('chat-panel').dataset.resumed = 'reread';
      return;
    }
    try {
      await this.api.importCache(snap);
      this.contextValid = true;
      hint.textContent = 'Resumed from the saved compressed cache: no prefill needed.';
      byId('chat-panel').dataset.resumed = 'cache';
      if (this.report) await this.showReport(this.report, snap.tokens.slice(0, this.report.T));
    } catch (e) {
      hint.textContent = `The next question reads the document again (${(e as Error).message}).`;
      byId('chat-panel').dataset.resumed = 'reread';
    }
  }

  renderChat(): void {
    renderMessages(this.messages, this.conv.messages, { regenerate: () => void this.regenerate(), busy: () => this.busy });
    this.updateControls();
  }

  updateControls(): void {
    const ready = !!this.info && !this.busy;
    const hasDoc = !!this.conv.document;
    byId<HTMLButtonElement>('ask').disabled = !ready;
    byId<HTMLButtonElement>('reread').disabled = !ready || !hasDoc || !this.conv.messages.length;
    byId<HTMLButtonElement>('stop').disabled = !this.busy;
    byId<HTMLButtonElement>('compare-run').disabled = !ready || !this.conv.messages.some((m) => m.role === 'user');
    if (!this.info) byId('chat-hint').textContent = 'Load a model to ask questions.';
    else if (!hasDoc && !this.conv.messages.length) byId('chat-hint').textContent = 'Open or paste a document first (or ask without one).';
  }

  async regenerate(): Promise<void> {
    const msgs = this.conv.messages;
    if (this.busy || msgs[msgs.length - 1]?.role !== 'assistant') return;
    msgs.pop();
    const q = msgs.pop();
    if (!q) return;
    byId<HTMLTextAreaElement>('question').value = q.content;
    this.renderChat();
    await this.ask(true);
  }

  /** Asks the question in the box: fresh prefill (first question, re-read) or continue from the cache. */
  async ask(reread: boolean): Promise<void> {
    const box = byId<HTMLTextAreaElement>('question');
    const question = box.value.trim();
    if (!question || this.busy || !this.info) return;
    const s = this.hooks.settings();
    const fresh = reread || !this.contextValid || this.conv.cacheStart === undefined;
    this.conv.messages.push({ role: 'user', content: question });
    if (fresh) this.conv.cacheStart = this.conv.messages.length - 1;
    if (this.conv.messages.length === 1 || this.conv.title === 'New conversation') this.conv.title = titleFor(this.conv.document, question);
    this.conv.settings = s;
    box.value = '';
    this.busy = true;
    this.renderChat();
    await this.persist();
    const stream = streamingItem(this.messages);
    let result: WorkerGenerateResult | null = null;
    const t0 = performance.now();
    try {
      result = await this.api.generate(
        {
          messages: contextMessages(this.conv.document, this.conv.messages, this.conv.cacheStart ?? 0),
          maxTokens: s.maxTokens,
          sampling: samplingOf(s),
          continueContext: !fresh,
          policy: s.policy,
          budget: budgetOf(s),
        },
        Comlink.proxy((_id: number, delta: string) => stream.append(delta)),
        fresh ? Comlink.proxy((p: PrefillProgress) => this.prefillProgress(p, t0)) : undefined,
      );
    } catch (e) {
      showProblem(explainError(e, { budgetTokens: Math.round(budgetTokensFor(s, 1024)) }));
    } finally {
      this.busy = false;
      byId('prefill').hidden = true;
    }
    stream.node.remove();
    const prefillStopped = !!result && result.stopReason === 'aborted' && result.tokens.length === 0 && fresh;
    if (!result || prefillStopped) {
      // Nothing answered: the question goes back to the box; the cache no longer matches.
      this.conv.messages.pop();
      box.value = question;
      this.contextValid = false;
      this.renderChat();
      await this.persist();
      return;
    }
    const answer: StoredMessage = { role: 'assistant', content: result.text, stopReason: result.stopReason, tokens: result.tokens.length, reread: fresh && this.conv.messages.length > 1 ? true : undefined };
    this.conv.messages.push(answer);
    this.contextValid = true;
    this.messages.lastElementChild?.remove();
    this.renderChat();
    if (fresh) {
      this.report = result.report ?? null;
      if (this.report) await this.showReport(this.report, result.promptTokens.slice(0, this.report.T));
    }
    await this.persist(result.report);
    void this.refreshStats();
  }

  private prefillProgress(p: PrefillProgress, t0: number): void {
    const box = byId('prefill');
    box.hidden = false;
    const f = p.total ? p.done / p.total : 0;
    byId<HTMLProgressElement>('prefill-progress').value = f;
    const ms = performance.now() - t0;
    const tokens = f * p.promptTokens;
    const left = f > 0 ? (ms * (1 - f)) / f : NaN;
    byId('prefill-text').textContent = `Reading ${p.promptTokens.toLocaleString('en-US')} tokens · ${Math.round(100 * f)}% · ${formatRate(tokens, ms)} · ${f > 0 ? `${formatDuration(left)} left` : 'estimating…'}`;
  }

  async showReport(r: CacheReport, ids: number[] | null): Promise<void> {
    let pieces: string[] = [];
    if (ids && this.info) pieces = await this.api.tokenPieces(ids).catch(() => []);
    this.cache.set(r, pieces);
    byId('cache-host').hidden = false;
    byId('cache-empty').hidden = true;
  }

  /** Shows a report without an engine (tests and demos). */
  showReportWithPieces(r: CacheReport, pieces: string[]): void {
    this.report = r;
    this.cache.set(r, pieces);
    byId('cache-host').hidden = false;
    byId('cache-empty').hidden = true;
  }

  /** Saves the conversation first, then the report and the cache; a full quota loses at most those. */
  async persist(report?: CacheReport): Promise<void> {
    this.conv.updatedAt = Date.now();
    try {
      await saveConversation(this.conv);
      this.hooks.conversationsChanged();
      if (report) await saveReport(this.conv.id, report);
      if (report !== undefined || this.contextValid) {
        const snap = this.contextValid ? await this.api.exportCache().catch(() => null) : null;
        if (snap) await saveCache(this.conv.id, snap);
        else await deleteCache(this.conv.id);
      }
    } catch (e) {
      showProblem(explainError(e));
    }
  }

  async refreshStats(): Promise<void> {
    const s = await this.api.stats().catch(() => null);
    renderStats(this.probe, s, this.report?.compressedBytes ?? null);
  }

  /** Renders one finished message (used by compare to show answers in the same style). */
  static messageNode(m: StoredMessage): HTMLLIElement {
    return messageItem(m, 0, false, { regenerate: () => undefined, busy: () => true });
  }
}
