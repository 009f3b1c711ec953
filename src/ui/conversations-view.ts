/** The conversations list: open, delete, new. */
import { deleteConversation, listConversations, loadConversation } from '../storage/conversations';
import type { App } from './app';
import { showProblem } from './banner';
import { byId, el } from './dom';
import { explainError } from './errors';

export class ConversationsView {
  constructor(private readonly app: App) {
    byId('new-conv').addEventListener('click', () => this.app.newConversation());
  }

  async render(): Promise<void> {
    const list = byId('conv-list');
    const all = await listConversations().catch(() => []);
    list.replaceChildren(
      ...(all.length
        ? all.map((c) => {
            const open = el('button', { type: 'button', class: 'link name', title: c.title, text: c.title });
            open.addEventListener('click', () => void this.open(c.id));
            const del = el('button', { type: 'button', class: 'small', text: 'Delete', title: `Delete “${c.title}”` });
            del.addEventListener('click', () => void this.remove(c.id));
            const li = el('li', { 'data-conv': c.id, class: c.id === this.app.conv.id ? 'active' : undefined }, open, el('span', { class: 'muted small-text', text: `${c.messages.length} msg` }), del);
            return li;
          })
        : [el('li', { class: 'empty', text: 'Conversations are saved here automatically.' })]),
    );
  }

  private async open(id: string): Promise<void> {
    if (this.app.isBusy()) return;
    const c = await loadConversation(id);
    if (!c) return;
    try {
      await this.app.open(c);
    } catch (e) {
      showProblem(explainError(e));
    }
  }

  private async remove(id: string): Promise<void> {
    await deleteConversation(id);
    if (id === this.app.conv.id) this.app.newConversation();
    else await this.render();
  }
}
