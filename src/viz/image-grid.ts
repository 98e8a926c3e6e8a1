/**
 * A grid of images as one PNG, with optional labels under each cell: samples from a sampler, a dataset
 * batch, reconstructions next to their inputs. Shown inline as `image/png`, which Jupyter and nbconvert's
 * HTML export both render.
 */
import { ConfigError, check, mergeConfig } from '../config';
import { drawCaptions, fitText, fontsRender, type Caption } from './captions';
import { DEFAULT_PIXEL_RANGE, encodePng, toRawImages, upscale, type ImageBatch, type PixelRange, type RawImage } from './image';
import type { HasMimeBundle, MimeBundle } from './mime';
import { escapeHtml } from './html';

export interface ImageGridOptions {
  /** Cells per row; 'auto' = ceil(sqrt(N)), a near-square grid. Default 'auto'. */
  readonly columns: number | 'auto';
  /** One label per image, drawn under its cell; empty = no label row. Default []. */
  readonly labels: readonly string[];
  /** Integer nearest-neighbour upscale; 'auto' = the smallest making a cell's longer side >= 56 px (28x28 -> 2). */
  readonly scale: number | 'auto';
  /** Gap in px between cells and around the grid. Default 2. */
  readonly padding: number;
  /** Grey level 0..255 of the gaps and label rows. Default 255 (white). */
  readonly background: number;
  /** Value range mapped to 0..255. Default [-1, 1], the range diffusion models sample in. */
  readonly range: PixelRange;
  /** Label font size in px. Default 11. */
  readonly fontSize: number;
  /**
   * Where labels go: 'image' draws them into the PNG, 'html' lays HTML text over blank label rows (for
   * machines without fonts), 'auto' draws them when a font renders and falls back to HTML otherwise.
   */
  readonly captions: 'auto' | 'image' | 'html';
}

export const DEFAULT_IMAGE_GRID: ImageGridOptions = {
  columns: 'auto', labels: [], scale: 'auto', padding: 2, background: 255, range: DEFAULT_PIXEL_RANGE, fontSize: 11, captions: 'auto',
};

/** The cell a caption sits under, in canvas pixels. */
export interface GridGeometry {
  readonly count: number;
  readonly columns: number;
  readonly rows: number;
  readonly scale: number;
  /** One cell's size after scaling. */
  readonly cellWidth: number;
  readonly cellHeight: number;
  /** Height of the label row under each cell (0 without labels). */
  readonly labelHeight: number;
}

const AUTO_SCALE_TARGET = 56;

export class ImageGrid implements HasMimeBundle {
  constructor(
    /** The encoded grid. */
    readonly png: Buffer,
    /** The grid's pixels, for animation frames and tests. */
    readonly pixels: RawImage,
    readonly geometry: GridGeometry,
    /** Set when labels are HTML text laid over the PNG instead of drawn into it. */
    readonly captionsHtml?: string,
  ) {}

  get width(): number {
    return this.pixels.width;
  }

  get height(): number {
    return this.pixels.height;
  }

  describe(): string {
    const g = this.geometry;
    const cell = `${g.cellWidth / g.scale}x${g.cellHeight / g.scale}x${this.pixels.channels}`;
    return `ImageGrid: ${g.count} image${g.count === 1 ? '' : 's'} ${cell} in ${g.rows}x${g.columns}, scale ${g.scale} -> ` +
      `${this.width}x${this.height} px PNG (${(this.png.length / 1024).toFixed(1)} kB)`;
  }

  toMimeBundle(): MimeBundle {
    const data: Record<string, unknown> = { 'image/png': this.png.toString('base64'), 'text/plain': this.describe() };
    if (this.captionsHtml !== undefined) data['text/html'] = this.captionsHtml;
    return { data, metadata: { 'image/png': { width: this.width, height: this.height } } };
  }
}

function gridGeometry(images: readonly RawImage[], opts: ImageGridOptions): GridGeometry {
  const count = images.length;
  const { width, height } = images[0];
  const columns = opts.columns === 'auto' ? Math.ceil(Math.sqrt(count)) : check.positiveInt('imageGrid.columns', opts.columns);
  const scale = opts.scale === 'auto'
    ? Math.max(1, Math.ceil(AUTO_SCALE_TARGET / Math.max(width, height)))
    : check.positiveInt('imageGrid.scale', opts.scale);
  return {
    count,
    columns: Math.min(columns, count),
    rows: Math.ceil(count / columns),
    scale,
    cellWidth: width * scale,
    cellHeight: height * scale,
    labelHeight: opts.labels.length > 0 ? Math.round(opts.fontSize * 1.5) : 0,
  };
}

/** Top-left corner of cell `i` on the canvas. */
function cellOrigin(g: GridGeometry, padding: number, i: number): { x: number; y: number } {
  const col = i % g.columns;
  const row = Math.floor(i / g.columns);
  return { x: padding + col * (g.cellWidth + padding), y: padding + row * (g.cellHeight + g.labelHeight + padding) };
}

