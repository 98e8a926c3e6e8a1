/**
 * What a generation run is asked to do (docs/ARCHITECTURE.md, 'Configs'): one readonly plain-data object,
 * DEFAULT_GENERATE plus the fields a caller changes, validated so a bad value fails before any network call, naming
 * the field.
 */
import { check, ConfigError, mergeConfig, type DeepPartial } from '../config';
import '../schedules/kinds';
import { DEFAULT_DDIM_SAMPLER } from '../schedules/ddim';
import { samplers, type SamplerConfig } from '../schedules/sampler';

export interface GenerateOptions {
  /**
   * How each image is denoised (default `{ kind: 'ddim', steps: 50, eta: 0 }`: deterministic and five times
   * fewer steps than the paper's 250, §4.1). Any sampler of src/schedules ('ddpm', 'ddim', 'euler', 'dpmpp-2m'), run on the
   * schedule of the model's own objective; give only the fields to change, e.g. `{ kind: 'euler', steps: 20 }`.
   */
  readonly sampler: SamplerConfig;
  /**
   * Classifier-free guidance scale (Ho & Salimans 2022, eq. 6; default 1 = off, the conditional prediction alone).
   * The paper samples at 3 to 5 (§4). Any other value runs the unconditional context, a dropped caption
   * `[BOS] [BOI]`, beside the conditional one at every step.
   */
  readonly guidanceScale: number;
  /** Softmax temperature of text sampling, > 0 (default 1: the model's own distribution). */
  readonly temperature: number;
  /** Take the most likely token instead of sampling (default false); temperature, topK and topP are then unused. */
  readonly greedy: boolean;
  /** Sample among the k most likely tokens only (default 0 = all; Fan et al. 2018). */
  readonly topK: number;
  /** Nucleus sampling: the smallest set of tokens whose probability reaches p, in (0, 1] (default 1 = all; Holtzman et al. 2020). */
  readonly topP: number;
  /** Most text tokens sampled after the prompt, BOI and EOS included (default 64). Forced tokens do not count. */
  readonly maxTokens: number;
  /**
   * Most images in an answer (default 1, as a training document holds): once the sequence holds this many, BOI
   * is removed from the text distribution. A BOI that ends the prompt, or `forceImage`, makes an image regardless.
   */
  readonly maxImages: number;
  /** Start an image right after the prompt, appending BOI unless the prompt ends with it (default false). */
  readonly forceImage: boolean;
  /**
   * Reuse keys/values (default true): text is decoded token by token, and an image's context is computed once
   * and read by every denoising step. false recomputes the whole sequence at every call (the reference the cached
   * path is tested against).
   */
  readonly cache: boolean;
  /** Keep every x_t and predicted x0 of each image, for plotting the denoising (default false: they cost memory). */
  readonly returnTrajectory: boolean;
}

/**
 * Guidance scales accepted, [0, 100]: 0 is the unconditional model, 1 the conditional one; the paper samples at
 * 3 to 5, and far past 10 the extrapolation leaves the data range. A negative scale has no meaning.
 */
export const GUIDANCE_RANGE: readonly [number, number] = [0, 100];

export const DEFAULT_GENERATE: GenerateOptions = {
  sampler: DEFAULT_DDIM_SAMPLER,
  guidanceScale: 1,
  temperature: 1,
  greedy: false,
  topK: 0,
  topP: 1,
  maxTokens: 64,
  maxImages: 1,
  forceImage: false,
  cache: true,
  returnTrajectory: false,
};

/**
 * Merge `overrides` into DEFAULT_GENERATE and check every field (errors name `generate.<field>`). The sampler is
 * completed from its kind's defaults here; its values are checked when it is built on the model's schedule.
 */
export function resolveGenerateOptions(overrides: DeepPartial<GenerateOptions> = {}): GenerateOptions {
  const o = mergeConfig(DEFAULT_GENERATE, overrides, 'generate');
  const sampler = samplers.resolve(o.sampler, 'generate.sampler');
  const [lo, hi] = GUIDANCE_RANGE;
  if (typeof o.guidanceScale !== 'number' || !(o.guidanceScale >= lo && o.guidanceScale <= hi)) {
    throw new ConfigError('generate.guidanceScale', o.guidanceScale, `a number in [${lo}, ${hi}] (1 = off; the paper uses 3 to 5)`);
  }
  check.positive('generate.temperature', o.temperature);
  check.oneOf('generate.greedy', o.greedy, [true, false]);
  check.size('generate.topK', o.topK, 'vocab', 0);
  if (typeof o.topP !== 'number' || !(o.topP > 0 && o.topP <= 1)) throw new ConfigError('generate.topP', o.topP, 'a number in (0, 1]');
  check.size('generate.maxTokens', o.maxTokens, 'positions', 0);
  check.size('generate.maxImages', o.maxImages, 'positions', 0);
  check.oneOf('generate.forceImage', o.forceImage, [true, false]);
  check.oneOf('generate.cache', o.cache, [true, false]);
  check.oneOf('generate.returnTrajectory', o.returnTrajectory, [true, false]);
  return { ...o, sampler };
}
