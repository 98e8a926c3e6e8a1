/**
 * Ancestral sampling (Ho et al. 2020, Alg. 2): draw x_s from the posterior q(x_s | x_t, x0) with the predicted x0.
 * Written for any pair of times s < t and any schedule (Kingma et al. 2021, VDM, eq. 9 onwards): with
 * alpha_{t|s} = alpha_t / alpha_s and sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2 (the step's beta for
 * adjacent DDPM steps),
 *   mean = alpha_{t|s} sigma_s^2 / sigma_t^2 x_t + alpha_s sigma_{t|s}^2 / sigma_t^2 x0,
 *   variance = sigma_{t|s}^2 sigma_s^2 / sigma_t^2   (DDPM's beta-tilde, eq. 7).
 */
import { tf } from '../engine/tf';
import { rng as globalRng } from '../engine/random';
import type { Schedule } from './schedule';
import { SamplerBase, samplers, type SpacedStepsConfig, type StepState } from './sampler';
import { BUILT_IN, fieldsOf } from '../registry';
import type { TimestepSpacing } from './spacing';

declare module './sampler' {
  interface SamplerKinds {
    ddpm: DdpmSamplerConfig;
  }
}

export interface DdpmSamplerConfig extends SpacedStepsConfig {
  readonly kind: 'ddpm';
  /** Default 250, the paper's number of inference steps (Transfusion Sec. 4.1). */
  readonly steps: number;
  /** Default 'trailing': starts at t = 1, where training's pure noise is (Lin et al. 2024, Sec. 3.3). */
  readonly spacing: TimestepSpacing;
  /** Default null: the schedule's grid. */
  readonly T: number | null;
}

export const DEFAULT_DDPM_SAMPLER: DdpmSamplerConfig = { kind: 'ddpm', steps: 250, spacing: 'trailing', T: null, clipX0: null };

export interface Posterior {
  /** Weight of x0 in the posterior mean. */
  readonly coefX0: number;
  /** Weight of x_t in the posterior mean. */
  readonly coefXt: number;
  /** Posterior variance (0 when s = 0: the last step is deterministic). */
  readonly variance: number;
}

/** q(x_s | x_t, x0) for s < t, as the coefficients above. */
export function ddpmPosterior(schedule: Schedule, t: number, s: number): Posterior {
  const [alphaT, sigmaT, alphaS, sigmaS] = [schedule.alpha(t), schedule.sigma(t), schedule.alpha(s), schedule.sigma(s)];
  const alphaTS = alphaT / alphaS;
  const sigmaTS2 = sigmaT * sigmaT - alphaTS * alphaTS * sigmaS * sigmaS;
  const sigmaT2 = sigmaT * sigmaT;
  return {
    coefX0: (alphaS * sigmaTS2) / sigmaT2,
    coefXt: (alphaTS * sigmaS * sigmaS) / sigmaT2,
    variance: (sigmaTS2 * sigmaS * sigmaS) / sigmaT2,
  };
}

export class DdpmSampler extends SamplerBase {
  constructor(readonly config: DdpmSamplerConfig, schedule: Schedule, field = 'sampler') {
    super(schedule, field);
    this.checkSpacing(config);
  }

  protected update({ x0, xt, t, tPrev, rng }: StepState): tf.Tensor {
    const { coefX0, coefXt, variance } = ddpmPosterior(this.schedule, t, tPrev);
    const mean = tf.add(tf.mul(coefX0, x0), tf.mul(coefXt, xt));
    if (variance <= 0) return mean;
    return mean.add((rng ?? globalRng()).randomNormal(xt.shape).mul(Math.sqrt(variance)));
  }
}

samplers.define('ddpm', { defaults: fieldsOf(DEFAULT_DDPM_SAMPLER), build: (c, { field }, schedule) => new DdpmSampler(c, schedule, field), doc: 'ancestral DDPM (Ho et al. 2020)' }, BUILT_IN);
