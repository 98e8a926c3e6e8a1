/**
 * Transfusion's inference loop (Zhou et al. 2024, §3, generation): decode text token by token (LM mode) until
 * BOI is sampled or forced; then diffusion mode: append N noise patches, denoise them with the chosen sampler,
 * each step overwriting the noisy image in the sequence (denoise.ts); then EOI, the clean image stays in the
 * context (shown at t = 0) and LM mode resumes, until EOS or the token budget.
 *
 * Synchronous: a call is seconds at the sizes this lab trains on a CPU, and a synchronous loop keeps every
 * tensor inside tf.tidy. Runs the network in eval mode (no dropout) and restores the mode it found.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ConfigError, ShapeError, type DeepPartial } from '../config';
import { byteTokenizer, type Tokenizer } from '../data/tokenizer';
import type { Transfusion } from '../model/transfusion';
import { makeSampler } from '../schedules/make-sampler';
import type { Sampler } from '../schedules/sampler';
import { denoiseImages, type Trajectory } from './denoise';
import { resolveGenerateOptions, type GenerateOptions } from './options';
import type { ContextImage } from './rows';
import { sampleToken } from './sample-token';
import { TokenStepper } from './token-stepper';

/** One piece of the answer, in order. */
export type GeneratedPart =
  /** A run of sampled ids between structure tokens (no BOI, EOI or EOS) and its decoded text. */
  | { readonly kind: 'text'; readonly text: string; readonly ids: number[] }
  /** A generated image: the clean latent [H, W, C], and with `returnTrajectory` its states ([H, W, C] each). */
  | { readonly kind: 'image'; readonly latent: tf.Tensor; readonly trajectory?: Trajectory };

/** Why generation ended: EOS sampled, `maxTokens` spent, or the next item would pass net.maxPositions. */
export type StopReason = 'eos' | 'maxTokens' | 'maxPositions';

export interface GenerateResult {
  /** What came after the prompt: text runs and images, in order. */
  readonly parts: GeneratedPart[];
  /** The whole sequence, prompt included: BOI, N placeholder PADs and EOI where each image sits, EOS if sampled. */
  readonly tokens: number[];
  readonly stop: StopReason;
}

/** What a run draws from or is given, beyond its plain-data options. */
export interface GenerateInputs {
  /** Stream for text sampling and image noise (default the global one, so setSeed reproduces a run). */
  readonly rng?: Rng;
  /** Starting noise of the k-th image, [H, W, C] each (default drawn from `rng`): to compare runs on the same noise. */
  readonly noise?: readonly tf.Tensor[];
  /** Default the byte tokenizer the model's vocabulary was built for. */
  readonly tokenizer?: Tokenizer;
}

/** Prompt -> ids: a string becomes `[BOS] text` (a document start); ids are taken as given. */
export function promptIds(prompt: string | readonly number[], tokenizer: Tokenizer, vocabSize: number): number[] {
  if (typeof prompt === 'string') return [tokenizer.bos, ...tokenizer.encode(prompt)];
  if (!Array.isArray(prompt) || prompt.length === 0) throw new ConfigError('prompt', prompt, 'a string, or a non-empty array of token ids');
  prompt.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new ConfigError(`prompt[${i}]`, id, `an integer id in [0, ${vocabSize - 1}]`);
  });
  return [...prompt];
}

/** Release every tensor a result holds (image latents and trajectories). */
export function disposeResult(result: Pick<GenerateResult, 'parts'>): void {
  for (const part of result.parts) {
    if (part.kind !== 'image') continue;
    part.latent.dispose();
    if (part.trajectory) tf.dispose([...part.trajectory.xt, ...part.trajectory.predX0]);
  }
}

/**
 * The image sampler of `options`, on the schedule the model was trained with (errors name `generate.sampler`).
 * A sampler config whose `clipX0` is null takes the model's data range (`objective.clipX0`).
 */
export function imageSampler(model: Transfusion, options: GenerateOptions): Sampler {
  const clipX0 = options.sampler.clipX0 ?? model.config.objective.clipX0;
  return makeSampler({ ...options.sampler, clipX0 }, model.objective.schedule, 'generate.sampler');
}

