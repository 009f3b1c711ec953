/**
 * How a document and a conversation become chat messages. The question always comes last, so that it
 * sits in RDKV's observation window (the last 32 prompt positions) when the cache is compressed.
 */
import type { ChatMessage } from '../worker/api';

export interface PromptDocument {
  name: string;
  text: string;
}

export function documentPrompt(doc: PromptDocument | null, question: string): string {
  if (!doc) return question;
  return `Read the document and answer the question.\n\nDocument:\n${doc.text}\n\nQuestion: ${question}`;
}

export interface TurnMessage {
  role: 'user' | 'assistant';
  content: string;
}

/**
 * The chat messages of the cached context: messages from `start` (the question the document was read
 * for) to the end, with the document put in front of that first question.
 */
export function contextMessages(doc: PromptDocument | null, messages: readonly TurnMessage[], start: number): ChatMessage[] {
  const turns = messages.slice(start);
  return turns.map((m, i) => ({ role: m.role, content: i === 0 && m.role === 'user' ? documentPrompt(doc, m.content) : m.content }));
}
