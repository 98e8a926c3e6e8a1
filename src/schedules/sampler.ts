/**
 * The inference sampler interface. A sampler walks t from 1 down to 0 through `timesteps()`; each `step` takes
 * the network's prediction at (x_t, t), turns it into (x0, eps) (targets.ts) and returns x at the next, cleaner
 * time. Steps are short and stateless so a notebook can unroll the loop
 * (docs/ARCHITECTURE.md, 'The network and the noise process'); sample-loop.ts is that loop written once.
 */
import { tf } from '../engine/tf';
import { check, ConfigError, ShapeError } from '../config';
import type { Rng } from '../engine/random';
import type { Schedule } from './schedule';
import { KindFamily, type BuildContext, type KindDefinition } from '../registry';
import { spacedIndices, type TimestepSpacing } from './spacing';
import { predictionNeedsRates, predictionToX0Eps, type PredictionKind, type Rates } from './targets';

/**
 * The built-in sampler configs by kind; each sampler's file adds its config by declaration merging
 * (`declare module './sampler' { interface SamplerKinds { ddim: DdimSamplerConfig } }`) beside its `define`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SamplerKinds {}

export type SamplerConfig = SamplerKinds[keyof SamplerKinds];

/**
 * The grid a continuous-time schedule's sampling steps are picked from when the config does not give one:
 * the paper's T = 1000, so 'trailing' with steps dividing 1000 is exactly uniform in t.
 */
export const CONTINUOUS_GRID = 1000;

export interface SamplerStepInput {
  /** [B, ...] the network's output at (xt, t). */
  readonly prediction: tf.Tensor;
  /** What the network predicts. */
  readonly kind: PredictionKind;
  /** [B, ...] the current sample at time t. */
  readonly xt: tf.Tensor;
  /** Current time, in (0, 1]. */
  readonly t: number;
  /** Time to step to, in [0, t); 0 is the clean sample. */
  readonly tPrev: number;
  /** Stream for the fresh noise of stochastic samplers; default the global one. */
  readonly rng?: Rng;
}

export interface SamplerStepOutput {
  /** [B, ...] the sample at tPrev. */
  readonly prev: tf.Tensor;
  /** [B, ...] the clean sample the prediction implies, for watching the sampler work. */
  readonly predX0: tf.Tensor;
}

export interface Sampler {
  readonly config: SamplerConfig;
  readonly schedule: Schedule;
  /** Descending times from the first (noisiest) step down to 0: steps + 1 values; step k goes [k] -> [k + 1]. */
  timesteps(): number[];
  step(input: SamplerStepInput): SamplerStepOutput;
}

/** What a step's update sees: the prediction already resolved to (x0, eps). */
export interface StepState {
  readonly x0: tf.Tensor;
  readonly eps: tf.Tensor;
  readonly xt: tf.Tensor;
  readonly t: number;
  readonly tPrev: number;
  readonly rng: Rng | undefined;
}

/** The fields every sampler config shares, checked in one place. */
export interface SpacedStepsConfig {
  /** Number of network evaluations. */
  readonly steps: number;
  /** How the steps are picked from the training grid (spacing.ts). */
  readonly spacing: TimestepSpacing;
  /** Training grid to pick from; null: the schedule's own T, or CONTINUOUS_GRID for a continuous-time schedule. */
  readonly T: number | null;
  /**
   * Clip the predicted x0 to [-clipX0, clipX0] and re-derive eps from it before each update, or null for no clipping. Pixel-space data in [-1, 1] wants 1 (DDPM's `clip_denoised`, diffusers' `clip_sample`): near t = 1,
   * alpha is ~5e-5 on the cosine schedule, so an epsilon model's x0 estimate amplifies its error ~2e4 times.
   * Latents are unbounded: leave it null. Default null; generation fills a null with the model's `objective.clipX0`.
   */
  readonly clipX0?: number | null;
}

export abstract class SamplerBase implements Sampler {
  abstract readonly config: SamplerConfig;

  constructor(readonly schedule: Schedule, protected readonly field: string) {}

  /** Throws ConfigError for a bad steps / spacing / T; subclasses call it once their config is set. */
  protected checkSpacing(config: SpacedStepsConfig): void {
    if (config.T !== null) check.size(`${this.field}.T`, config.T, 'diffusionSteps');
    if (config.clipX0 != null) check.positive(`${this.field}.clipX0`, config.clipX0);
    spacedIndices(config.spacing, this.gridSize(config), config.steps, this.field);
  }

  private gridSize(config: SpacedStepsConfig): number {
    return config.T ?? this.schedule.T ?? CONTINUOUS_GRID;
  }

  timesteps(): number[] {
    const T = this.gridSize(this.config);
    return [...spacedIndices(this.config.spacing, T, this.config.steps, this.field).map((i) => (i + 1) / T), 0];
  }

  step(input: SamplerStepInput): SamplerStepOutput {
    const { prediction, kind, xt, t, tPrev } = input;
    const needsRates = predictionNeedsRates(kind, 'step.kind');
    if (typeof t !== 'number' || !(t > 0 && t <= 1)) throw new ConfigError('step.t', t, 'a time in (0, 1]');
    if (typeof tPrev !== 'number' || !(tPrev >= 0 && tPrev < t)) throw new ConfigError('step.tPrev', tPrev, `a time in [0, t = ${t})`);
    if (!tf.util.arraysEqual(prediction.shape, xt.shape)) throw new ShapeError('step.prediction', `[${xt.shape.join(', ')}] (the shape of xt)`, prediction.shape);
    const rates: Rates | undefined = needsRates ? { dAlpha: this.schedule.dAlpha(t), dSigma: this.schedule.dSigma(t) } : undefined;
    return tf.tidy(() => {
      const alpha = this.schedule.alpha(t);
      const sigma = this.schedule.sigma(t);
      const resolved = predictionToX0Eps(kind, prediction, xt, alpha, sigma, rates);
      const clip = this.config.clipX0;
      const x0 = clip != null ? resolved.x0.clipByValue(-clip, clip) : resolved.x0;
      // eps consistent with the clipped x0, so x_t = alpha x0 + sigma eps still holds (diffusers' DDIM does the same).
      const eps = clip != null && sigma > 0 ? xt.sub(x0.mul(alpha)).div(sigma) : resolved.eps;
      return { prev: this.update({ x0, eps, xt, t, tPrev, rng: input.rng }), predX0: x0 };
    });
  }

  /** [B, ...] x at tPrev from the resolved prediction (runs inside the step's tf.tidy). */
  protected abstract update(state: StepState): tf.Tensor;
}

/** What a sampler kind defines (src/registry.ts): a resolved config and the schedule make the sampler. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface SamplerKindDefinition<C extends { readonly kind: string } = any> extends KindDefinition<C> {
  /** The sampler of a resolved config on `schedule` (checks that need the schedule, such as steps against its grid, happen here). */
  readonly build: (config: C, context: BuildContext, schedule: Schedule) => Sampler;
}

/** The inference samplers; each kind's file defines itself here (ddpm.ts, ddim.ts, euler.ts). */
export const samplers = new KindFamily<SamplerConfig, SamplerKindDefinition>('sampler', 'sampler', isSampler);

declare module '../registry' {
  interface KindFamilies {
    sampler: typeof samplers;
  }
}

/** Structural check for a built sampler, so the slot also takes a researcher's own. */
export function isSampler(value: unknown): value is Sampler {
  const v = value as Partial<Sampler> | null;
  return typeof v?.step === 'function' && typeof v.timesteps === 'function';
}
