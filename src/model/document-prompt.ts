/**
 * The user turn that asks about a document: the document, a blank line, then `Question: ...`, the question
 * last (so that it sits in RDKV's observation window when the cache is compressed). The embedded model was
 * trained on exactly this (tools/train/tasks.py user_content, its model card's prompt format); the app,
 * `cli ask` and `npm run eval` all build the turn here, so the eval measures what the app asks.
 */
export function documentQuestion(document: string, question: string): string {
  return `${document}\n\nQuestion: ${question}`;
}
