/**
 * Pixels to latents and back for a frozen autoencoder. The paper trains Transfusion on the latents of a fixed
 * pretrained VAE (§3.1, §4.1), so each image's latent is computed once and cached by dataset index
 * (src/data/latent-cache.ts); the data loader then reads latents instead of rerunning the encoder every step.
 *
 * Latents are stored per item as [h * w * c] in HWC order, the layout `stackLatents` expects.
 */
import { tf } from '../engine/tf';
import { check, ConfigError, ShapeError } from '../config';
import type { ImageDataset } from '../data/image';
import { LatentCache } from '../data/latent-cache';
import type { Autoencoder } from '../blocks/autoencoder';
import { Rng } from '../engine/random';
import { checkDatasetFits } from './train';

/** Latent grid of one image: [height, width, channels] = [H / f, W / f, c]. */
export interface LatentGrid {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/** The latent grid `ae` gives the images of `dataset` (checking that they fit the autoencoder). */
export function latentGridOf(ae: Autoencoder, dataset: Pick<ImageDataset, 'height' | 'width' | 'channels'>): LatentGrid {
  checkDatasetFits(ae, dataset);
  return { height: dataset.height / ae.downsample, width: dataset.width / ae.downsample, channels: ae.latentChannels };
}

/** images [n, H, W, C] -> a tensor whose row i (any trailing shape) becomes item i's cached Float32Array. */
export type BatchEncoder = (images: tf.Tensor4D) => tf.Tensor;

/**
 * What the cache stores for a plain autoencoder: `ae.encode`, which for a VAE is the posterior mean times the
 * scaling factor (deterministic, as a frozen encoder's latents must be for caching to be exact).
 */
export function latentEncoder(ae: Autoencoder): BatchEncoder {
  return (images) => ae.encode(images);
}

export interface EncodeDatasetOptions {
  /** A cache to extend (e.g. one loaded from disk); only its missing items are encoded. Default: a new one. */
  readonly cache?: LatentCache;
  /** Items to encode (default: every item of the dataset). */
  readonly indices?: Iterable<number>;
  /** Images per encoder call (default 64): bounds the activations held at once. */
  readonly batchSize?: number;
}

/** Rows of a [n, ...] tensor as n Float32Arrays (copied, so the tensor can be freed). */
function rows(t: tf.Tensor): Float32Array[] {
  const n = t.shape[0];
  const data = t.dataSync();
  const size = n === 0 ? 0 : data.length / n;
  return Array.from({ length: n }, (_, i) => Float32Array.from(data.subarray(i * size, (i + 1) * size)));
}

/** Encode pixel arrays (each [H * W * C] of `dataset`'s geometry): the form LatentCache's EncodeFn takes. */
export function encodeImages(encode: BatchEncoder, images: readonly Float32Array[], geometry: Pick<ImageDataset, 'height' | 'width' | 'channels'>): Float32Array[] {
  if (images.length === 0) return [];
  const { height: H, width: W, channels: C } = geometry;
  const size = H * W * C;
  const data = new Float32Array(images.length * size);
  images.forEach((im, k) => {
    if (im.length !== size) throw new ShapeError(`images[${k}]`, `${size} values = ${H}x${W}x${C}`, [im.length]);
    data.set(im, k * size);
  });
  const batch = tf.tensor4d(data, [images.length, H, W, C]);
  const out = tf.tidy(() => encode(batch).toFloat());
  batch.dispose();
  const items = rows(out);
  out.dispose();
  return items;
}

/** Run `encode` on the given items of `dataset` and return one Float32Array per item, in order; no tensor outlives the call. */
export function encodeItems(encode: BatchEncoder, dataset: ImageDataset, indices: readonly number[]): Float32Array[] {
  const captions = new Rng('latents/unused-captions');
  return encodeImages(encode, indices.map((i) => dataset.get(i, captions).image), dataset);
}

/**
 * Fill `cache` with `encode` applied to the items of `dataset` it lacks, `batchSize` at a time; items already
 * cached are not encoded again. Yields to the event loop between chunks, so a notebook stays responsive while
 * a whole dataset is encoded. Returns the cache.
 */
export async function cacheEncodings(encode: BatchEncoder, dataset: ImageDataset, cache: LatentCache, options: Omit<EncodeDatasetOptions, 'cache'> = {}): Promise<LatentCache> {
  const batchSize = check.positiveInt('encodeDataset.batchSize', options.batchSize ?? 64);
  const wanted = options.indices ?? Array.from({ length: dataset.length }, (_, i) => i);
  const missing = [...new Set(wanted)].filter((i) => !cache.has(i));
  for (let s = 0; s < missing.length; s += batchSize) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const chunk = missing.slice(s, s + batchSize);
    encodeItems(encode, dataset, chunk).forEach((latent, k) => cache.set(chunk[k], latent));
  }
  return cache;
}

