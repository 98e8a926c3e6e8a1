/**
 * Batched shortcuts for evaluation, where many prompts of one shape are run at once:
 * - `textToImage`: captions -> latents, all denoised as one batch over one shared KV cache of the (left-padded)
 *   caption prompts `[BOS] caption [BOI]`;
 * - `caption`: latents -> text, from the prompt `[BOS] [BOI] image [EOI]` (the image-first documents the model
 *   trained on, src/data/sequence.ts) with the clean image at t = 0, decoding every row together until EOS.
 */
import { tf } from '../engine/tf';
import { rng as globalRng } from '../engine/random';
import { ConfigError, ShapeError, type DeepPartial } from '../config';
import { byteTokenizer } from '../data/tokenizer';
import { captionPrompt } from '../data/sequence';
import type { Transfusion } from '../model/transfusion';
import { denoiseImages, finiteProbe } from './denoise';
import { imageSampler, type GenerateInputs } from './generate';
import { resolveGenerateOptions, type GenerateOptions } from './options';
import { sampleToken } from './sample-token';
import { TokenStepper } from './token-stepper';

/** Inputs of the batched calls: as GenerateInputs, with the starting noise as one batch. */
export interface BatchInputs extends Omit<GenerateInputs, 'noise'> {
  /** [N, H, W, C] starting noise of the N images (default drawn from `rng`). */
  readonly noise?: tf.Tensor;
}

/** Run `f` with the network in eval mode, then restore the mode it was in. */
function inEval<T>(model: Transfusion, f: () => T): T {
  const wasTraining = model.net.training;
  model.net.eval();
  try {
    return f();
  } finally {
    model.net.train(wasTraining);
  }
}

/**
 * Captions -> [N, H, W, C] latents (owned by the caller). Uses `sampler`, `guidanceScale` and `cache` of the
 * options. The streams are forked as in `generate`, so one caption with the same `rng` gives the image
 * `generate(model, caption, { forceImage: true })` makes.
 */
export function textToImage(model: Transfusion, captions: readonly string[], overrides: DeepPartial<GenerateOptions> = {}, inputs: BatchInputs = {}): tf.Tensor {
  const options = resolveGenerateOptions(overrides);
  if (!Array.isArray(captions) || captions.length === 0 || captions.some((c) => typeof c !== 'string')) {
    throw new ConfigError('captions', captions, 'a non-empty array of strings');
  }
  const tok = inputs.tokenizer ?? byteTokenizer;
  const { height: H, width: W, channels: C } = model.config.net.latent;
  const shape = [captions.length, H, W, C];
  if (inputs.noise && !tf.util.arraysEqual(inputs.noise.shape, shape)) throw new ShapeError('noise', `[${shape.join(', ')}] (one latent per caption)`, inputs.noise.shape);
  const sampler = imageSampler(model, options);
  const rng = inputs.rng ?? globalRng();
  // Fork (and leave unused) generate's text stream first, so the noise stream below is the one generate draws from.
  rng.fork('text');
  const noiseRng = rng.fork('noise');
  const noise = inputs.noise ?? noiseRng.randomNormal(shape);
  const rows = captions.map((c) => ({ tokens: captionPrompt(c, tok), images: [] }));
  try {
    return inEval(model, () => denoiseImages(model.net, rows, noise, {
      sampler, prediction: model.config.objective.prediction, guidance: options.guidanceScale === 1 ? null : options.guidanceScale,
      cache: options.cache, trajectory: false, rng: noiseRng, tokenizer: tok, caller: 'textToImage',
    }).latents);
  } finally {
    if (noise !== inputs.noise) noise.dispose();
  }
}

/**
 * Latents [N, H, W, C] -> N captions, decoded together until each row samples EOS or `maxTokens` are spent.
 * Uses the text options (greedy, temperature, topK, topP, maxTokens) and `cache`; BOI is never sampled (a
 * caption is text). Rows that finished are fed PAD until the others do; their outputs are not read.
 *
 * An empty caption is returned as it is: it means the model sampled EOS first (or only specials), a real
 * output that caption accuracy scores as naming no digit, so hiding or replacing it would flatter the model.
 * What is never returned is a caption drawn from garbage: non-finite latents or logits throw, and `maxTokens`
 * must be at least 1, since 0 would return empty captions without running the model.
 */
export function caption(model: Transfusion, latents: tf.Tensor, overrides: DeepPartial<GenerateOptions> = {}, inputs: Omit<BatchInputs, 'noise'> = {}): string[] {
  const options = resolveGenerateOptions(overrides);
  if (options.maxTokens < 1) throw new ConfigError('generate.maxTokens', options.maxTokens, 'at least 1 for caption (0 would return empty captions without running the model)');
  const tok = inputs.tokenizer ?? byteTokenizer;
  const net = model.net;
  const { height: H, width: W, channels: C } = net.config.latent;
  if (latents.rank !== 4 || latents.shape[0] === 0 || !tf.util.arraysEqual(latents.shape.slice(1), [H, W, C])) {
    throw new ShapeError('latents', `[N, ${H}, ${W}, ${C}] (N >= 1 images on the model's latent grid)`, latents.shape);
  }
  if (!Number.isFinite(tf.tidy(() => finiteProbe(latents).dataSync()[0]))) {
    throw new ConfigError('caption: latents', 'a tensor holding NaN or Inf', 'finite latents (the images to caption)');
  }
  const textRng = (inputs.rng ?? globalRng()).fork('text');
  const N = net.patchesPerImage;
  const V = net.config.vocabSize;
  const pieces = tf.unstack(latents);
  const rows = pieces.map((latent) => ({ tokens: [tok.bos, tok.boi, ...new Array<number>(N).fill(tok.pad), tok.eoi], images: [{ start: 2, latent }] }));
  const ids: number[][] = rows.map(() => []);
  const done = rows.map(() => false);
  const stepper = new TokenStepper(net, options.cache, tok.pad);
  try {
    inEval(model, () => {
      for (let step = 0; step < options.maxTokens && !done.every(Boolean) && rows[0].tokens.length < net.config.maxPositions; step++) {
        const logits = stepper.logits(rows);
        rows.forEach((row, b) => {
          let id = tok.pad;
          if (!done[b]) {
            id = sampleToken(logits.subarray(b * V, (b + 1) * V), options, textRng, [tok.boi], `caption (row ${b}, token ${step + 1})`);
            if (id === tok.eos) done[b] = true;
            else ids[b].push(id);
          }
          row.tokens.push(id);
        });
      }
    });
  } finally {
    stepper.dispose();
    tf.dispose(pieces);
  }
  return ids.map((x) => tok.decode(x));
}
