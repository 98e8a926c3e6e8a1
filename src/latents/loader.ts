/**
 * The data loader of a latent-space Transfusion: caption/image pairs become sequences sized for the model, and
 * each image slot carries the frozen autoencoder's latent of that item, read from a LatentCache (and encoded
 * into it on a miss). The model's `net.latent` must be the autoencoder's latent grid on this dataset; a
 * mismatch fails here, naming the field, rather than as a shape error deep inside a training step.
 */
import type { Rng } from '../engine/random';
import { ConfigError, type DeepPartial } from '../config';
import type { ImageDataset } from '../data/image';
import { DataLoader, type LoaderConfig } from '../data/loader';
import { LatentCache } from '../data/latent-cache';
import type { Tokenizer } from '../data/tokenizer';
import type { Autoencoder } from '../blocks/autoencoder';
import type { NetConfig, TransfusionConfig } from '../model/config';
import { Transfusion } from '../model/transfusion';
import { checkCacheMeta, encodeImages, latentEncoder, latentGridOf, type LatentGrid } from './encode';

/** Throw unless the network diffuses latents of exactly `shape`, naming the first mismatched `net.latent` field. */
export function checkLatentMatch(net: Pick<NetConfig, 'latent'>, shape: LatentGrid): void {
  const fields = [
    ['channels', shape.channels, "the autoencoder's latent channels"],
    ['height', shape.height, "the dataset's image height / the autoencoder's downsampling"],
    ['width', shape.width, "the dataset's image width / the autoencoder's downsampling"],
  ] as const;
  for (const [field, want, why] of fields) {
    if (net.latent[field] !== want) throw new ConfigError(`net.latent.${field}`, net.latent[field], `${want} (${why})`);
  }
}

export interface LatentLoaderOptions {
  /**
   * Latents by item index (default: a new, empty cache). Items missing from it are encoded when first drawn and
   * kept, so the autoencoder runs at most once per item; `encodeDataset` fills it ahead, in larger batches.
   */
  readonly cache?: LatentCache;
  /**
   * Loader settings (batchSize, shuffle, dropLast) and sequence overrides. The sequence defaults to the model's
   * `config.sequence`; its `patchesPerImage` is the model's and cannot be changed here.
   */
  readonly loader?: DeepPartial<LoaderConfig>;
  /** The loader draws its seed from it (default: the global stream). */
  readonly rng?: Rng;
  readonly tokenizer?: Tokenizer;
}

/**
 * A DataLoader over `dataset` whose batches hold the autoencoder's latents, ready for `model.loss(batch)`.
 * Throws a ConfigError naming `net.latent.<field>` when the model's latent grid is not the autoencoder's.
 */
export function latentLoader(
  model: Transfusion | TransfusionConfig,
  autoencoder: Autoencoder,
  dataset: ImageDataset,
  options: LatentLoaderOptions = {},
): DataLoader {
  const config = model instanceof Transfusion ? model.config : model;
  const shape = latentGridOf(autoencoder, dataset);
  checkLatentMatch(config.net, shape);
  const patches = config.sequence.patchesPerImage;
  const asked = options.loader?.sequence?.patchesPerImage;
  if (asked !== undefined && asked !== patches) {
    throw new ConfigError('loader.sequence.patchesPerImage', asked, `${patches}, the model's patches per image (net.latent / net.patchSize)`);
  }
  const cache = options.cache ?? new LatentCache(null, { meta: { autoencoder: autoencoder.config, shape: [shape.height, shape.width, shape.channels] } });
  checkCacheMeta(cache, shape);
  const encode = latentEncoder(autoencoder);
  const latentOf = (index: number, image: Float32Array): Float32Array => {
    if (!cache.has(index)) cache.set(index, encodeImages(encode, [image], dataset)[0]);
    return cache.get(index);
  };
  const overrides: DeepPartial<LoaderConfig> = { ...options.loader, sequence: { ...config.sequence, ...options.loader?.sequence } };
  return new DataLoader(dataset, overrides, {
    rng: options.rng,
    tokenizer: options.tokenizer,
    images: (index, sample) => latentOf(index, sample.image),
  });
}
