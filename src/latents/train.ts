/**
 * Train an image autoencoder (the VAE that Transfusion diffuses in, §3.1 / §4.1, or the VQ tokenizer of the
 * Chameleon baseline, Tab 3) on an image dataset with the lab's Trainer, so the autoencoder's run reports and
 * stops the same way a Transfusion run does. The paper uses a pretrained, frozen VAE; at toy scale we train
 * one first, freeze it, and cache its latents (encode.ts).
 */
import { tf } from '../engine/tf';
import { Rng } from '../engine/random';
import { check, ConfigError, mergeConfig, type DeepPartial } from '../config';
import type { ImageDataset } from '../data/image';
import {
  makeAutoencoder,
  VAE,
  VQAutoencoder,
  type Autoencoder,
  type AutoencoderConfig,
  type AutoencoderConfigInput,
} from '../blocks/autoencoder';
import { Trainer, makeTrainConfig, type RunResult, type StepReport } from '../train/trainer';

export interface AutoencoderTrainConfig {
  /** Optimiser steps (default 300: enough for a 16 x 16 MNIST VAE to reconstruct digits recognisably). */
  readonly steps: number;
  /** Images per step (default 32). */
  readonly batchSize: number;
  /**
   * Peak learning rate (default 2e-3): small convolutional autoencoders tolerate far more than the transformer's
   * 3e-4, and a short run needs it. Warmup, then cosine decay to a tenth over `steps`.
   */
  readonly lr: number;
  /** Linear warmup steps (default 20, capped at `steps`). */
  readonly warmupSteps: number;
  /** AdamW decoupled weight decay (default 0: LDM trains its autoencoders with plain Adam). */
  readonly weightDecay: number;
  /** Global gradient-norm clip (default 1, as the transformer; 0 = off). */
  readonly gradClip: number;
  /** Seed of the initial weights, the batch order and the VAE's posterior samples (default 0). */
  readonly seed: number;
  /**
   * VAE: after training, set `scalingFactor` to 1 / std of the posterior means of this many dataset images
   * (default 256), so Transfusion's diffusion sees unit-variance latents (Rombach et al. 2022 §4.3.2). 0 keeps
   * the configured factor. Other kinds ignore it.
   */
  readonly scaleImages: number;
  /**
   * VQ: where the codebook starts. 'data' (default) replaces it before the first step by encoder outputs drawn
   * from the first batch, so every code starts where the encoder puts vectors and none is dead from the start
   * (SoundStream, Zeghidour et al. 2021, runs k-means on the first batch; this is its start without the iterations);
   * 'uniform' keeps VectorQuantizer's U(-1/K, 1/K) init, where a few codes take every vector at first. A VQ
   * passed in already built keeps its codebook either way.
   */
  readonly codebookInit: 'data' | 'uniform';
}

export const DEFAULT_AUTOENCODER_TRAIN: AutoencoderTrainConfig = {
  steps: 300,
  batchSize: 32,
  lr: 2e-3,
  warmupSteps: 20,
  weightDecay: 0,
  gradClip: 1,
  seed: 0,
  scaleImages: 256,
  codebookInit: 'data',
};

/** The run's plain config plus what cannot be plain data: progress callbacks. */
export interface AutoencoderTrainOptions extends DeepPartial<AutoencoderTrainConfig> {
  readonly onStep?: (report: StepReport) => void;
  /** Polled between steps (besides the kernel interrupt); true stops at the step boundary. */
  readonly shouldStop?: () => boolean;
}

export interface AutoencoderTrainResult {
  /** The trained autoencoder (its `config` rebuilds it, a fitted VAE scaling factor included). */
  readonly autoencoder: Autoencoder;
  /** One report per optimiser step; breakdown holds the autoencoder's loss terms (VAE: recon, kl). */
  readonly history: readonly StepReport[];
  readonly config: AutoencoderTrainConfig;
  readonly stoppedBy: RunResult['stoppedBy'];
}

/** Merge overrides into DEFAULT_AUTOENCODER_TRAIN and check every field (errors name `autoencoderTrain.<field>`). */
export function resolveAutoencoderTrainConfig(overrides: DeepPartial<AutoencoderTrainConfig> = {}): AutoencoderTrainConfig {
  const c = mergeConfig(DEFAULT_AUTOENCODER_TRAIN, overrides, 'autoencoderTrain');
  check.nonNegativeInt('autoencoderTrain.steps', c.steps);
  check.positiveInt('autoencoderTrain.batchSize', c.batchSize);
  check.positive('autoencoderTrain.lr', c.lr);
  check.nonNegativeInt('autoencoderTrain.warmupSteps', c.warmupSteps);
  check.nonNegative('autoencoderTrain.weightDecay', c.weightDecay);
  check.nonNegative('autoencoderTrain.gradClip', c.gradClip);
  if (!Number.isFinite(c.seed)) throw new ConfigError('autoencoderTrain.seed', c.seed, 'a finite number');
  check.nonNegativeInt('autoencoderTrain.scaleImages', c.scaleImages);
  check.oneOf('autoencoderTrain.codebookInit', c.codebookInit, ['data', 'uniform'] as const);
  return c;
}

