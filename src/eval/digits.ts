/**
 * MNIST digits as one dense array, the form the classifier trains and evaluates on: the dataset's `get`
 * pads and resizes per call, which is fine once per image but not once per image per epoch.
 */
import { tf } from '../engine/tf';
import { ConfigError } from '../config';
import { Rng } from '../engine/random';
import { MnistDataset } from '../data/mnist';

export interface DigitArray {
  /** [N * side * side * channels] pixels in [-1, 1], image after image (HWC). */
  readonly pixels: Float32Array;
  /** [N] digit of each image. */
  readonly labels: Int32Array;
  readonly side: number;
  readonly channels: number;
  readonly length: number;
}

/** Captions are not used here; a private stream keeps the global one untouched. */
const CAPTION_RNG = new Rng('eval/digits/unused-captions');

/** Every image of `dataset` (or its first `limit`) with its label. */
export function digitArray(dataset: MnistDataset, limit = dataset.length): DigitArray {
  const n = Math.min(limit, dataset.length);
  const side = dataset.height;
  const channels = dataset.channels;
  const size = side * side * channels;
  const pixels = new Float32Array(n * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    pixels.set(dataset.get(i, CAPTION_RNG).image, i * size);
    labels[i] = dataset.label(i);
  }
  return { pixels, labels, side, channels, length: n };
}

/** Images `indices` of `digits` as a tensor [indices.length, side, side, channels]. */
export function digitBatch(digits: DigitArray, indices: ArrayLike<number>): tf.Tensor4D {
  const { side, channels } = digits;
  const size = side * side * channels;
  const out = new Float32Array(indices.length * size);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= digits.length) throw new RangeError(`digitBatch: index ${i} is outside [0, ${digits.length})`);
    out.set(digits.pixels.subarray(i * size, (i + 1) * size), k * size);
  }
  return tf.tensor4d(out, [indices.length, side, side, channels]);
}

/** Visit [0, n) in chunks of `chunk`, so a large evaluation never holds every activation at once. */
export function forEachChunk(n: number, chunk: number, f: (start: number, count: number) => void): void {
  if (!Number.isInteger(chunk) || chunk <= 0) throw new ConfigError('chunk', chunk, 'a positive integer');
  for (let start = 0; start < n; start += chunk) f(start, Math.min(chunk, n - start));
}
