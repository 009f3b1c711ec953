/**
 * Chat templates: the Jinja template a model ships (chat_template.jinja or tokenizer_config.json's
 * chat_template), rendered with @huggingface/jinja and the variables transformers' apply_chat_template
 * passes (messages, add_generation_prompt, bos_token, eos_token; the library itself provides
 * raise_exception and strftime_now).
 */
import { Template } from '@huggingface/jinja';
import { ModelLoadError } from './errors';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

export interface RenderOptions {
  /** End with the header that starts the assistant's turn; default true. */
  addGenerationPrompt?: boolean;
  /** More template variables (e.g. tools, enable_thinking). */
  variables?: Record<string, unknown>;
}

export interface ChatTemplateSource {
  /** A template, a list of named templates ('default' is used, else the first), or null. */
  template: string | { name: string; template: string }[] | null;
  bosToken?: string | null;
  eosToken?: string | null;
}

/** A template that failed while rendering (including the template's own raise_exception). */
export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}

export interface ChatTemplate {
  /** 'model' when the model ships one; 'plain' for the fallback. */
  readonly kind: 'model' | 'plain';
  render(messages: readonly ChatMessage[], options?: RenderOptions): string;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The fallback for models without a template: "Role: content" lines, then "Assistant:". */
const plainTemplate: ChatTemplate = {
  kind: 'plain',
  render(messages, options = {}) {
    const lines = messages.map((m) => `${capitalize(m.role)}: ${m.content}\n`);
    if (options.addGenerationPrompt ?? true) lines.push('Assistant:');
    return lines.join('');
  },
};

function pickTemplate(t: ChatTemplateSource['template']): string | null {
  if (t === null) return null;
  if (typeof t === 'string') return t;
  return (t.find((x) => x.name === 'default') ?? t[0])?.template ?? null;
}

/**
 * Compiles the model's chat template. Without one this throws, unless `fallback: 'plain'` asks for the
 * plain "Role: content" format.
 */
export function createChatTemplate(source: ChatTemplateSource, options: { fallback?: 'plain'; file?: string } = {}): ChatTemplate {
  const file = options.file ?? 'tokenizer_config.json';
  const text = pickTemplate(source.template);
  if (text === null || text.trim() === '') {
    if (options.fallback === 'plain') return plainTemplate;
    throw new ModelLoadError(file, 'has no chat_template (and there is no chat_template.jinja): this model has no chat format; use plain text prompts');
  }
  let compiled: Template;
  try {
    compiled = new Template(text);
  } catch (e) {
    throw new ModelLoadError(file, `chat_template does not parse as Jinja: ${(e as Error).message}`, { cause: e });
  }
  return {
    kind: 'model',
    render(messages, renderOptions = {}) {
      try {
        return compiled.render({
          ...renderOptions.variables,
          messages: messages.map((m) => ({ ...m })),
          add_generation_prompt: renderOptions.addGenerationPrompt ?? true,
          bos_token: source.bosToken ?? '',
          eos_token: source.eosToken ?? '',
        });
      } catch (e) {
        throw new ChatTemplateError(`the chat template failed to render: ${(e as Error).message}`, { cause: e });
      }
    },
  };
}

export interface RenderChatOptions extends RenderOptions {
  bosToken?: string | null;
  eosToken?: string | null;
  fallback?: 'plain';
}

/** One-shot createChatTemplate(...).render(...); compile once with createChatTemplate when rendering often. */
export function renderChat(
  template: ChatTemplateSource['template'] | undefined,
  messages: readonly ChatMessage[],
  options: RenderChatOptions = {},
): string {
  const { bosToken, eosToken, fallback, ...render } = options;
  return createChatTemplate({ template: template ?? null, bosToken, eosToken }, { fallback }).render(messages, render);
}
