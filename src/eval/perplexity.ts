/**
 * Held-out caption perplexity: exp(mean next-token NLL over caption tokens) under the model's LM, on held-out
 * caption/image documents built by the training pipeline itself (src/data), so what is scored is laid out
 * exactly as training laid it out. The LM half of the paper's evaluation (§4.1 reports perplexity on held-out
 * text), at toy scale.
 *
 * Images enter the context CLEAN: the network is run with t = 0 for every image (no noise is added), as at
 * inference, where a finished image sits in the sequence as its clean latent.
 */
import { tf } from '../engine/tf';
import { Rng } from '../engine/random';
import { ConfigError, check, mergeConfig, type DeepPartial } from '../config';
import { DataLoader } from '../data/loader';
import { withoutCurriculum, type MixedBatch } from '../data/sequence';
import { MnistDataset } from '../data/mnist';
import { firstItems, type ImageDataset, type ImageSample } from '../data/image';
import { byteTokenizer, type Tokenizer } from '../data/tokenizer';
import { stackLatents } from '../model/objective';
import type { Transfusion } from '../model/transfusion';

export interface PerplexityConfig {
  /** Held-out documents scored (default 200; the first n of the held-out split, at most its 1,000). */
  readonly n: number;
  /** Documents per forward (default 16). */
  readonly batchSize: number;
  /**
   * Where the caption sits (default 'caption-first', as the paper's 80% of pairs): under the causal mask the
   * caption then sees only itself, so this is the text model's perplexity. 'image-first' scores the caption
   * given the clean image before it, i.e. captioning likelihood.
   */
  readonly order: 'caption-first' | 'image-first';
  /** Seed of the caption phrasing drawn per document from the dataset's templates (default 0). */
  readonly seed: number;
}

export const DEFAULT_PERPLEXITY: PerplexityConfig = {
  n: 200,
  batchSize: 16,
  order: 'caption-first',
  seed: 0,
};

export interface PerplexityInputs {
  /** The documents' images and captions (default: 16 x 16 held-out MNIST, the `mnist` preset's pixel latents). */
  readonly dataset?: ImageDataset;
  /** Item `index` as the model's latent (default its pixels, right when the latent is the image). */
  readonly images?: (index: number, sample: ImageSample) => Float32Array;
  readonly tokenizer?: Tokenizer;
}

export interface PerplexityResult {
  /** exp(nll). */
  readonly perplexity: number;
  /** Mean next-token negative log-likelihood over caption tokens, in nats. */
  readonly nll: number;
  /** Caption tokens scored. */
  readonly tokens: number;
  /** Documents scored. */
  readonly documents: number;
}

/**
 * A loader over the first `n` held-out documents, built by the training pipeline with every caption kept and
 * placed by `order`, in dataset order: what the held-out metrics (caption perplexity, diffusion loss) score.
 * `field` names the caller's config in errors (`perplexity.n`).
 */
export function heldOutLoader(
  model: Transfusion,
  field: string,
  options: { readonly n: number; readonly batchSize: number; readonly order: 'caption-first' | 'image-first'; readonly rng: Rng },
  inputs: PerplexityInputs,
): DataLoader {
  const { channels, height } = model.config.net.latent;
  const dataset = inputs.dataset ?? new MnistDataset({ split: 'heldout', size: height, channels: channels === 3 ? 3 : 1 });
  if (options.n > dataset.length) throw new ConfigError(`${field}.n`, options.n, `at most the ${dataset.length} held-out items`);
  return new DataLoader(
    firstItems(dataset, options.n),
    {
      batchSize: options.batchSize,
      shuffle: false,
      dropLast: false,
      // Every document keeps its caption and its order: no caption dropout, no random image-first pairs, no plain
      // captions; and every caption token is a target, whatever the training's sequence.promptLoss, so the metric
      // reads the same.
      sequence: { ...withoutCurriculum(model.config.sequence), captionDropout: 0, imageFirstProb: options.order === 'image-first' ? 1 : 0, promptLoss: true },
    },
    { rng: options.rng, images: inputs.images, tokenizer: inputs.tokenizer ?? byteTokenizer },
  );
}

