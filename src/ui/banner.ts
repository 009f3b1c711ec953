/** The message banner under the top bar: errors with what to do, or notices. Never raw HTML. */
import { byId, el } from './dom';
import type { Explained } from './errors';

export function showProblem(x: Explained): void {
  const b = byId('banner');
  b.className = x.kind === 'aborted' ? 'banner info' : 'banner';
  b.dataset.kind = x.kind;
  const close = el('button', { type: 'button', class: 'small close', text: 'Dismiss' });
  close.addEventListener('click', clearBanner);
  b.replaceChildren(close, el('h2', { text: x.title }), el('p', { text: x.message }), x.hints.length ? el('ul', {}, ...x.hints.map((h) => el('li', { text: h }))) : '');
  b.hidden = false;
}

export function showNotice(title: string, message: string, kind = 'notice'): void {
  showProblem({ kind: 'aborted', title, message, hints: [] });
  byId('banner').dataset.kind = kind;
}

export function clearBanner(): void {
  const b = byId('banner');
  b.hidden = true;
  b.replaceChildren();
  delete b.dataset.kind;
}
