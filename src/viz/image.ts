/**
 * Tensors to 8-bit pixels and PNGs. Generated images come out of a diffusion sampler in [-1, 1] (the data
 * range the model was trained on), datasets often hold [0, 1]; both map to 0..255 through `range`, with
 * values outside it clipped (a sampler overshoots at high guidance scales).
 */
import sharp from 'sharp';
import { ConfigError, ShapeError, mergeConfig } from '../config';
import { tf } from '../engine/tf';

/** Interleaved 8-bit pixels, row-major: data[(y * width + x) * channels + c]. */
export interface RawImage {
  readonly width: number;
  readonly height: number;
  /** 1 = grey, 3 = RGB, 4 = RGBA. */
  readonly channels: 1 | 3 | 4;
  readonly data: Uint8Array;
}

/** Value range mapped to 0..255: `[lo, hi]` (default [-1, 1]) or 'auto' (the data's own min and max). */
export type PixelRange = readonly [number, number] | 'auto';

export const DEFAULT_PIXEL_RANGE: PixelRange = [-1, 1];

/** Nested numbers shaped like the tensor they stand for. */
export type NestedNumbers = number | readonly NestedNumbers[];

/** A batch of images: a [N, H, W, C] tensor, or a list of [H, W] / [H, W, C] tensors or nested arrays. */
export type ImageBatch = tf.Tensor | readonly (tf.Tensor | NestedNumbers)[];

const CHANNELS = [1, 3, 4] as const;

function channelsOf(shape: readonly number[], what: string, rank: 2 | 3): 1 | 3 | 4 {
  if (shape.length === rank) return 1;
  if (shape.length === rank + 1 && (CHANNELS as readonly number[]).includes(shape[rank])) return shape[rank] as 1 | 3 | 4;
  const expected = rank === 2 ? '[H, W] or [H, W, C] with C in 1, 3, 4' : '[N, H, W, C] with C in 1, 3, 4';
  throw new ShapeError(`${what} (show a latent's channels one at a time with t.slice)`, expected, shape);
}

/** Run `fn` on `x` as a tensor; a nested array becomes a tensor for the call and is disposed after. */
function withTensor<R>(x: tf.Tensor | NestedNumbers, fn: (t: tf.Tensor) => R): R {
  if (x instanceof tf.Tensor) return fn(x);
  const t = tf.tensor(x as number[]);
  try {
    return fn(t);
  } finally {
    t.dispose();
  }
}

function resolveRange(range: PixelRange, values: readonly ArrayLike<number>[]): [number, number] {
  if (range === 'auto') {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      for (let i = 0; i < v.length; i++) {
        if (v[i] < lo) lo = v[i];
        if (v[i] > hi) hi = v[i];
      }
    }
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
    return hi > lo ? [lo, hi] : [lo - 0.5, lo + 0.5];
  }
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] < range[1])) {
    throw new ConfigError('range', range, "[lo, hi] with lo < hi (e.g. [-1, 1], [0, 1]) or 'auto'");
  }
  return [range[0], range[1]];
}

function toBytes(values: ArrayLike<number>, [lo, hi]: [number, number]): Uint8Array {
  const out = new Uint8Array(values.length);
  const scale = 255 / (hi - lo);
  for (let i = 0; i < values.length; i++) {
    // NaN (a diverged sample) becomes 0 rather than poisoning the whole image.
    const v = (values[i] - lo) * scale;
    out[i] = v > 0 ? Math.round(Math.min(255, v)) : 0;
  }
  return out;
}

/** The images of a batch as 8-bit pixels, all mapped through one range (so 'auto' keeps them comparable). */
export function toRawImages(images: ImageBatch, range: PixelRange = DEFAULT_PIXEL_RANGE): RawImage[] {
  const pieces: { width: number; height: number; channels: 1 | 3 | 4; values: ArrayLike<number> }[] = [];
  if (images instanceof tf.Tensor) {
    const channels = channelsOf(images.shape, 'images', 3);
    if (images.rank !== 4) throw new ShapeError('images', '[N, H, W, C] (a list of [H, W] tensors for grey)', images.shape);
    const [n, height, width] = images.shape;
    const all = images.dataSync();
    const size = height * width * channels;
    for (let i = 0; i < n; i++) pieces.push({ width, height, channels, values: all.subarray(i * size, (i + 1) * size) });
  } else {
    images.forEach((image, i) =>
      withTensor(image, (t) => {
        const channels = channelsOf(t.shape, `images[${i}]`, 2);
        const [height, width] = t.shape as number[];
        pieces.push({ height, width, channels, values: t.dataSync().slice() });
      }),
    );
  }
  const lohi = resolveRange(range, pieces.map((p) => p.values));
  return pieces.map(({ width, height, channels, values }) => ({ width, height, channels, data: toBytes(values, lohi) }));
}

/** One [H, W] or [H, W, C] image as 8-bit pixels. */
export function toRawImage(image: tf.Tensor | NestedNumbers, range: PixelRange = DEFAULT_PIXEL_RANGE): RawImage {
  return toRawImages([image], range)[0];
}

/** Nearest-neighbour upscale by an integer factor: keeps a 28x28 digit's pixels crisp instead of blurred. */
export function upscale(image: RawImage, factor: number): RawImage {
  if (!Number.isInteger(factor) || factor < 1) throw new ConfigError('scale', factor, 'a positive integer');
  if (factor === 1) return image;
  const { width, height, channels, data } = image;
  const w = width * factor;
  const out = new Uint8Array(w * height * factor * channels);
  for (let y = 0; y < height * factor; y++) {
    const srcRow = Math.floor(y / factor) * width;
    for (let x = 0; x < w; x++) {
      const src = (srcRow + Math.floor(x / factor)) * channels;
      const dst = (y * w + x) * channels;
      for (let c = 0; c < channels; c++) out[dst + c] = data[src + c];
    }
  }
  return { width: w, height: height * factor, channels, data: out };
}

/** Encode as PNG; grey stays one channel (sharp would otherwise write RGB, 3x the size). */
export async function encodePng(image: RawImage): Promise<Buffer> {
  const { width, height, channels } = image;
  const pipeline = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width, height, channels },
  });
  return (channels === 1 ? pipeline.toColourspace('b-w') : pipeline).png({ compressionLevel: 9 }).toBuffer();
}

export interface TensorToPngOptions {
  /** Value range mapped to 0..255. Default [-1, 1], the range diffusion models sample in. */
  readonly range: PixelRange;
  /** Integer nearest-neighbour upscale. Default 1. */
  readonly scale: number;
}

export const DEFAULT_TENSOR_TO_PNG: TensorToPngOptions = { range: DEFAULT_PIXEL_RANGE, scale: 1 };

/** A [H, W] or [H, W, C] (C in 1, 3, 4) tensor as PNG bytes. */
export async function tensorToPng(image: tf.Tensor | NestedNumbers, options?: Partial<TensorToPngOptions>): Promise<Buffer> {
  const opts = mergeConfig(DEFAULT_TENSOR_TO_PNG, options, 'tensorToPng');
  return encodePng(upscale(toRawImage(image, opts.range), opts.scale));
}
