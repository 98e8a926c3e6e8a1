/**
 * The reference digit classifier of toy-scale evaluation: a small CNN over 16 x 16 MNIST digits in [-1, 1]
 * (the `mnist` preset's pixel-space latents). It plays the role Inception-v3 plays for FID and for the
 * classifier scores of text-to-image papers: its label reads a generated digit, and its penultimate
 * activations are the feature space of the Frechet distance (Heusel et al. 2017).
 *
 * Built from the lab's own blocks so it trains with the lab's Trainer and saves as a plain state dict.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ConfigError, ShapeError, check, mergeConfig, type DeepPartial } from '../config';
import { Module } from '../blocks/module';
import { Conv2d } from '../blocks/conv';
import { Linear } from '../blocks/linear';

export interface ClassifierConfig {
  /** Input side (default 16: the `mnist` preset's 16 x 16 digits). */
  readonly size: number;
  /** Input channels (default 1: grey digits). */
  readonly channels: number;
  /**
   * Output channels of the 3 x 3 convolutions, each followed by ReLU (default [32, 64, 64]). The first keeps the
   * side; each later one has stride 2 and halves it (16 -> 8 -> 4). Strided convolutions rather than max-pooling
   * because tfjs's pooling gradients run in plain JavaScript (measured: ~0.6 s per 64 x 16 x 16 x 32 batch, 20x a
   * convolution's), which would dominate training.
   */
  readonly conv: readonly number[];
  /** Width of the penultimate layer, the feature space of the Frechet distance (default 128). */
  readonly features: number;
  /** Classes (default 10 digits). */
  readonly classes: number;
}

export const DEFAULT_CLASSIFIER: ClassifierConfig = {
  size: 16,
  channels: 1,
  conv: [32, 64, 64],
  features: 128,
  classes: 10,
};

/** Merge overrides into DEFAULT_CLASSIFIER and check every field. */
export function classifierConfig(overrides: DeepPartial<ClassifierConfig> = {}): ClassifierConfig {
  const c = mergeConfig(DEFAULT_CLASSIFIER, overrides, 'classifier');
  check.positiveInt('classifier.size', c.size);
  check.positiveInt('classifier.channels', c.channels);
  check.positiveInt('classifier.features', c.features);
  check.positiveInt('classifier.classes', c.classes);
  if (!Array.isArray(c.conv) || c.conv.length === 0) throw new ConfigError('classifier.conv', c.conv, 'a non-empty array of positive integers');
  c.conv.forEach((n, i) => check.positiveInt(`classifier.conv[${i}]`, n));
  const halvings = c.conv.length - 1;
  if (c.size % 2 ** halvings !== 0) {
    throw new ConfigError('classifier.size', c.size, `a multiple of ${2 ** halvings} (the ${halvings} stride-2 convolutions of classifier.conv halve it exactly)`);
  }
  return c;
}

/** What one forward returns: logits and the penultimate features. */
export interface ClassifierOutput {
  /** [N, classes] unnormalised log-probabilities. */
  readonly logits: tf.Tensor;
  /** [N, features] post-ReLU penultimate activations (the FID feature space). */
  readonly features: tf.Tensor;
}

export class DigitClassifier extends Module {
  readonly config: ClassifierConfig;
  private readonly convs: Conv2d[];
  readonly hidden: Linear;
  readonly out: Linear;
  /** Side of the last feature map. */
  private readonly finalSide: number;

  constructor(overrides: DeepPartial<ClassifierConfig> = {}, rng: Rng = globalRng()) {
    super();
    this.config = classifierConfig(overrides);
    const { channels, conv, features, classes, size } = this.config;
    let inC = channels;
    this.convs = conv.map((outC, i) => {
      const layer = this.module(`convs.${i}`, new Conv2d(inC, outC, { kernelSize: 3, stride: i === 0 ? 1 : 2, rng }));
      inC = outC;
      return layer;
    });
    this.finalSide = size / 2 ** (conv.length - 1);
    this.hidden = this.module('hidden', new Linear(this.finalSide * this.finalSide * inC, features, { rng }));
    this.out = this.module('out', new Linear(features, classes, { rng }));
  }

  /** images [N, size, size, channels] in [-1, 1] -> logits [N, classes] and features [N, features]. */
  forward(images: tf.Tensor): ClassifierOutput {
    const { size, channels } = this.config;
    const s = images.shape;
    if (s.length !== 4 || s[1] !== size || s[2] !== size || s[3] !== channels) {
      throw new ShapeError('classifier input', `[N, ${size}, ${size}, ${channels}] images in [-1, 1]`, s);
    }
    return tf.tidy(() => {
      let x = images;
      for (const conv of this.convs) x = tf.relu(conv.forward(x));
      const features = tf.relu(this.hidden.forward(x.reshape([s[0], -1])));
      return { logits: this.out.forward(features), features } as unknown as tf.TensorContainer;
    }) as unknown as ClassifierOutput;
  }

  /** images [N, size, size, channels] -> [N] predicted class. */
  predict(images: tf.Tensor): Int32Array {
    const labels = tf.tidy(() => this.forward(images).logits.argMax(1));
    const out = Int32Array.from(labels.dataSync());
    labels.dispose();
    return out;
  }

  /** images [N, size, size, channels] -> [N, features] penultimate activations as float64 rows for the Frechet distance. */
  features(images: tf.Tensor): Float64Array[] {
    const f = tf.tidy(() => this.forward(images).features);
    const data = f.dataSync();
    const D = this.config.features;
    const rows = Array.from({ length: f.shape[0] }, (_, i) => Float64Array.from(data.subarray(i * D, (i + 1) * D)));
    f.dispose();
    return rows;
  }

  override describe(): string {
    const c = this.config;
    return `DigitClassifier(${c.channels}x${c.size}x${c.size} -> conv ${c.conv.join('/')} -> ${c.features} features -> ${c.classes} classes)`;
  }
}
