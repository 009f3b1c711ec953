/** The settings form: shows the stored settings, validates edits, persists them on every change. */
import { loadSettings, normalizeSettings, saveSettings, type Settings } from '../storage/settings';
import { byId } from './dom';

export class SettingsForm {
  private value: Settings;
  private readonly form = byId<HTMLFormElement>('settings-form');

  constructor(private readonly onChange: (s: Settings) => void) {
    this.value = loadSettings();
    this.show();
    this.form.addEventListener('change', () => this.read());
    this.form.addEventListener('submit', (e) => e.preventDefault());
  }

  get(): Settings {
    return { ...this.value };
  }

  set(s: Settings): void {
    this.value = normalizeSettings(s);
    this.show();
    saveSettings(this.value);
    this.onChange(this.get());
  }

  private input(id: string): HTMLInputElement {
    return byId<HTMLInputElement>(id);
  }

  private show(): void {
    const s = this.value;
    byId<HTMLSelectElement>('set-policy').value = s.policy;
    this.input('set-mode-tokens').checked = s.budgetMode === 'tokens';
    this.input('set-mode-retention').checked = s.budgetMode === 'retention';
    this.input('set-budget-tokens').value = String(s.budgetTokens);
    this.input('set-retention').value = String(s.retentionPct);
    this.input('set-budget-tokens').disabled = s.budgetMode !== 'tokens';
    this.input('set-retention').disabled = s.budgetMode !== 'retention';
    this.input('set-greedy').checked = s.greedy;
    this.input('set-temperature').value = String(s.temperature);
    this.input('set-top-p').value = String(s.topP);
    this.input('set-top-k').value = String(s.topK);
    for (const id of ['set-temperature', 'set-top-p', 'set-top-k']) this.input(id).disabled = s.greedy;
    this.input('set-max-tokens').value = String(s.maxTokens);
  }

  private read(): void {
    this.set({
      policy: byId<HTMLSelectElement>('set-policy').value as Settings['policy'],
      budgetMode: this.input('set-mode-retention').checked ? 'retention' : 'tokens',
      budgetTokens: Number(this.input('set-budget-tokens').value),
      retentionPct: Number(this.input('set-retention').value),
      greedy: this.input('set-greedy').checked,
      temperature: Number(this.input('set-temperature').value),
      topP: Number(this.input('set-top-p').value),
      topK: Number(this.input('set-top-k').value),
      maxTokens: Number(this.input('set-max-tokens').value),
    });
  }
}
