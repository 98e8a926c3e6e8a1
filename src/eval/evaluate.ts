/**
 * One row of a results table for a Transfusion trained on MNIST digits, the toy-scale stand-in for the paper's
 * evaluation (§4.1: FID and CLIP score for text-to-image, CIDEr for image-to-text, perplexity for text):
 *
 * - t2i_accuracy: the reference classifier's accuracy on images generated from the ten canonical captions
 *   ("the digit 7"), n per digit (the classifier plays CLIP's part: does the image match its prompt?);
 * - fid: the Frechet distance between those images and the real held-out digits, on the classifier's
 *   penultimate features (FID with the reference classifier in place of Inception-v3);
 * - caption_accuracy: the fraction of held-out digits whose generated caption names the right digit;
 * - perplexity: held-out caption perplexity under the model's LM (perplexity.ts);
 * - diffusion_mse: the held-out epsilon error at a fixed log-SNR grid, unweighted (diffusion-loss.ts): the
 *   diffusion half of a validation loss, comparable across weightings, targets and schedules, which the
 *   training loss is not.
 *
 * FID is biased upward at small sample sizes (Chong & Forsyth 2020), so compare rows only at equal `n`.
 *
 * The Chameleon baseline (src/baseline) is scored by the same code on the same prompts, digits, classifier and
 * streams, so its t2i_accuracy, fid and caption_accuracy compare with Transfusion's row for row (Tab 3 at toy
 * scale): its images are sampled code by code and decoded by its VQ (never greedily: one image per prompt would
 * have no spread for the Frechet distance to measure), its captions decoded like Transfusion's. It has no
 * diffusion (no diffusion_mse) and no classifier-free guidance (its rows have guidance 1, and another scale is an
 * error); held-out perplexity needs src/eval/perplexity.ts to read the baseline's rows, so its row has none yet.
 */
import { tf } from '../engine/tf';
import { Rng } from '../engine/random';
import { interruptRequested } from '../engine/interrupt';
import { ConfigError, check, mergeConfig, type DeepPartial } from '../config';
import { DEFAULT_MNIST_CONFIG, MnistDataset, canonicalCaption } from '../data/mnist';
import type { Transfusion } from '../model/transfusion';
import { ChameleonBaseline } from '../baseline/chameleon';
import { caption, textToImage } from '../generate/batch';
import { DEFAULT_GENERATE, GUIDANCE_RANGE, type GenerateOptions } from '../generate/options';
import { samplers } from '../schedules/sampler';
import { cachedClassifier } from './classifier-cache';
import { mnistHeldoutDigits } from './classifier-train';
import { captionAccuracy } from './caption-digit';
import { digitBatch, forEachChunk } from './digits';
import { frechetDistanceOf } from './frechet';
import { captionPerplexity } from './perplexity';
import { heldOutDiffusionLoss } from './diffusion-loss';

export interface EvalConfig {
  /** Images generated per digit for t2i_accuracy and fid (default 10: 100 images). */
  readonly n: number;
  /** Denoising steps of the sampler (default 50, DEFAULT_GENERATE's; the paper uses 250). */
  readonly steps: number;
  /**
   * The sampler kind that generates: any of src/schedules' samplers, e.g. 'dpmpp-2m', which needs fewer steps for
   * the same images (README, "Time to quality"). Default null: the kind `EvalInputs.generate` names, else
   * DEFAULT_GENERATE's ('ddim').
   */
  readonly sampler: string | null;
  /** Classifier-free guidance scale (default 3, the low end of the paper's 3 to 5; 1 turns it off). */
  readonly guidance: number;
  /** Seed of the generation noise, caption sampling and caption phrasings (default 0). */
  readonly seed: number;
  /** Held-out digits captioned for caption_accuracy, and held-out documents scored for perplexity (default 100). */
  readonly heldout: number;
  /**
   * Images per generator call (default 50): bounds memory. Each call draws its own noise, so another size draws
   * other noise and the scores move within their sampling noise (200 images: 0.67 to 0.735 text-to-image on one
   * model for sizes 25 to 200); it is not faster past 50 on a CPU.
   */
  readonly batchSize: number;
}

export const DEFAULT_EVAL: EvalConfig = {
  n: 10,
  steps: 50,
  sampler: null,
  guidance: 3,
  seed: 0,
  heldout: 100,
  batchSize: 50,
};