/**
 * Run `model` over every batch of a held-out loader, in eval mode (restored after) with every image clean (t = 0,
 * as at inference), and hand `read` the LM logits [M, V] at the M positions whose next-token target passes `keep`,
 * with those targets and the batch. `read` runs inside a tf.tidy and returns plain numbers; one result per batch.
 * What caption perplexity and the digit readout (readout.ts) both score.
 */
export function cleanLogitsAt<R extends number | number[] | number[][] | { readonly [k: string]: number }>(
  model: Transfusion,
  loader: DataLoader,
  keep: (target: number) => boolean,
  read: (logits: tf.Tensor, targets: readonly number[], batch: MixedBatch) => R,
): R[] {
  const wasTraining = model.net.training;
  model.net.eval();
  const results: R[] = [];
  try {
    for (const batch of loader.epoch(0)) {
      const rows: number[] = [];
      const targets: number[] = [];
      batch.targets.forEach((y, i) => {
        if (y >= 0 && keep(y)) {
          rows.push(i);
          targets.push(y);
        }
      });
      results.push(
        tf.tidy(() => {
          const S = batch.slots.length;
          const latents = S > 0 ? stackLatents(batch, model.config.net.latent) : null;
          const out = model.net.forward({ ...batch, latents, t: S > 0 ? tf.zeros([S]) : null });
          return read(model.net.logitsAt(out.hidden, Int32Array.from(rows)), targets, batch);
        }) as R,
      );
    }
  } finally {
    model.net.train(wasTraining);
  }
  return results;
}

/**
 * Perplexity of held-out captions. Caption tokens are the next-token targets that are not special ids
 * (BOS, EOS, PAD, BOI, EOI): the NLL of each caption token given everything before it. BOI and EOS are left out
 * so the figure measures the caption text alone, the same under either document order.
 */
export function captionPerplexity(model: Transfusion, overrides: DeepPartial<PerplexityConfig> = {}, inputs: PerplexityInputs = {}): PerplexityResult {
  const config = mergeConfig(DEFAULT_PERPLEXITY, overrides, 'perplexity');
  check.positiveInt('perplexity.n', config.n);
  check.positiveInt('perplexity.batchSize', config.batchSize);
  check.oneOf('perplexity.order', config.order, ['caption-first', 'image-first'] as const);
  check.nonNegativeInt('perplexity.seed', config.seed);
  const tok = inputs.tokenizer ?? byteTokenizer;
  const specials = new Set([tok.bos, tok.eos, tok.pad, tok.boi, tok.eoi]);
  const loader = heldOutLoader(model, 'perplexity', { n: config.n, batchSize: config.batchSize, order: config.order, rng: new Rng(`perplexity/${config.seed}`) }, inputs);
  // t = 0: the images are clean (see the file comment).
  const batches = cleanLogitsAt(model, loader, (y) => !specials.has(y), (logits, targets, batch) => {
    const logp = tf.logSoftmax(logits);
    const picked = logp.mul(tf.oneHot(tf.tensor1d(targets as number[], 'int32'), logp.shape[1]!));
    return { nll: picked.sum().neg().dataSync()[0], tokens: targets.length, documents: batch.images.length };
  });
  const sum = batches.reduce((a, r) => a + r.nll, 0);
  const tokens = batches.reduce((a, r) => a + r.tokens, 0);
  const documents = batches.reduce((a, r) => a + r.documents, 0);
  if (tokens === 0) throw new ConfigError('perplexity.dataset', 'captions', 'documents with at least one caption token');
  const mean = sum / tokens;
  return { perplexity: Math.exp(mean), nll: mean, tokens, documents };
}
