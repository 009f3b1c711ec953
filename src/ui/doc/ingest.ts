/**
 * Documents: what a file is (by magic bytes, extension and content), its text, and clear errors for what
 * cannot be read. Pure except ingestFile, which reads a File (and loads pdf.js only for PDFs).
 */
import { htmlToText } from './html-text';

export type DocKind = 'txt' | 'md' | 'html' | 'pdf';
export type DocErrorReason = 'binary' | 'oversized' | 'unreadable' | 'empty';

/** Largest file accepted (PDFs carry much more than their text). */
export const MAX_TEXT_FILE_BYTES = 16 * 1024 * 1024;
export const MAX_PDF_FILE_BYTES = 64 * 1024 * 1024;
/** Largest text kept: about 128K tokens of English is ~520K characters; allow some slack. */
export const MAX_TEXT_CHARS = 1_000_000;

export class DocumentError extends Error {
  override name = 'DocumentError';
  constructor(
    readonly reason: DocErrorReason,
    message: string,
  ) {
    super(message);
  }
}

export interface IngestedDocument {
  name: string;
  kind: DocKind;
  text: string;
  /** Size of the file (or of the pasted text in UTF-8). */
  bytes: number;
}

const MAGIC: [string, number[]][] = [
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['a GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['a ZIP archive (or an Office document)', [0x50, 0x4b, 0x03, 0x04]],
  ['a gzip archive', [0x1f, 0x8b]],
  ['an executable (ELF)', [0x7f, 0x45, 0x4c, 0x46]],
  ['a WebAssembly module', [0x00, 0x61, 0x73, 0x6d]],
  ['a safetensors or other binary file', [0xff, 0xfe, 0x00, 0x00]],
];

function startsWith(bytes: Uint8Array, sig: number[]): boolean {
  return bytes.length >= sig.length && sig.every((b, i) => bytes[i] === b);
}

export function isPdf(bytes: Uint8Array): boolean {
  return startsWith(bytes, [0x25, 0x50, 0x44, 0x46, 0x2d]); // %PDF-
}

/** Why these bytes are not text, or null when they look like text. */
export function binaryReason(bytes: Uint8Array): string | null {
  for (const [what, sig] of MAGIC) if (startsWith(bytes, sig)) return `it is ${what}`;
  const n = Math.min(bytes.length, 64 * 1024);
  let control = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 0) return 'it contains NUL bytes (a binary file)';
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) control++;
  }
  if (n > 0 && control / n > 0.05) return 'too many control characters for a text file';
  return null;
}

/** UTF-8 (BOM stripped) or UTF-16 with a BOM; throws DocumentError for anything else. */
export function decodeText(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  const why = binaryReason(bytes);
  if (why) throw new DocumentError('binary', `This file cannot be read as a document: ${why}. Open a .txt, .md, .html or .pdf file.`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    // Legacy 8-bit text (Latin-1 / Windows-1252) rather than garbage: decode it leniently.
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

export function kindFromName(name: string, mime = ''): DocKind | null {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? '';
  if (ext === 'pdf' || mime === 'application/pdf') return 'pdf';
  if (ext === 'html' || ext === 'htm' || ext === 'xhtml' || mime === 'text/html') return 'html';
  if (ext === 'md' || ext === 'markdown' || mime === 'text/markdown') return 'md';
  if (ext === 'txt' || ext === 'text' || mime.startsWith('text/')) return 'txt';
  return null;
}

/** Normalises line ends and trims; checks the text is neither empty nor oversized. */
export function finishText(name: string, text: string): string {
  const t = text.replace(/\r\n?/g, '\n').replaceAll('\u0000', '').trim();
  if (!t) throw new DocumentError('empty', `${name} contains no text${name.toLowerCase().endsWith('.pdf') ? ' (a scanned PDF has only images; run OCR first)' : ''}.`);
  if (t.length > MAX_TEXT_CHARS) {
    throw new DocumentError('oversized', `${name} has ${t.length.toLocaleString('en-US')} characters; the limit is ${MAX_TEXT_CHARS.toLocaleString('en-US')} (about 250K tokens). Split it or paste a part.`);
  }
  return t;
}

/** Text documents from their bytes (everything but PDF). */
export function textDocument(name: string, bytes: Uint8Array, mime = ''): IngestedDocument {
  if (bytes.length > MAX_TEXT_FILE_BYTES) {
    throw new DocumentError('oversized', `${name} is ${(bytes.length / 2 ** 20).toFixed(1)} MiB; text documents up to ${MAX_TEXT_FILE_BYTES / 2 ** 20} MiB are accepted.`);
  }
  const kind = kindFromName(name, mime) ?? 'txt';
  const raw = decodeText(bytes);
  const looksHtml = kind === 'html' || (kind === 'txt' && /^\s*(<!doctype html|<html[\s>])/i.test(raw));
  const text = finishText(name, looksHtml ? htmlToText(raw) : raw);
  return { name, kind: looksHtml ? 'html' : kind, text, bytes: bytes.length };
}

export function pastedDocument(text: string, name = 'Pasted text'): IngestedDocument {
  return { name, kind: 'txt', text: finishText(name, text), bytes: new TextEncoder().encode(text).length };
}

/** Reads a picked or dropped file into a document (PDF text through pdf.js, loaded on demand). */
export async function ingestFile(file: File): Promise<IngestedDocument> {
  let bytes: Uint8Array;
  try {
    const limit = Math.max(MAX_PDF_FILE_BYTES, MAX_TEXT_FILE_BYTES);
    if (file.size > limit) throw new DocumentError('oversized', `${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB; the limit is ${limit / 2 ** 20} MiB.`);
    bytes = new Uint8Array(await file.arrayBuffer());
  } catch (e) {
    if (e instanceof DocumentError) throw e;
    throw new DocumentError('unreadable', `${file.name} could not be read (${(e as Error).message}).`);
  }
  if (isPdf(bytes)) {
    const { pdfText } = await import('./pdf-text');
    const text = await pdfText(bytes, file.name);
    return { name: file.name, kind: 'pdf', text: finishText(file.name, text), bytes: bytes.length };
  }
  if (kindFromName(file.name, file.type) === 'pdf') throw new DocumentError('unreadable', `${file.name} is named .pdf but is not a PDF file.`);
  return textDocument(file.name, bytes, file.type);
}
