/**
 * Conversations in IndexedDB: the conversation itself (document, messages, settings) under one key, and
 * the bulky parts — the cache report and the compressed cache — under their own keys, written after it.
 * A full quota can therefore lose at most the cache (the next question re-reads), never the conversation.
 *   conv:<id>    Conversation
 *   report:<id>  CacheReport
 *   cache:<id>   CacheSnapshot
 */
import { createStore, del, get, getMany, keys, set, type UseStore } from 'idb-keyval';
import type { CacheReport, CacheSnapshot } from '../worker/api';
import { guardQuota } from './quota';
import type { Settings } from './settings';

export interface StoredMessage {
  role: 'user' | 'assistant';
  content: string;
  /** Assistant messages: why generation ended, and its speed. */
  stopReason?: string;
  tokens?: number;
  /** The question was answered after a fresh prefill of document + question. */
  reread?: boolean;
}

export interface StoredDocument {
  name: string;
  text: string;
}

export interface Conversation {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  document: StoredDocument | null;
  messages: StoredMessage[];
  settings: Settings;
  /** Index of the question the document was last read for (the cached context starts there). */
  cacheStart?: number;
}

let store: UseStore | null = null;
function db(): UseStore {
  store ??= createStore('rdkv-conversations', 'kv');
  return store;
}

export function newConversationId(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export function titleFor(doc: StoredDocument | null, firstQuestion?: string): string {
  const base = firstQuestion?.trim() || doc?.name || 'New conversation';
  return base.length > 60 ? `${base.slice(0, 57)}…` : base;
}

export async function saveConversation(c: Conversation): Promise<void> {
  await guardQuota('the conversation', () => set(`conv:${c.id}`, c, db()));
}

export async function loadConversation(id: string): Promise<Conversation | undefined> {
  return get<Conversation>(`conv:${id}`, db());
}

export async function listConversations(): Promise<Conversation[]> {
  const ks = (await keys(db())).filter((k): k is string => typeof k === 'string' && k.startsWith('conv:'));
  const all = await getMany<Conversation>(ks, db());
  return all.filter((c): c is Conversation => !!c).sort((a, b) => b.updatedAt - a.updatedAt);
}

export async function deleteConversation(id: string): Promise<void> {
  await Promise.all([del(`conv:${id}`, db()), del(`report:${id}`, db()), del(`cache:${id}`, db())]);
}

export async function saveReport(id: string, r: CacheReport): Promise<void> {
  await guardQuota('the cache report', () => set(`report:${id}`, r, db()));
}

export async function loadReport(id: string): Promise<CacheReport | undefined> {
  return get<CacheReport>(`report:${id}`, db());
}

export async function saveCache(id: string, s: CacheSnapshot): Promise<void> {
  await guardQuota('the compressed cache', () => set(`cache:${id}`, s, db()));
}

export async function loadCache(id: string): Promise<CacheSnapshot | undefined> {
  return get<CacheSnapshot>(`cache:${id}`, db());
}

export async function deleteCache(id: string): Promise<void> {
  await del(`cache:${id}`, db());
}