/** One results-table row (snake_case keys, as a results table or CSV has them). */
export interface EvalRow {
  readonly t2i_accuracy: number;
  readonly fid: number;
  readonly caption_accuracy: number;
  readonly perplexity: number;
  /** Held-out epsilon MSE, mean over the log-SNR grid -6, -4, ..., 6 (diffusion-loss.ts). */
  readonly diffusion_mse: number;
  /** Images generated per digit. */
  readonly n: number;
  readonly steps: number;
  /** The sampler kind that generated the images ('autoregressive' for the baseline's codes). */
  readonly sampler: string;
  readonly guidance: number;
  readonly seed: number;
  /** Wall time of the whole evaluation. */
  readonly seconds: number;
}

/** A baseline row: what the discrete-token model can be scored on (see the file comment). */
export type ChameleonEvalRow = Omit<EvalRow, 'perplexity' | 'diffusion_mse'>;

/** The models `evaluate` scores. */
export type EvalModel = Transfusion | ChameleonBaseline;

/** What scores images: the reference DigitClassifier, or any stand-in with the same two methods. */
export interface DigitScorer {
  /** images [N, 16, 16, 1] in [-1, 1] -> [N] predicted digit. */
  predict(images: tf.Tensor): Int32Array;
  /** images [N, 16, 16, 1] -> N feature vectors for the Frechet distance. */
  features(images: tf.Tensor): Float64Array[];
}

/**
 * The generation calls evaluation makes (src/generate's `textToImage` and `caption` by default; the baseline's
 * own for a ChameleonBaseline, CHAMELEON_GENERATORS).
 */
export interface EvalGenerators<M extends EvalModel = Transfusion> {
  /** captions -> [N, H, W, C] latents, owned by the caller. */
  textToImage(model: M, captions: readonly string[], options: DeepPartial<GenerateOptions>, inputs: { rng: Rng }): tf.Tensor | Promise<tf.Tensor>;
  /** latents [N, H, W, C] -> N captions. */
  caption(model: M, latents: tf.Tensor, options: DeepPartial<GenerateOptions>, inputs: { rng: Rng }): string[] | Promise<string[]>;
}

export const LAB_GENERATORS: EvalGenerators = { textToImage, caption };

/**
 * The baseline's generation with the options evaluation passes: codes sampled with `temperature`, `topK`, `topP`
 * (never greedy, see the file comment) and decoded by its VQ; captions with the text options, greedy by default.
 */
export const CHAMELEON_GENERATORS: EvalGenerators<ChameleonBaseline> = {
  textToImage: (model, captions, options, { rng }) => {
    const { images, codes } = model.textToImage(captions, { temperature: options.temperature, topK: options.topK, topP: options.topP, greedy: false, cache: options.cache, rng });
    codes.dispose();
    return images;
  },
  caption: (model, images, options, { rng }) => model.caption(images, {
    maxTokens: options.maxTokens, greedy: options.greedy, temperature: options.temperature, topK: options.topK, topP: options.topP, cache: options.cache, rng,
  }),
};

export interface EvalInputs<M extends EvalModel = Transfusion> {
  /** Default: `cachedClassifier()` (trained once, then read from out/classifier-16.safetensors). */
  readonly classifier?: DigitScorer;
  readonly generators?: EvalGenerators<M>;
  /**
   * Generated latents [N, H, W, C] -> images [N, 16, 16, 1] for the classifier, which are then clamped to [-1, 1]
   * (default: the latents themselves, right for the `mnist` preset, whose latent is the image). A latent model
   * passes its decoder here.
   */
  readonly toImages?: (latents: tf.Tensor) => tf.Tensor;
  /** Held-out images [N, 16, 16, 1] -> the model's latents, for captioning and perplexity (default: identity). */
  readonly toLatents?: (images: tf.Tensor) => tf.Tensor;
  /**
   * Further generation options (sampler kind, temperature ...). `steps` and `guidance` above win over these;
   * captions are decoded greedily with at most 32 tokens (the longest training caption has 21) unless set here.
   */
  readonly generate?: DeepPartial<GenerateOptions>;
}

/**
 * How evaluation generates: `steps` sampler steps at guidance `guidance`, captions decoded greedily with at most 32
 * tokens (the longest training caption has 21), unless `extra` says otherwise; `steps`, `guidance` and the sampler
 * kind, when given, always win. A kind other than extra's starts from that kind's defaults.
 */
export function scoringOptions(steps: number, guidance: number, extra: DeepPartial<GenerateOptions> = {}, sampler: string | null = null): DeepPartial<GenerateOptions> {
  const base = sampler === null || extra.sampler?.kind === sampler ? { ...extra.sampler } : { kind: sampler };
  return { greedy: true, maxTokens: 32, ...extra, sampler: { ...base, steps } as DeepPartial<GenerateOptions['sampler']>, guidanceScale: guidance };
}

