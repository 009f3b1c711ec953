import { describe, expect, it } from 'vitest';
import { ChatTemplateError, createChatTemplate, renderChat, type ChatMessage } from '../src/model/chat-template';
import { ModelLoadError } from '../src/model/errors';

// Hand-written templates in the styles models ship.
const chatml =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const alternating =
  '{{ bos_token }}{% for message in messages %}' +
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'].strip() + ' [/INST]' }}{% else %}{{ ' ' + message['content'] + eos_token }}{% endif %}" +
  '{% endfor %}';

const conversation: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
];

describe('chat templates', () => {
  it('renders a ChatML template with and without the generation prompt', () => {
    const t = createChatTemplate({ template: chatml });
    expect(t.kind).toBe('model');
    expect(t.render(conversation)).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(t.render(conversation, { addGenerationPrompt: false })).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n');
  });

  it('passes bos_token and eos_token as strings', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: ' Hi ' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Bye' },
    ];
    expect(renderChat(alternating, msgs, { bosToken: '<s>', eosToken: '</s>' })).toBe('<s>[INST] Hi [/INST] Hello.</s>[INST] Bye [/INST]');
  });

  it("turns the template's raise_exception into a ChatTemplateError", () => {
    const t = createChatTemplate({ template: alternating, bosToken: '<s>', eosToken: '</s>' });
    expect(() => t.render([{ role: 'assistant', content: 'x' }])).toThrow(ChatTemplateError);
    expect(() => t.render([{ role: 'assistant', content: 'x' }])).toThrow(/Conversation roles must alternate/);
  });

  it('uses the default of a list of named templates, and passes extra variables', () => {
    const list = [
      { name: 'tool_use', template: 'tools' },
      { name: 'default', template: '{% if tools %}T{% endif %}{{ messages | length }}' },
    ];
    expect(renderChat(list, conversation)).toBe('2');
    expect(renderChat(list, conversation, { variables: { tools: [{ name: 'f' }] } })).toBe('T2');
  });

  it('refuses a model without a template unless the plain fallback is asked for', () => {
    expect(() => createChatTemplate({ template: null })).toThrow(ModelLoadError);
    expect(() => renderChat(undefined, conversation)).toThrow(/has no chat_template/);
    const plain = createChatTemplate({ template: null }, { fallback: 'plain' });
    expect(plain.kind).toBe('plain');
    expect(plain.render(conversation)).toBe('System: Be brief.\nUser: Hi\nAssistant:');
    expect(renderChat(null, conversation, { fallback: 'plain', addGenerationPrompt: false })).toBe('System: Be brief.\nUser: Hi\n');
  });

  it('names the file when the template does not parse', () => {
    expect(() => createChatTemplate({ template: '{% for m in messages %}' }, { file: 'chat_template.jinja' })).toThrow(
      /^chat_template\.jinja: chat_template does not parse as Jinja/,
    );
  });
});
