/** Renders the conversation: messages as plain text (never HTML), with copy and regenerate on answers. */
import type { StoredMessage } from '../storage/conversations';
import { el } from './dom';

export interface ChatHandlers {
  regenerate: () => void;
  busy: () => boolean;
}

async function copy(text: string, button: HTMLButtonElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Copy failed';
  }
  setTimeout(() => (button.textContent = 'Copy'), 1500);
}

export function messageItem(m: StoredMessage, index: number, isLast: boolean, h: ChatHandlers): HTMLLIElement {
  const text = el('p', { class: 'text', 'data-testid': m.role === 'assistant' ? 'answer' : 'question' });
  text.textContent = m.content;
  const li = el('li', { class: `msg ${m.role}`, 'data-index': index }, text);
  if (m.role === 'assistant') {
    const copyBtn = el('button', { type: 'button', class: 'small', text: 'Copy', 'data-action': 'copy' });
    copyBtn.addEventListener('click', () => void copy(text.textContent ?? '', copyBtn));
    const meta = el('div', { class: 'meta' }, copyBtn);
    if (isLast) {
      const regen = el('button', { type: 'button', class: 'small', text: 'Regenerate', 'data-action': 'regenerate' });
      regen.disabled = h.busy();
      regen.addEventListener('click', h.regenerate);
      meta.append(regen);
    }
    const notes: string[] = [];
    if (m.reread) notes.push('read the document for this question');
    if (m.stopReason === 'aborted') notes.push('stopped');
    else if (m.stopReason === 'length') notes.push('reached the token limit');
    if (m.tokens !== undefined) notes.push(`${m.tokens} tokens`);
    if (notes.length) meta.append(el('span', { text: notes.join(' · ') }));
    li.append(meta);
    if (m.stopReason) li.dataset.stop = m.stopReason;
  }
  return li;
}

export function renderMessages(list: HTMLElement, messages: readonly StoredMessage[], h: ChatHandlers): void {
  list.replaceChildren(...messages.map((m, i) => messageItem(m, i, i === messages.length - 1, h)));
}

/** A placeholder answer that grows as tokens stream in. */
export function streamingItem(list: HTMLElement): { append: (delta: string) => void; node: HTMLLIElement } {
  const text = el('p', { class: 'text', 'data-testid': 'answer' });
  const node = el('li', { class: 'msg assistant streaming' }, text);
  list.append(node);
  return { node, append: (d) => (text.textContent += d) };
}