function assemble(images: readonly RawImage[], g: GridGeometry, padding: number, background: number): RawImage {
  const channels = images[0].channels;
  const width = g.columns * g.cellWidth + (g.columns + 1) * padding;
  const height = g.rows * (g.cellHeight + g.labelHeight) + (g.rows + 1) * padding;
  const data = new Uint8Array(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < channels; c++) data[p * channels + c] = channels === 4 && c === 3 ? 255 : background;
  }
  images.forEach((image, i) => {
    const cell = upscale(image, g.scale);
    const { x, y } = cellOrigin(g, padding, i);
    const rowBytes = cell.width * channels;
    for (let r = 0; r < cell.height; r++) {
      data.set(cell.data.subarray(r * rowBytes, (r + 1) * rowBytes), ((y + r) * width + x) * channels);
    }
  });
  return { width, height, channels, data };
}

function captionsOf(labels: readonly string[], g: GridGeometry, padding: number, fontSize: number): Caption[] {
  return labels.map((text, i) => {
    const { x, y } = cellOrigin(g, padding, i);
    return { text, centerX: x + g.cellWidth / 2, baselineY: y + g.cellHeight + Math.round(fontSize * 1.1), maxWidth: g.cellWidth };
  });
}


/**
 * The PNG at its own size with each label absolutely positioned over its blank label row; sizes are fixed
 * (max-width: none) so the frontend cannot scale the image out from under the text.
 */
function htmlCaptions(png: Buffer, image: RawImage, g: GridGeometry, opts: ImageGridOptions): string {
  const ink = opts.background >= 128 ? '#000' : '#fff';
  const labels = opts.labels.map((text, i) => {
    const { x, y } = cellOrigin(g, opts.padding, i);
    const style = `position:absolute;left:${x}px;top:${y + g.cellHeight}px;width:${g.cellWidth}px;height:${g.labelHeight}px;` +
      `line-height:${g.labelHeight}px;text-align:center;font:${opts.fontSize}px sans-serif;color:${ink};overflow:hidden;white-space:nowrap;`;
    return `<div style="${style}">${escapeHtml(fitText(text, g.cellWidth, opts.fontSize))}</div>`;
  });
  return `<div style="position:relative;width:${image.width}px;height:${image.height}px;">` +
    `<img style="max-width:none;width:${image.width}px;height:${image.height}px;" src="data:image/png;base64,${png.toString('base64')}">` +
    labels.join('') + '</div>';
}

/** Images [N, H, W, C] (or a list of [H, W(, C)]) laid out in a grid, encoded as one PNG. */
export async function imageGrid(images: ImageBatch, options?: Partial<ImageGridOptions>): Promise<ImageGrid> {
  const opts = mergeConfig(DEFAULT_IMAGE_GRID, options, 'imageGrid');
  check.nonNegativeInt('imageGrid.padding', opts.padding);
  check.inRange('imageGrid.background', opts.background, 0, 255);
  check.positive('imageGrid.fontSize', opts.fontSize);
  check.oneOf('imageGrid.captions', opts.captions, ['auto', 'image', 'html'] as const);
  const raws = toRawImages(images, opts.range);
  if (raws.length === 0) throw new ConfigError('imageGrid.images', 'an empty batch', 'at least one image');
  raws.forEach((r, i) => {
    const first = raws[0];
    if (r.width !== first.width || r.height !== first.height || r.channels !== first.channels) {
      throw new ConfigError(`imageGrid.images[${i}]`, `${r.height}x${r.width}x${r.channels}`, `the shape of images[0], ${first.height}x${first.width}x${first.channels}`);
    }
  });
  if (opts.labels.length > 0 && opts.labels.length !== raws.length) {
    throw new ConfigError('imageGrid.labels', `${opts.labels.length} labels`, `${raws.length} labels, one per image, or none`);
  }
  const geometry = gridGeometry(raws, opts);
  const canvas = assemble(raws, geometry, opts.padding, opts.background);
  const hasLabels = opts.labels.length > 0;
  const drawn = hasLabels && (opts.captions === 'image' || (opts.captions === 'auto' && (await fontsRender())));
  const pixels = drawn
    ? await drawCaptions(canvas, captionsOf(opts.labels, geometry, opts.padding, opts.fontSize), opts.fontSize, opts.background >= 128 ? 0 : 255)
    : canvas;
  const png = await encodePng(pixels);
  const html = hasLabels && !drawn ? htmlCaptions(png, pixels, geometry, opts) : undefined;
  return new ImageGrid(png, pixels, geometry, html);
}

/** Samples from a sampler, in a grid: the same as `imageGrid`, named for what notebooks call it. */
export const sampleGrid = imageGrid;