/**
 * Generate after `prompt`: text token by token until BOI (sampled, or forced by `forceImage`), then an image
 * denoised by the chosen sampler with guidance, then text again until EOS or `maxTokens`. Returns the parts in
 * order (text runs and clean image latents, with each image's trajectory under `returnTrajectory`) and why generation ended.
 * The knobs (sampler, steps, guidance, temperature, top-k/p, KV cache) are GenerateOptions' fields.
 */
export function generate(
  model: Transfusion,
  prompt: string | readonly number[],
  overrides: DeepPartial<GenerateOptions> = {},
  inputs: GenerateInputs = {},
): GenerateResult {
  const options = resolveGenerateOptions(overrides);
  const tok = inputs.tokenizer ?? byteTokenizer;
  const net = model.net;
  const tokens = promptIds(prompt, tok, net.config.vocabSize);
  const sampler = imageSampler(model, options);
  const rng = inputs.rng ?? globalRng();
  // Separate streams, so a longer text never shifts the noise an image starts from.
  const textRng = rng.fork('text');
  const noiseRng = rng.fork('noise');
  const { height: H, width: W, channels: C } = net.config.latent;
  const N = net.patchesPerImage;
  if (options.forceImage && tokens[tokens.length - 1] !== tok.boi) tokens.push(tok.boi);

  const images: ContextImage[] = [];
  const parts: GeneratedPart[] = [];
  let text: number[] = [];
  const flushText = (): void => {
    if (text.length > 0) parts.push({ kind: 'text', text: tok.decode(text), ids: text });
    text = [];
  };

  const makeImage = (): void => {
    const given = inputs.noise?.[images.length];
    if (given && !tf.util.arraysEqual(given.shape, [H, W, C])) throw new ShapeError(`noise[${images.length}]`, `[${H}, ${W}, ${C}]`, given.shape);
    const noise = given ? given.reshape([1, H, W, C]) : noiseRng.randomNormal([1, H, W, C]);
    const guidance = options.guidanceScale === 1 ? null : options.guidanceScale;
    const out = denoiseImages(net, [{ tokens, images }], noise, {
      sampler, prediction: model.config.objective.prediction, guidance, cache: options.cache,
      trajectory: options.returnTrajectory, rng: noiseRng, tokenizer: tok, caller: `generate (image ${images.length + 1})`,
    });
    noise.dispose();
    const squeeze = (x: tf.Tensor): tf.Tensor => {
      const y = x.reshape([H, W, C]);
      x.dispose();
      return y;
    };
    const latent = squeeze(out.latents);
    const t = out.trajectory;
    const trajectory = t ? { t: t.t, xt: t.xt.map(squeeze), predX0: t.predX0.map(squeeze) } : undefined;
    images.push({ start: tokens.length, latent });
    parts.push(trajectory ? { kind: 'image', latent, trajectory } : { kind: 'image', latent });
    tokens.push(...new Array<number>(N).fill(tok.pad), tok.eoi);
  };

  const wasTraining = net.training;
  net.eval();
  const stepper = new TokenStepper(net, options.cache, tok.pad);
  let sampled = 0;
  const run = (): StopReason => {
    for (;;) {
      if (tokens[tokens.length - 1] === tok.boi) {
        if (tokens.length + N + 1 > net.config.maxPositions) return 'maxPositions';
        flushText();
        makeImage();
        continue;
      }
      if (sampled >= options.maxTokens) return 'maxTokens';
      if (tokens.length >= net.config.maxPositions) return 'maxPositions';
      const logits = stepper.logits([{ tokens, images }]);
      const id = sampleToken(logits, options, textRng, images.length >= options.maxImages ? [tok.boi] : [], `generate (token ${sampled + 1})`);
      sampled++;
      tokens.push(id);
      if (id === tok.eos) return 'eos';
      if (id !== tok.boi) text.push(id);
    }
  };
  try {
    const stop = run();
    flushText();
    return { parts, tokens, stop };
  } catch (error) {
    disposeResult({ parts });
    throw error;
  } finally {
    stepper.dispose();
    net.train(wasTraining);
  }
}
