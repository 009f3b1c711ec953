/** Colours of the bit widths: a sequential scale for 2…16 bits and a distinct red for 0 (evicted). */

export type Rgb = readonly [number, number, number];

export const WIDTH_COLORS: Readonly<Record<number, Rgb>> = Object.freeze({
  0: [214, 39, 40], // evicted / dropped: red, nothing else is red
  2: [254, 235, 170], // pale yellow
  4: [120, 198, 121], // light green
  8: [35, 132, 67], // green
  16: [0, 69, 41], // dark green: full precision
});

export const WIDTH_LABELS: Readonly<Record<number, string>> = Object.freeze({
  0: 'evicted (0 bits)',
  2: '2 bits',
  4: '4 bits',
  8: '8 bits',
  16: '16 bits (full)',
});

/** No data (outside the prompt). */
export const EMPTY: Rgb = [236, 236, 240];

/** 256-entry lookup: any byte → its width colour (unknown values grey). */
export const LUT: Uint8Array = (() => {
  const t = new Uint8Array(256 * 3);
  for (let w = 0; w < 256; w++) {
    const c = WIDTH_COLORS[w] ?? [128, 128, 128];
    t.set(c, w * 3);
  }
  return t;
})();

export function cssColor(c: Rgb, alpha = 1): string {
  return alpha >= 1 ? `rgb(${c[0]} ${c[1]} ${c[2]})` : `rgb(${c[0]} ${c[1]} ${c[2]} / ${alpha})`;
}

/** Tint for a mean width in [0, 16]: interpolated along the 2…16 scale (log2), red at 0. */
export function meanWidthColor(mean: number): Rgb {
  if (mean <= 0) return WIDTH_COLORS[0];
  if (mean < 2) return mix(WIDTH_COLORS[0], WIDTH_COLORS[2], mean / 2);
  const steps = [2, 4, 8, 16];
  const x = Math.min(3, Math.log2(mean) - 1);
  const i = Math.min(2, Math.floor(x));
  return mix(WIDTH_COLORS[steps[i]], WIDTH_COLORS[steps[i + 1]], x - i);
}

export function mix(a: Rgb, b: Rgb, f: number): Rgb {
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}