/**
 * Throw unless the cache was written for this latent shape and kind: a cache loaded from disk records both in its
 * meta (`shape`, and `codes: true` for VQ code ids), and another autoencoder's latents, or codes read as latents,
 * must not pass for this one's. A cache without that meta (built by hand) is taken as it is.
 */
export function checkCacheMeta(cache: LatentCache, shape: LatentGrid, codes = false): void {
  const recorded = cache.meta.shape;
  const want = [shape.height, shape.width, shape.channels];
  if (recorded !== undefined && (cache.meta.codes === true) !== codes) {
    throw new ConfigError('cache.meta.codes', cache.meta.codes ?? false, codes ? 'true: a cache of VQ code ids (encodeCodes)' : 'false: a cache of latents (encodeDataset)');
  }
  if (recorded !== undefined && JSON.stringify(recorded) !== JSON.stringify(want)) {
    throw new ConfigError('cache.meta.shape', recorded, `[${want.join(', ')}], the latent shape of this autoencoder on this dataset`);
  }
}

/**
 * Encode every item of `dataset` (or `options.indices`) once with the frozen autoencoder and return the cache
 * of latents, keyed by item index. The cache's own `encode` is the same function, so `cache.fill(...)` and
 * `cache.save(path)` work on it; its meta records the autoencoder's config and the latent shape.
 */
export async function encodeDataset(ae: Autoencoder, dataset: ImageDataset, options: EncodeDatasetOptions = {}): Promise<LatentCache> {
  const shape = latentGridOf(ae, dataset);
  const encode = latentEncoder(ae);
  const cache = options.cache ?? new LatentCache((images) => encodeImages(encode, images, dataset), {
    batchSize: options.batchSize ?? 64,
    meta: { autoencoder: ae.config, shape: [shape.height, shape.width, shape.channels] },
  });
  checkCacheMeta(cache, shape);
  return cacheEncodings(encode, dataset, cache, options);
}

/**
 * latents [N, h, w, c] (as `encode` returns them; a VAE's are scaled) -> images [N, h f, w f, C], decoded
 * `batchSize` at a time. Values are the decoder's, not clipped to [-1, 1].
 */
export function decodeLatents(ae: Autoencoder, latents: tf.Tensor, options: { readonly batchSize?: number } = {}): tf.Tensor4D {
  if (latents.rank !== 4 || latents.shape[3] !== ae.latentChannels) {
    throw new ShapeError('decodeLatents latents', `[N, h, w, ${ae.latentChannels}] (the autoencoder's latent channels)`, latents.shape);
  }
  const batchSize = check.positiveInt('decodeLatents.batchSize', options.batchSize ?? 64);
  const [n, h, w, c] = latents.shape as [number, number, number, number];
  return tf.tidy(() => {
    const parts: tf.Tensor[] = [];
    for (let s = 0; s < n; s += batchSize) {
      const count = Math.min(batchSize, n - s);
      parts.push(ae.decode(tf.slice(latents, [s, 0, 0, 0], [count, h, w, c])));
    }
    if (parts.length === 0) return tf.zeros([0, h * ae.downsample, w * ae.downsample, ae.imageChannels]);
    return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
  }) as tf.Tensor4D;
}

/** Cached latents of `indices` stacked as [n, h, w, c], e.g. to decode a few of them for display. */
export function stackCached(cache: LatentCache, indices: readonly number[], shape: LatentGrid): tf.Tensor4D {
  const size = shape.height * shape.width * shape.channels;
  const data = new Float32Array(indices.length * size);
  indices.forEach((i, k) => {
    const latent = cache.get(i);
    if (latent.length !== size) throw new ShapeError(`cache item ${i}`, `${size} values = ${shape.height}x${shape.width}x${shape.channels}`, [latent.length]);
    data.set(latent, k * size);
  });
  return tf.tensor4d(data, [indices.length, shape.height, shape.width, shape.channels]);
}