/** Throw unless the dataset's images fit the autoencoder: same channels, sides divisible by its downsampling. */
export function checkDatasetFits(ae: Autoencoder, dataset: Pick<ImageDataset, 'height' | 'width' | 'channels'>): void {
  if (dataset.channels !== ae.imageChannels) {
    throw new ConfigError('autoencoder.imageChannels', ae.imageChannels, `${dataset.channels}, the dataset's image channels`);
  }
  for (const side of ['height', 'width'] as const) {
    if (dataset[side] % ae.downsample !== 0) {
      throw new ConfigError('autoencoder.downsample', ae.downsample, `a divisor of the dataset's image ${side} (${dataset[side]})`);
    }
  }
}

/** Images `indices` of `dataset` as [n, H, W, C]; captions are drawn from a private stream, never the global one. */
export function imageBatch(dataset: ImageDataset, indices: readonly number[]): tf.Tensor4D {
  const { height: H, width: W, channels: C } = dataset;
  const size = H * W * C;
  const data = new Float32Array(indices.length * size);
  const captions = new Rng('latents/unused-captions');
  indices.forEach((index, k) => data.set(dataset.get(index, captions).image, k * size));
  return tf.tensor4d(data, [indices.length, H, W, C]);
}

/** Batches of dataset indices forever: a fresh seeded permutation per epoch, cut into `batchSize` pieces. */
function* indexBatches(n: number, batchSize: number, rng: Rng): Generator<number[]> {
  const size = Math.min(batchSize, n);
  for (;;) {
    const order = rng.permutation(n);
    for (let s = 0; s + size <= n; s += size) yield order.slice(s, s + size);
  }
}

/** Replace the codebook by K encoder outputs of `images`, drawn without replacement while there are enough. */
function initCodebookFromData(vq: VQAutoencoder, images: tf.Tensor, rng: Rng): void {
  tf.tidy(() => {
    const vectors = vq.encoder.forward(images).reshape([-1, vq.latentChannels]);
    const n = vectors.shape[0];
    const K = vq.quantizer.size;
    const order = rng.permutation(n);
    const picks = Int32Array.from({ length: K }, (_, k) => (k < n ? order[k] : rng.int(n)));
    vq.quantizer.codebook.assign(tf.gather(vectors, tf.tensor1d(picks, 'int32')));
  });
}

/**
 * Build (or continue) an autoencoder and train it on `dataset` for `options.steps` steps. The identity
 * autoencoder has nothing to learn and comes back unchanged with an empty history, so a notebook switches
 * between pixel and latent space with one config change.
 */
export async function trainAutoencoder(
  config: AutoencoderConfigInput | AutoencoderConfig | Autoencoder,
  dataset: ImageDataset,
  options: AutoencoderTrainOptions = {},
): Promise<AutoencoderTrainResult> {
  const { onStep, shouldStop, ...overrides } = options;
  const c = resolveAutoencoderTrainConfig(overrides);
  const root = new Rng(`autoencoder-train/${c.seed}`);
  const ae = makeAutoencoder(config, { rng: root.fork('init') });
  checkDatasetFits(ae, dataset);
  if (ae.trainableParameters().length === 0) return { autoencoder: ae, history: [], config: c, stoppedBy: 'done' };

  const batches = indexBatches(dataset.length, c.batchSize, root.fork('batches'));
  const noise = root.fork('posterior-noise');
  // Only a codebook built here is replaced: a VQ passed in to continue training keeps its codes.
  if (ae instanceof VQAutoencoder && ae !== config && c.codebookInit === 'data') {
    const first = imageBatch(dataset, root.fork('codebook-init').permutation(dataset.length).slice(0, c.batchSize));
    initCodebookFromData(ae, first, root.fork('codebook-picks'));
    first.dispose();
  }
  const trainer = new Trainer(ae, makeTrainConfig({
    optimizer: { lr: c.lr, weightDecay: c.weightDecay },
    lrSchedule: { kind: 'warmup-cosine', warmupSteps: Math.min(c.warmupSteps, c.steps), totalSteps: Math.max(1, c.steps), minRatio: 0.1 },
    gradClip: c.gradClip,
  }));
  let result: RunResult;
  try {
    result = await trainer.run(() => {
      // Created inside the trainer's gradient scope, which frees the batch once the gradients exist.
      const images = imageBatch(dataset, batches.next().value as number[]);
      // `tokens` counts images here, so the report's tokensPerSec reads as images per second.
      return { ...ae.loss(images, noise), tokens: images.shape[0] };
    }, { steps: c.steps, onStep, shouldStop });
  } finally {
    trainer.dispose();
  }
  if (ae instanceof VAE && c.scaleImages > 0) {
    const sample = imageBatch(dataset, root.fork('scale').permutation(dataset.length).slice(0, c.scaleImages));
    ae.fitScalingFactor(sample);
    sample.dispose();
  }
  return { autoencoder: ae, history: trainer.history, config: c, stoppedBy: result.stoppedBy };
}
