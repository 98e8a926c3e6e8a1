/**
 * A diffusion trajectory (x_T ... x_0, or the model's x_0 predictions along the way) as an animated GIF.
 *
 * A GIF, not a JS player: it is one `<img>`, so it plays in JupyterLab, in the classic notebook, in
 * nbconvert's HTML export and on GitHub's notebook viewer, with no script to trust. nbconvert's default
 * output priority has no `image/gif`, so the bundle also carries a `text/html` <img> with a data URI.
 */
import sharp from 'sharp';
import { ConfigError, ShapeError, check, mergeConfig, type DeepPartial } from '../config';
import { tf } from '../engine/tf';
import { DEFAULT_PIXEL_RANGE, toRawImage, upscale, type NestedNumbers, type PixelRange, type RawImage } from './image';
import { DEFAULT_IMAGE_GRID, ImageGrid, imageGrid, type ImageGridOptions } from './image-grid';
import type { HasMimeBundle, MimeBundle } from './mime';

/** One frame: an image [H, W(, C)], a batch [N, H, W, C] (shown as a grid), or a ready ImageGrid. */
export type Frame = tf.Tensor | ImageGrid | NestedNumbers;

export interface AnimationOptions {
  /** Frames per second. Default 8: 250 sampler steps subsampled to ~25 frames play in 3 s. */
  readonly fps: number;
  /** Seconds the last frame (the finished sample) stays before the loop restarts. Default 1.5. */
  readonly hold: number;
  /** Value range of tensor frames mapped to 0..255. Default [-1, 1]. */
  readonly range: PixelRange;
  /** Integer nearest-neighbour upscale of single-image tensor frames. Default 1 (grids have their own scale). */
  readonly scale: number;
  /** Layout of frames given as batches [N, H, W, C] (their range is `range`). Default DEFAULT_IMAGE_GRID. */
  readonly grid: ImageGridOptions;
}

export const DEFAULT_ANIMATION: AnimationOptions = { fps: 8, hold: 1.5, range: DEFAULT_PIXEL_RANGE, scale: 1, grid: DEFAULT_IMAGE_GRID };

export class Animation implements HasMimeBundle {
  constructor(
    readonly gif: Buffer,
    readonly width: number,
    readonly height: number,
    readonly frames: number,
    readonly fps: number,
  ) {}

  describe(): string {
    return `Animation: ${this.frames} frames ${this.width}x${this.height} at ${this.fps} fps (GIF, ${(this.gif.length / 1024).toFixed(1)} kB)`;
  }

  toMimeBundle(): MimeBundle {
    const base64 = this.gif.toString('base64');
    return {
      data: {
        'image/gif': base64,
        'text/html': `<img style="max-width:none;" width="${this.width}" height="${this.height}" src="data:image/gif;base64,${base64}">`,
        'text/plain': this.describe(),
      },
      metadata: { 'image/gif': { width: this.width, height: this.height } },
    };
  }
}

async function framePixels(frame: Frame, index: number, opts: AnimationOptions): Promise<RawImage> {
  if (frame instanceof ImageGrid) return frame.pixels;
  if (frame instanceof tf.Tensor && frame.rank === 4) return (await imageGrid(frame, { ...opts.grid, range: opts.range })).pixels;
  try {
    return upscale(toRawImage(frame, opts.range), opts.scale);
  } catch (err) {
    if (err instanceof ShapeError) throw new ShapeError(`animation frames[${index}]`, '[H, W], [H, W, C] or [N, H, W, C]', err.received);
    throw err;
  }
}

/** RGB(A): libvips writes a one-channel multi-page raw image as a single page, so grey frames are widened. */
function toRgb(image: RawImage): RawImage {
  if (image.channels !== 1) return image;
  const data = new Uint8Array(image.width * image.height * 3);
  for (let p = 0; p < image.width * image.height; p++) data.fill(image.data[p], p * 3, p * 3 + 3);
  return { ...image, channels: 3, data };
}

/**
 * Frames (tensors, batches or grids, all the same size) as a looping animated GIF. The encoder merges
 * identical consecutive frames into one page showing for their summed delays, so a converged tail of a
 * trajectory costs no space.
 */
export async function animation(frames: readonly Frame[], options?: DeepPartial<AnimationOptions>): Promise<Animation> {
  const opts = mergeConfig(DEFAULT_ANIMATION, options, 'animation');
  check.positive('animation.fps', opts.fps);
  check.nonNegative('animation.hold', opts.hold);
  if (frames.length === 0) throw new ConfigError('animation.frames', frames, 'at least one frame');
  const pixels: RawImage[] = [];
  for (const [i, frame] of frames.entries()) pixels.push(await framePixels(frame, i, opts));
  const { width, height } = pixels[0];
  // Mixed grey and colour frames are all widened to the widest channel count so the pages stack.
  const channels = Math.max(...pixels.map((p) => (p.channels === 1 ? 3 : p.channels))) as 3 | 4;
  const pages = pixels.map((p, i) => {
    if (p.width !== width || p.height !== height) {
      throw new ConfigError(`animation.frames[${i}]`, `${p.width}x${p.height} px`, `the size of frames[0], ${width}x${height} px`);
    }
    const rgb = toRgb(p);
    return rgb.channels === channels ? rgb.data : withAlpha(rgb.data);
  });
  const stacked = Buffer.concat(pages.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength)));
  const delay = Math.round(1000 / opts.fps);
  const delays = pixels.map((_, i) => (i === pixels.length - 1 ? delay + Math.round(opts.hold * 1000) : delay));
  const gif = await sharp(stacked, { raw: { width, height: height * pixels.length, channels, pageHeight: height } })
    .gif({ delay: delays, loop: 0 })
    .toBuffer();
  return new Animation(gif, width, height, pixels.length, opts.fps);
}

function withAlpha(rgb: Uint8Array): Uint8Array {
  const n = rgb.length / 3;
  const out = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    out.set(rgb.subarray(p * 3, p * 3 + 3), p * 4);
    out[p * 4 + 3] = 255;
  }
  return out;
}