/** Evaluation stopped by a kernel interrupt: no row, since metrics over part of the samples are not comparable. */
export class EvalInterrupted extends Error {
  constructor(readonly stage: string) {
    super(`evaluation interrupted during ${stage}; no row was produced (a partial evaluation is not comparable with full ones)`);
    this.name = 'EvalInterrupted';
  }
}

/**
 * Check every field (errors name `${field}.<name>`): sizes are bounded before anything is generated, and
 * `heldout` cannot exceed the held-out digits there are (DEFAULT_MNIST_CONFIG.heldout, MNIST's evaluation split).
 */
export function validateEvalConfig(c: EvalConfig, field = 'eval'): EvalConfig {
  check.size(`${field}.n`, c.n, 'perDigit');
  check.size(`${field}.steps`, c.steps, 'diffusionSteps');
  if (c.sampler !== null && !samplers.has(c.sampler)) throw new ConfigError(`${field}.sampler`, c.sampler, samplers.kinds().map((k) => `'${k}'`).join(', '));
  check.inRange(`${field}.guidance`, c.guidance, GUIDANCE_RANGE[0], GUIDANCE_RANGE[1]);
  check.nonNegativeInt(`${field}.seed`, c.seed);
  const available = DEFAULT_MNIST_CONFIG.heldout;
  if (!(Number.isInteger(c.heldout) && c.heldout >= 1 && c.heldout <= available)) {
    throw new ConfigError(`${field}.heldout`, c.heldout, `at most the ${available} held-out digits (MNIST's evaluation split), and at least 1`);
  }
  check.size(`${field}.batchSize`, c.batchSize, 'batch');
  return c;
}

/** Let a kernel interrupt land between two generator calls, and honour it. */
async function checkpointYield(stage: string): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (interruptRequested()) throw new EvalInterrupted(stage);
}

/** Run `f` on `t`, then dispose `t`. */
async function thenDispose<T>(t: tf.Tensor, f: (t: tf.Tensor) => T | Promise<T>): Promise<T> {
  try {
    return await f(t);
  } finally {
    t.dispose();
  }
}

/** `convert(t)`, disposing `t` unless the converter handed it back (identity for the `mnist` preset). */
function converted(t: tf.Tensor, convert: (t: tf.Tensor) => tf.Tensor): tf.Tensor {
  try {
    const out = convert(t);
    if (out !== t) t.dispose();
    return out;
  } catch (e) {
    t.dispose();
    throw e;
  }
}

/**
 * The evaluation config for `model`: the baseline's guidance is 1 (it has none), and any other scale is an error
 * rather than a row that claims a guidance it did not use.
 */
export function evalConfigFor(model: EvalModel, overrides: DeepPartial<EvalConfig> = {}, field = 'eval'): EvalConfig {
  if (!(model instanceof ChameleonBaseline)) return validateEvalConfig(mergeConfig(DEFAULT_EVAL, overrides, field), field);
  const config = validateEvalConfig(mergeConfig({ ...DEFAULT_EVAL, guidance: 1 }, overrides, field), field);
  if (config.guidance !== 1) throw new ConfigError(`${field}.guidance`, config.guidance, '1: the Chameleon baseline has no classifier-free guidance');
  return config;
}

/**
 * Evaluate `model` (trained on 16 x 16 MNIST), a Transfusion or the Chameleon baseline, and return one row. The
 * model is run in eval mode (dropout off) by the generators; its weights are not changed.
 */
