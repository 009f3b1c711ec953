/** Node helpers for the evaluation suite: the held-out haystack, prompt rendering and token counting. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createChatTemplate } from '../model/chat-template';
import { openCheckpoint, type ModelFiles } from '../model/model-files';
import { Tokenizer } from '../model/tokenizer';
import { documentQuestion } from '../model/document-prompt';

export const DEFAULT_MODEL_DIR = 'public/models/default';
export const HAYSTACK_FILE = 'src/eval/haystack.txt.gz';

export function loadHaystack(file = HAYSTACK_FILE): string {
  return gunzipSync(readFileSync(file)).toString('latin1');
}

/** The model's tokenizer and chat template without a GPU: renders and counts prompts for sizing a suite. */
export async function promptCounter(files: ModelFiles): Promise<(document: string, question: string) => number> {
  const ckpt = await openCheckpoint(files);
  const tok = await Tokenizer.load(ckpt.tokenizerJson, ckpt.tokenizerConfig, ckpt.config);
  const template = createChatTemplate({ template: ckpt.chatTemplate, bosToken: tok.bosToken, eosToken: tok.eosToken }, { fallback: 'plain' });
  return (document, question) =>
    tok.encode(template.render([{ role: 'user', content: documentQuestion(document, question) }]), { addBos: true }).length;
}
