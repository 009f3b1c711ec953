/** Shared steps of the app-*.spec.ts end-to-end tests. */
import { expect, type Page } from '@playwright/test';

export const WIDTH_RGB: Record<number, [number, number, number]> = { 0: [214, 39, 40], 2: [254, 235, 170], 4: [120, 198, 121], 8: [35, 132, 67], 16: [0, 69, 41] };

/** Opens the app and waits until it has probed WebGPU. */
/** Opens the page; without the embedded model unless asked (its load competes for the CPU adapter). */
export async function openApp(page: Page, options: { embedded?: boolean } = {}): Promise<void> {
  await page.goto(options.embedded ? '/' : '/?autoload=0');
  await expect(page.locator('#adapter')).toHaveAttribute('data-webgpu', /true|false/);
}

/** Shows a synthetic report: 2 layers × 2 KV heads, width of (row, t) = [0,2,4,8,16][(row + t) % 5]. */
export async function showSyntheticReport(page: Page, T: number, headDim = 16): Promise<void> {
  await page.evaluate(
    ([T, d]) => {
      const W = [0, 2, 4, 8, 16];
      const rows = 4;
      const v = new Uint8Array(rows * T);
      for (let r = 0; r < rows; r++) for (let t = 0; t < T; t++) v[r * T + t] = W[(r + t) % 5];
      // Token 3 evicted everywhere, token 4 kept at 16 bits everywhere.
      for (let r = 0; r < rows; r++) {
        v[r * T + 3] = 0;
        v[r * T + 4] = 16;
      }
      const k = new Uint8Array(rows * d);
      for (let i = 0; i < k.length; i++) k[i] = W[(i * 3) % 5];
      const pieces = Array.from({ length: T }, (_, t) => (t === 3 ? ' evicted' : t === 4 ? ' kept' : ` w${t}`));
      const w = window as unknown as { rdkv: { showReport: (r: unknown, p: string[]) => void } };
      w.rdkv.showReport(
        {
          policy: 'rdkv', nLayers: 2, nKvHeads: 2, T, headDim: d, vWidths: v, kWidths: k,
          fullBytes: 2 * rows * T * d * 2, compressedBytes: Math.round(rows * T * d * 0.6), metadataBytes: 123, retention: 0.15,
          predictedDistortion: Float32Array.from([0.01, 0.02, 0.03, 0.04]), budgetTokens: 8,
        },
        pieces,
      );
    },
    [T, headDim] as const,
  );
}

/** The colour of cell (row, col) of a heatmap canvas, read at the centre of its pixels. */
export async function cellColor(page: Page, testid: string, row: number, col: number): Promise<number[]> {
  return page.evaluate(
    ([testid, row, col]) => {
      const c = document.querySelector<HTMLCanvasElement>(`canvas[data-testid="${testid}"]`)!;
      const d = c.dataset;
      const x = Math.floor((col + 0.5 - Number(d.col0)) / Number(d.colsPerPx));
      const y = Math.floor((row + 0.5 - Number(d.row0)) * Number(d.rowPx));
      const px = c.getContext('2d')!.getImageData(x, y, 1, 1).data;
      return [px[0], px[1], px[2]];
    },
    [testid, row, col] as const,
  );
}

/** A one-page PDF whose text is `text` (Helvetica, uncompressed), built by hand. */
export function tinyPdf(text: string): Buffer {
  const content = `BT /F1 18 Tf 72 720 Td (${text.replace(/[()\\]/g, '\\$&')}) Tj ET`;
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

export const SHORT_DOC =
  'The lighthouse on Gull Island was built in 1871. Its keeper, Marta Olsen, kept a cat named Pepper. ' +
  'Every evening Marta climbed the 112 steps to light the lamp. The island has no trees, only grass and stones.';

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `test-results/screenshots/${name}.png`, fullPage: true });
}
