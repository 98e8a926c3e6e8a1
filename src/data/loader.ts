/**
 * A DataLoader-like batch iterator over an image dataset: seeded shuffling per epoch, captions and
 * pair layouts (order, dropout) drawn per epoch, documents packed into fixed-size batches of rows.
 *
 * Epoch e's batches are a function of (loader seed, e) alone, so resuming at epoch 3 gives the same data
 * as running epochs 0-2 first, and the model drawing more noise never changes the data order.
 */
import { ConfigError, DeepPartial, check, mergeConfig } from '../config';
import { Rng, rng as globalRng } from '../engine/random';
import { ImageDataset, ImageSample } from './image';
import {
  DEFAULT_SEQUENCE_CONFIG,
  Document,
  MixedBatch,
  RowAssigner,
  SequenceConfig,
  documentLength,
  packDocuments,
  pairDocument,
  validateSequenceConfig,
  imageFirstProbAt,
  isPlainEpoch,
} from './sequence';
import { Tokenizer, byteTokenizer } from './tokenizer';

export interface LoaderConfig {
  /** Rows per batch, B (default 16, the `tiny` benchmark's batch). */
  readonly batchSize: number;
  /** Visit items in a fresh seeded order each epoch (default true); false keeps dataset order. */
  readonly shuffle: boolean;
  /** Drop an epoch's last batch when it has fewer than batchSize rows (default true: every step sees B rows). */
  readonly dropLast: boolean;
  /** How pairs become rows (defaults: DEFAULT_SEQUENCE_CONFIG). */
  readonly sequence: SequenceConfig;
}

export const DEFAULT_LOADER_CONFIG: LoaderConfig = {
  batchSize: 16,
  shuffle: true,
  dropLast: true,
  sequence: DEFAULT_SEQUENCE_CONFIG,
};

/** What the loader needs beyond plain config: a random stream, where image data comes from, a tokenizer. */
export interface LoaderOptions {
  /** The loader draws one seed from it at construction (default: the global stream). */
  readonly rng?: Rng;
  /**
   * The array placed in the batch for item `index` (default: the sample's pixels). Pass cached latents
   * here, e.g. `(i) => cache.get(i)` with a filled LatentCache, so the autoencoder is not rerun.
   */
  readonly images?: (index: number, sample: ImageSample) => Float32Array;
  readonly tokenizer?: Tokenizer;
}

/** A batch plus where its images came from. */
export interface LoaderBatch extends MixedBatch {
  readonly epoch: number;
  /** [images.length] dataset index of each of `images`. */
  readonly items: Int32Array;
}

export class DataLoader implements Iterable<LoaderBatch> {
  readonly config: LoaderConfig;
  /** Seed of every epoch's streams, drawn once from the rng given at construction. */
  readonly seed: number;
  private readonly imageOf: (index: number, sample: ImageSample) => Float32Array;
  private readonly tokenizer: Tokenizer;

  constructor(readonly dataset: ImageDataset, overrides: DeepPartial<LoaderConfig> = {}, options: LoaderOptions = {}) {
    const config = mergeConfig(DEFAULT_LOADER_CONFIG, overrides, 'loader');
    check.size('loader.batchSize', config.batchSize, 'batch');
    check.oneOf('loader.shuffle', config.shuffle, [true, false]);
    check.oneOf('loader.dropLast', config.dropLast, [true, false]);
    validateSequenceConfig(config.sequence);
    if (dataset.length === 0) throw new ConfigError('loader.dataset.length', dataset.length, 'at least one item');
    this.config = config;
    this.seed = (options.rng ?? globalRng()).opSeed();
    this.imageOf = options.images ?? ((_, sample) => sample.image);
    this.tokenizer = options.tokenizer ?? byteTokenizer;
  }

  /** The batches of epoch `epoch`, in order. */
  *epoch(epoch: number): Generator<LoaderBatch> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new ConfigError('loader.epoch', epoch, 'an integer >= 0');
    const { batchSize, shuffle, dropLast, sequence } = this.config;
    const stream = new Rng(`${this.seed}/epoch/${epoch}`);
    const orderRng = stream.fork('order');
    const captionRng = stream.fork('captions');
    const layoutRng = stream.fork('layout');
    const n = this.dataset.length;
    const order = shuffle ? orderRng.permutation(n) : Array.from({ length: n }, (_, i) => i);

    let documents: Document[] = [];
    let images: Float32Array[] = [];
    let items: number[] = [];
    let rows = new RowAssigner(sequence.length, sequence.pack);
    const flush = (): LoaderBatch => {
      const batch = packDocuments(documents, images, sequence, this.tokenizer);
      const out = { ...batch, epoch, items: Int32Array.from(items) };
      documents = [];
      images = [];
      items = [];
      rows = new RowAssigner(sequence.length, sequence.pack);
      return out;
    };
    const plain = isPlainEpoch(sequence, epoch);
    const pairing = { ...sequence, imageFirstProb: imageFirstProbAt(sequence, epoch) };
    for (const index of order) {
      const sample = this.dataset.get(index, captionRng);
      // The drawn caption decides dropout and order (the same draws either way), then an image-first pair in a
      // plain-caption epoch reads its sample's one fixed form instead (SequenceConfig.plainCaptionEpochs).
      let pair = pairDocument(0, sample.caption, pairing, layoutRng);
      if (plain && pair.length === 2 && pair[0].kind === 'image') {
        if (sample.plainCaption === undefined) {
          throw new ConfigError('sequence.plainCaptionEpochs', sequence.plainCaptionEpochs, `0 for this dataset: its samples have no plainCaption (item ${index}); MNIST's have`);
        }
        pair = [{ ...pair[0], caption: sample.plainCaption }, { kind: 'text', text: sample.plainCaption }];
      }
      const size = documentLength(pair, sequence.patchesPerImage, this.tokenizer);
      if (rows.peek(size) >= batchSize) yield flush();
      rows.place(size, () => `item ${index} (caption ${JSON.stringify(sample.caption)})`);
      documents.push(pair.map((part) => (part.kind === 'image' ? { ...part, index: images.length } : part)));
      images.push(this.imageOf(index, sample));
      items.push(index);
    }
    if (documents.length > 0 && (!dropLast || rows.rows === batchSize)) yield flush();
  }

  /** Batches forever, epoch after epoch from `startEpoch`. */
  *batches(startEpoch = 0): Generator<LoaderBatch> {
    for (let e = startEpoch; ; e++) {
      let produced = 0;
      for (const batch of this.epoch(e)) {
        produced++;
        yield batch;
      }
      if (produced === 0) {
        throw new ConfigError('loader.batchSize', this.config.batchSize, `at most the rows one epoch fills (${this.dataset.length} items), or set dropLast: false`);
      }
    }
  }

  [Symbol.iterator](): Iterator<LoaderBatch> {
    return this.batches();
  }
}
