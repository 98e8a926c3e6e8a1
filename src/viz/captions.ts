/**
 * Text drawn into pixels: labels under the cells of an image grid. sharp rasterises an SVG overlay with
 * librsvg through fontconfig, so text needs at least one installed font; `fontsRender()` checks that once
 * by drawing a test string, and callers fall back to HTML captions where nothing gets drawn.
 */
import sharp from 'sharp';
import type { RawImage } from './image';
import { escapeHtml } from './html';

/** One label: `text` centred on `centerX`, baseline at `baselineY`, clipped to `maxWidth` px. */
export interface Caption {
  readonly text: string;
  readonly centerX: number;
  readonly baselineY: number;
  readonly maxWidth: number;
}

/** DejaVu ships with most Linux images; fontconfig substitutes any sans font where it is missing. */
const FONT_FAMILY = "'DejaVu Sans', 'Liberation Sans', Arial, sans-serif";

/** Average glyph advance of a sans font as a fraction of its size; used to shorten labels that would overflow. */
const GLYPH_WIDTH = 0.6;


/** `text` shortened with an ellipsis so that it fits `maxWidth` px at `fontSize`. */
export function fitText(text: string, maxWidth: number, fontSize: number): string {
  const maxChars = Math.max(1, Math.floor(maxWidth / (GLYPH_WIDTH * fontSize)));
  return text.length <= maxChars ? text : text.slice(0, Math.max(1, maxChars - 1)) + '\u2026';
}

function overlaySvg(width: number, height: number, captions: readonly Caption[], fontSize: number, color: string): string {
  const texts = captions.map((c) =>
    `<text x="${c.centerX}" y="${c.baselineY}" text-anchor="middle">${escapeHtml(fitText(c.text, c.maxWidth, fontSize))}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<g font-family="${FONT_FAMILY}" font-size="${fontSize}" fill="${color}">${texts.join('')}</g></svg>`;
}

/** Rasterise the captions as an RGBA layer the size of the image. */
async function renderOverlay(width: number, height: number, captions: readonly Caption[], fontSize: number, ink: number): Promise<Buffer> {
  const hex = ink.toString(16).padStart(2, '0');
  const svg = overlaySvg(width, height, captions, fontSize, `#${hex}${hex}${hex}`);
  const { data, info } = await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 4) {
    throw new Error(`caption overlay rendered as ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x4`);
  }
  return data;
}

let fontCheck: Promise<boolean> | undefined;

/** Whether SVG text produces any pixels on this machine (false when no font is installed); checked once. */
export function fontsRender(): Promise<boolean> {
  fontCheck ??= renderOverlay(40, 16, [{ text: 'Ag8', centerX: 20, baselineY: 12, maxWidth: 40 }], 11, 0)
    .then((rgba) => rgba.some((v, i) => i % 4 === 3 && v > 0))
    .catch(() => false);
  return fontCheck;
}

/**
 * The image with captions alpha-blended in grey level `ink` (0 = black). Grey images stay one channel:
 * the ink is grey, so blending one channel is exact.
 */
export async function drawCaptions(image: RawImage, captions: readonly Caption[], fontSize: number, ink: number): Promise<RawImage> {
  const rgba = await renderOverlay(image.width, image.height, captions, fontSize, ink);
  const { channels } = image;
  const out = Uint8Array.from(image.data);
  for (let p = 0; p < image.width * image.height; p++) {
    const alpha = rgba[p * 4 + 3] / 255;
    if (alpha === 0) continue;
    // Colour channels only: a caption never changes an RGBA image's own transparency.
    const colour = channels === 4 ? 3 : channels;
    for (let c = 0; c < colour; c++) {
      const i = p * channels + c;
      out[i] = Math.round(out[i] * (1 - alpha) + ink * alpha);
    }
  }
  return { ...image, data: out };
}