export function evaluate(model: Transfusion, overrides?: DeepPartial<EvalConfig>, inputs?: EvalInputs): Promise<EvalRow>;
export function evaluate(model: ChameleonBaseline, overrides?: DeepPartial<EvalConfig>, inputs?: EvalInputs<ChameleonBaseline>): Promise<ChameleonEvalRow>;
export function evaluate(model: EvalModel, overrides?: DeepPartial<EvalConfig>, inputs?: EvalInputs<EvalModel>): Promise<EvalRow | ChameleonEvalRow>;
export async function evaluate(model: EvalModel, overrides: DeepPartial<EvalConfig> = {}, inputs: EvalInputs<EvalModel> = {}): Promise<EvalRow | ChameleonEvalRow> {
  const config = evalConfigFor(model, overrides);
  const started = performance.now();
  const generators = inputs.generators ?? ((model instanceof ChameleonBaseline ? CHAMELEON_GENERATORS : LAB_GENERATORS) as EvalGenerators<EvalModel>);
  const toImages = inputs.toImages ?? ((x: tf.Tensor) => x);
  const toLatents = inputs.toLatents ?? ((x: tf.Tensor) => x);
  const options = scoringOptions(config.steps, config.guidance, inputs.generate, model instanceof ChameleonBaseline ? null : config.sampler);
  const heldout = mnistHeldoutDigits();
  if (config.heldout > heldout.length) throw new ConfigError('eval.heldout', config.heldout, `at most the ${heldout.length} held-out digits`);
  const loaded = inputs.classifier ? null : await cachedClassifier();
  const scorer: DigitScorer = inputs.classifier ?? loaded!.classifier;
  const rng = new Rng(`eval/${config.seed}`);
  try {
    // Text to image: n images of each digit, generated in chunks from the canonical captions.
    const labels = Int32Array.from({ length: 10 * config.n }, (_, i) => Math.floor(i / config.n));
    const predicted = new Int32Array(labels.length);
    const generated: Float64Array[] = [];
    for (let start = 0; start < labels.length; start += config.batchSize) {
      const count = Math.min(config.batchSize, labels.length - start);
      const captions = Array.from(labels.subarray(start, start + count), canonicalCaption);
      const latents = await generators.textToImage(model, captions, options, { rng: rng.fork(`t2i/${start}`) });
      // Clamped to the pixel range, as saving the image would: a sampler's overshoot is not a feature of the digit.
      await thenDispose(converted(latents, (l) => tf.tidy(() => toImages(l).clipByValue(-1, 1))), (images) => {
        predicted.set(scorer.predict(images), start);
        generated.push(...scorer.features(images));
      });
      await checkpointYield('text-to-image generation');
    }
    const t2iAccuracy = predicted.reduce((n, p, i) => n + (p === labels[i] ? 1 : 0), 0) / labels.length;

    // The real side of the Frechet distance: every held-out digit (1,000), cheap next to generation.
    const real: Float64Array[] = [];
    forEachChunk(heldout.length, 500, (start, count) => {
      const images = digitBatch(heldout, Int32Array.from({ length: count }, (_, k) => start + k));
      real.push(...scorer.features(images));
      images.dispose();
    });
    const fid = frechetDistanceOf(generated, real);

    // Image to text: caption the first `heldout` held-out digits.
    const m = config.heldout;
    const captions: string[] = [];
    const latentRows: Float32Array[] = [];
    for (let start = 0; start < m; start += config.batchSize) {
      const count = Math.min(config.batchSize, m - start);
      const latents = converted(digitBatch(heldout, Int32Array.from({ length: count }, (_, k) => start + k)), toLatents);
      const size = latents.size / count;
      const flat = latents.dataSync();
      for (let k = 0; k < count; k++) latentRows.push(Float32Array.from(flat.subarray(k * size, (k + 1) * size)));
      captions.push(...(await thenDispose(latents, (l) => generators.caption(model, l, options, { rng: rng.fork(`caption/${start}`) }))));
      await checkpointYield('captioning');
    }
    const captionAcc = captionAccuracy(captions, heldout.labels.subarray(0, m));
    const settings = {
      n: config.n,
      // The baseline draws its codes one by one: its "steps" are the codes of an image.
      steps: model instanceof ChameleonBaseline ? model.codesPerImage : config.steps,
      sampler: model instanceof ChameleonBaseline ? 'autoregressive' : (options.sampler?.kind ?? DEFAULT_GENERATE.sampler.kind),
      guidance: config.guidance,
      seed: config.seed,
    };
    if (model instanceof ChameleonBaseline) {
      return { t2i_accuracy: t2iAccuracy, fid, caption_accuracy: captionAcc, ...settings, seconds: (performance.now() - started) / 1000 };
    }

    // The same held-out digits, as caption-first documents; their latents are the ones just captioned.
    const dataset = new MnistDataset({ size: heldout.side, split: 'heldout' });
    const { perplexity } = captionPerplexity(model, { n: m, seed: config.seed }, { dataset, images: (index) => latentRows[index] });
    const diffusion = heldOutDiffusionLoss(model, { n: m, seed: config.seed }, { dataset, images: (index) => latentRows[index] });
    return {
      t2i_accuracy: t2iAccuracy,
      fid,
      caption_accuracy: captionAcc,
      perplexity,
      diffusion_mse: diffusion.mse,
      ...settings,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    loaded?.classifier.dispose();
  }
}
