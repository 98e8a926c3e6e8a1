/**
 * The image-dataset contract shared by MNIST, procedural shapes and image folders, and the two pixel
 * operations they need (pad, area resize). Pixels are plain Float32Arrays in HWC order with values in
 * [-1, 1] (the range diffusion models and the autoencoders expect), so datasets stay cheap and testable;
 * a batch of them laid end to end is exactly the data of an NHWC tensor `[B, H, W, C]`.
 */
import { ConfigError } from '../config';
import { Rng } from '../engine/random';

/** One image with its caption. */
export interface ImageSample {
  /** [H * W * C] in HWC order (row-major, channels last), values in [-1, 1]. */
  readonly image: Float32Array;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly caption: string;
  /**
   * The caption in one fixed form, the same template for every sample (MNIST: "the digit 7"), for
   * `sequence.plainCaptionEpochs` (src/data/sequence.ts); a dataset without one leaves it out.
   */
  readonly plainCaption?: string;
  /** What the image shows, for evaluation: a digit for MNIST, a scene description for shapes. */
  readonly label?: number | object;
}

/**
 * A finite, indexable set of samples. `get` takes an Rng because a caption may be drawn from templates;
 * pixels depend on the index only, so a latent cache keyed by index stays valid.
 */
export interface ImageDataset {
  readonly length: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  get(index: number, rng?: Rng): ImageSample;
}

/** Throws a RangeError naming the dataset when `index` is not an item of it. */
export function checkIndex(dataset: string, index: number, length: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new RangeError(`${dataset}.get: index ${index} is outside [0, ${length - 1}]`);
  }
}

/** The first `n` items of a dataset, as a dataset of its own (so a loader's epoch covers exactly them). */
export function firstItems(dataset: ImageDataset, n: number): ImageDataset {
  return {
    length: n,
    height: dataset.height,
    width: dataset.width,
    channels: dataset.channels,
    get: (index: number, rng?: Rng) => {
      checkIndex('firstItems', index, n);
      return dataset.get(index, rng);
    },
  };
}

/** [H*W*C] -> [(H+2p)*(W+2p)*C], the border filled with `fill` (the background value, -1 for black). */
export function padImage(
  image: Float32Array,
  height: number,
  width: number,
  channels: number,
  padding: number,
  fill: number,
): Float32Array {
  if (padding === 0) return image;
  const w2 = width + 2 * padding;
  const out = new Float32Array((height + 2 * padding) * w2 * channels).fill(fill);
  for (let y = 0; y < height; y++) {
    const src = y * width * channels;
    out.set(image.subarray(src, src + width * channels), ((y + padding) * w2 + padding) * channels);
  }
  return out;
}

/**
 * Area (box-filter) resize [H*W*C] -> [h*w*C]: each output pixel is the mean of the input area it covers,
 * weighted by overlap. Exact for integer factors (a 2x2 mean for 32 -> 16) and alias-free when shrinking,
 * unlike nearest or bilinear sampling.
 */
export function resizeArea(
  image: Float32Array,
  height: number,
  width: number,
  channels: number,
  outHeight: number,
  outWidth: number,
): Float32Array {
  if (outHeight === height && outWidth === width) return image;
  const ys = overlaps(height, outHeight);
  const xs = overlaps(width, outWidth);
  const out = new Float32Array(outHeight * outWidth * channels);
  for (let oy = 0; oy < outHeight; oy++) {
    for (let ox = 0; ox < outWidth; ox++) {
      const o = (oy * outWidth + ox) * channels;
      for (const [iy, wy] of ys[oy]) {
        for (const [ix, wx] of xs[ox]) {
          const w = wy * wx;
          const i = (iy * width + ix) * channels;
          for (let c = 0; c < channels; c++) out[o + c] += w * image[i + c];
        }
      }
    }
  }
  return out;
}

/** For each output cell along one axis: [input index, weight] pairs, weights summing to 1. */
function overlaps(n: number, m: number): Array<Array<[number, number]>> {
  const scale = n / m;
  return Array.from({ length: m }, (_, o) => {
    const lo = o * scale;
    const hi = (o + 1) * scale;
    const cells: Array<[number, number]> = [];
    for (let i = Math.floor(lo); i < Math.min(n, Math.ceil(hi)); i++) {
      const w = Math.min(hi, i + 1) - Math.max(lo, i);
      if (w > 1e-9) cells.push([i, w / scale]);
    }
    return cells;
  });
}

/**
 * Patches one image occupies in the sequence: (H/f/k) * (W/f/k) for an autoencoder downsampling by f and
 * patches of k x k latent pixels (paper §3, data representation). Fails naming the field when f*k does not divide a side.
 */
export function patchesPerImage(height: number, width: number, downsample: number, patchSize: number): number {
  const step = downsample * patchSize;
  for (const [field, side] of [['height', height], ['width', width]] as const) {
    if (!Number.isInteger(side) || side <= 0 || side % step !== 0) {
      throw new ConfigError(`image.${field}`, side, `a positive multiple of downsample * patchSize = ${step}`);
    }
  }
  return (height / step) * (width / step);
}
