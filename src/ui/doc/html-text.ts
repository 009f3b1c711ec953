/** HTML → readable plain text without a DOM (works in the Worker, in Node tests and on the page). */

const DROP = ['script', 'style', 'noscript', 'template', 'svg', 'head', 'iframe', 'object', 'canvas'];
const BLOCK =
  /^(p|div|section|article|header|footer|main|aside|nav|h[1-6]|ul|ol|table|tr|blockquote|pre|figure|figcaption|hr|dl|dt|dd|form|fieldset|details|summary|address)$/;

const NAMED: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', ndash: '–', mdash: '—', hellip: '…',
  lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', copy: '©', reg: '®', trade: '™', deg: '°', middot: '·',
  bull: '•', times: '×', divide: '÷', euro: '€', pound: '£', yen: '¥', sect: '§', para: '¶', laquo: '«', raquo: '»',
};

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z][a-z0-9]*);/gi, (m, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return NAMED[body.toLowerCase()] ?? m;
  });
}

export function htmlToText(html: string): string {
  let s = html.replace(/<!--[\s\S]*?-->/g, '').replace(/<!doctype[^>]*>/gi, '');
  const title = /<title\b[^>]*>([\s\S]*?)<\/title\s*>/i.exec(s)?.[1]?.trim();
  for (const tag of DROP) s = s.replace(new RegExp(`<${tag}\\b[^>]*>[\\s\\S]*?</${tag}\\s*>`, 'gi'), ' ');
  s = s.replace(/<(\/?)([a-z][a-z0-9]*)\b[^>]*>/gi, (_m, close: string, name: string) => {
    const tag = name.toLowerCase();
    if (tag === 'br') return '\n';
    if (tag === 'li') return close ? '' : '\n• ';
    if (tag === 'td' || tag === 'th') return close ? '\t' : '';
    if (BLOCK.test(tag)) return '\n\n';
    return '';
  });
  s = decodeEntities(s);
  const lines = s.split('\n').map((l) => l.replace(/[ \t\f\v\u00a0]+/g, ' ').trim());
  const body = lines.join('\n').replace(/\n{3,}/g, '\n\n').trim();
  const t = title ? decodeEntities(title).replace(/\s+/g, ' ') : '';
  return t && !body.startsWith(t) ? `${t}\n\n${body}`.trim() : body;
}
