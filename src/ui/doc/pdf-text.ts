/** PDF → text with pdf.js; its worker is bundled by Vite (no network needed). Loaded on demand. */
import { getDocument, GlobalWorkerOptions } from 'pdfjs-dist';
import workerUrl from 'pdfjs-dist/build/pdf.worker.min.mjs?url';
import { DocumentError } from './ingest';

GlobalWorkerOptions.workerSrc = workerUrl;

interface TextItemLike {
  str?: string;
  hasEOL?: boolean;
}

export async function pdfText(bytes: Uint8Array, name: string): Promise<string> {
  let pdf;
  try {
    pdf = await getDocument({ data: bytes.slice(), isEvalSupported: false, useSystemFonts: false, disableFontFace: true }).promise;
  } catch (e) {
    const msg = (e as Error).name === 'PasswordException' ? 'it is password-protected' : `pdf.js could not parse it (${(e as Error).message})`;
    throw new DocumentError('unreadable', `${name} cannot be read: ${msg}.`);
  }
  try {
    const pages: string[] = [];
    for (let i = 1; i <= pdf.numPages; i++) {
      const page = await pdf.getPage(i);
      const content = await page.getTextContent();
      let text = '';
      for (const item of content.items as TextItemLike[]) {
        text += item.str ?? '';
        if (item.hasEOL) text += '\n';
      }
      pages.push(text.trim());
      page.cleanup();
    }
    return pages.filter(Boolean).join('\n\n');
  } finally {
    await pdf.destroy();
  }
}
