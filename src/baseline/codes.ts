/**
 * Images as discrete tokens for the Chameleon baseline (Transfusion Tab 3): a frozen VQ autoencoder turns each
 * image into h * w codebook indices, cached per dataset item, and the sequence builder's image slots are filled
 * with the ids `textVocab + code`, giving `[BOS] caption [BOI] code_1 .. code_n [EOI] [EOS]` (or image first,
 * 20% of pairs, as Transfusion's data). Every position then predicts the next token, codes included.
 *
 * The loader reuses Transfusion's DataLoader unchanged: a batch's `images[k]` holds the codes of image k as
 * float values (exact for integers below 2^24), and `codeSequence` writes them into the token stream.
 */
import { tf } from '../engine/tf';
import type { Rng } from '../engine/random';
import { ConfigError, ShapeError, type DeepPartial } from '../config';
import type { ImageDataset } from '../data/image';
import { DataLoader, type LoaderConfig } from '../data/loader';
import { LatentCache } from '../data/latent-cache';
import type { MixedBatch } from '../data/sequence';
import { byteTokenizer, type Tokenizer } from '../data/tokenizer';
import type { SequenceLayout } from '../blocks/layout';
import type { VQAutoencoder } from '../blocks/vq';
import { cacheEncodings, checkCacheMeta, encodeImages, latentGridOf, type BatchEncoder, type EncodeDatasetOptions } from '../latents/encode';
import type { BaselineConfig, BaselineNetConfig } from './config';

/** A batch of pure token sequences: codes in place, a next-token target at every position that has one. */
export interface CodeBatch {
  readonly batchSize: number;
  readonly length: number;
  /** [B*L] ids: text and specials below textVocab, image codes at textVocab + k. */
  readonly tokens: Int32Array;
  /** [B*L] the next id of the same document, or -1 (at each document's last position and at padding). */
  readonly targets: Int32Array;
  /** [B*L] position within its document. */
  readonly positions: Int32Array;
  /** Per row: image index (-1 text) and document index per position, as the Transfusion batch had them. */
  readonly layouts: readonly SequenceLayout[];
}

/** What `encodeIndices` gives, as the cache stores it: the code ids of each image, [n, h * w] float. */
export function codeEncoder(vq: VQAutoencoder): BatchEncoder {
  return (images) => tf.tidy(() => vq.encodeIndices(images).toFloat());
}

/** Throw unless the VQ's codes on this dataset are the baseline's image tokens: same codebook size and code grid. */
export function checkCodesMatch(net: BaselineNetConfig, vq: VQAutoencoder, dataset: Pick<ImageDataset, 'height' | 'width' | 'channels'>): void {
  if (vq.config.codebookSize !== net.codebookSize) {
    throw new ConfigError('net.codebookSize', net.codebookSize, `${vq.config.codebookSize} (the VQ autoencoder's codebook size)`);
  }
  const shape = latentGridOf(vq, dataset);
  for (const side of ['height', 'width'] as const) {
    if (net.grid[side] !== shape[side]) {
      throw new ConfigError(`net.grid.${side}`, net.grid[side], `${shape[side]} (the dataset's image ${side} / the VQ's downsampling ${vq.downsample})`);
    }
  }
}

/** Code ids of every item of `dataset` (or `options.indices`), cached by item index; only missing items are encoded. */
export async function encodeCodes(vq: VQAutoencoder, dataset: ImageDataset, options: EncodeDatasetOptions = {}): Promise<LatentCache> {
  const shape = latentGridOf(vq, dataset);
  const encode = codeEncoder(vq);
  const cache = options.cache ?? new LatentCache((images) => encodeImages(encode, images, dataset), {
    batchSize: options.batchSize ?? 64,
    meta: { autoencoder: vq.config, shape: [shape.height, shape.width, 1], codes: true },
  });
  checkCacheMeta(cache, { ...shape, channels: 1 }, true);
  return cacheEncodings(encode, dataset, cache, options);
}

export interface CodeLoaderOptions {
  /** Codes by item index (default: a new cache); a missing item is encoded when first drawn and kept. */
  readonly cache?: LatentCache;
  /** Loader settings and sequence overrides; the sequence defaults to the baseline's, patchesPerImage fixed. */
  readonly loader?: DeepPartial<LoaderConfig>;
  readonly rng?: Rng;
  readonly tokenizer?: Tokenizer;
}

/** A DataLoader over `dataset` whose image slots carry VQ codes, ready for `baseline.loss(batch)`. */
export function codeLoader(baseline: BaselineConfig | { readonly config: BaselineConfig }, vq: VQAutoencoder, dataset: ImageDataset, options: CodeLoaderOptions = {}): DataLoader {
  const config = 'sequence' in baseline ? baseline : baseline.config;
  checkCodesMatch(config.net, vq, dataset);
  const n = config.sequence.patchesPerImage;
  const asked = options.loader?.sequence?.patchesPerImage;
  if (asked !== undefined && asked !== n) {
    throw new ConfigError('loader.sequence.patchesPerImage', asked, `${n}, the baseline's codes per image (net.grid)`);
  }
  const { height, width } = config.net.grid;
  const cache = options.cache ?? new LatentCache(null, { meta: { autoencoder: vq.config, shape: [height, width, 1], codes: true } });
  checkCacheMeta(cache, { height, width, channels: 1 }, true);
  const encode = codeEncoder(vq);
  return new DataLoader(dataset, { ...options.loader, sequence: { ...config.sequence, ...options.loader?.sequence } }, {
    rng: options.rng,
    tokenizer: options.tokenizer,
    images: (index, sample) => {
      if (!cache.has(index)) cache.set(index, encodeImages(encode, [sample.image], dataset)[0]);
      return cache.get(index);
    },
  });
}

/**
 * A Transfusion-style batch whose images are code arrays -> token sequences for the LM loss on every position:
 * image slots get `textVocab + code`, and each position's target is the next token of its document (none at a
 * document's last position, EOS, nor at padding). BOI therefore predicts the first code, and the last code EOI.
 */
export function codeSequence(batch: MixedBatch, net: Pick<BaselineNetConfig, 'textVocab' | 'codebookSize'>, tokenizer: Tokenizer = byteTokenizer): CodeBatch {
  const { batchSize: B, length: L } = batch;
  const K = net.codebookSize;
  const tokens = Int32Array.from(batch.tokens);
  batch.slots.forEach((slot, k) => {
    const codes = batch.images[slot.source];
    if (!codes || codes.length !== slot.length) {
      throw new ShapeError(`batch.images[${slot.source}] (slot ${k})`, `${slot.length} code ids (encode the images with the VQ first)`, [codes?.length ?? 0]);
    }
    for (let j = 0; j < slot.length; j++) {
      const code = codes[j];
      if (!Number.isInteger(code) || code < 0 || code >= K) {
        throw new ConfigError(`batch.images[${slot.source}][${j}]`, code, `an integer code in [0, ${K - 1}] (net.codebookSize ${K})`);
      }
      tokens[slot.row * L + slot.start + j] = net.textVocab + code;
    }
  });
  const targets = new Int32Array(B * L).fill(-1);
  batch.layouts.forEach((layout, row) => {
    for (let i = 0; i + 1 < L; i++) {
      const p = row * L + i;
      if (tokens[p] !== tokenizer.pad && layout.document[i] === layout.document[i + 1]) targets[p] = tokens[p + 1];
    }
  });
  return { batchSize: B, length: L, tokens, targets, positions: batch.positions, layouts: batch.layouts };
}
