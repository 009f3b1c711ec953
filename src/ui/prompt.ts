/**
 * How a document and a conversation become chat messages: the document goes in front of the first question,
 * in the turn `npm run eval` measures (model/document-prompt.ts).
 */
import { documentQuestion } from '../model/document-prompt';
import type { ChatMessage } from '../worker/api';

export interface PromptDocument {
  name: string;
  text: string;
}

export function documentPrompt(doc: PromptDocument | null, question: string): string {
  return doc ? documentQuestion(doc.text, question) : question;
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
