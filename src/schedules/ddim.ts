/**
 * DDIM (Song et al. 2021, eq. 12): x_s = alpha_s x0 + sqrt(sigma_s^2 - c^2) eps + c z, z ~ N(0, I), with
 * c^2 = eta^2 times the DDPM posterior variance (eq. 16). eta = 0 is deterministic (the probability-flow ODE
 * solved by Euler in (x / alpha, sigma / alpha), and exactly Euler in t for rectified flow); eta = 1 is DDPM's
 * ancestral sampler.
 */
import { tf } from '../engine/tf';
import { check } from '../config';
import { rng as globalRng } from '../engine/random';
import type { Schedule } from './schedule';
import { SamplerBase, samplers, type SpacedStepsConfig, type StepState } from './sampler';
import { BUILT_IN, fieldsOf } from '../registry';
import { ddpmPosterior } from './ddpm';
import type { TimestepSpacing } from './spacing';

declare module './sampler' {
  interface SamplerKinds {
    ddim: DdimSamplerConfig;
  }
}

export interface DdimSamplerConfig extends SpacedStepsConfig {
  readonly kind: 'ddim';
  /** Default 50: DDIM's point is few steps (Song et al. 2021, Table 1 uses 10 to 1000). */
  readonly steps: number;
  /** Noise scale in [0, 1]: 0 deterministic, 1 ancestral. Default 0. */
  readonly eta: number;
  /** Default 'trailing' (Lin et al. 2024, Sec. 3.3). */
  readonly spacing: TimestepSpacing;
  /** Default null: the schedule's grid. */
  readonly T: number | null;
}

export const DEFAULT_DDIM_SAMPLER: DdimSamplerConfig = { kind: 'ddim', steps: 50, eta: 0, spacing: 'trailing', T: null, clipX0: null };

export class DdimSampler extends SamplerBase {
  constructor(readonly config: DdimSamplerConfig, schedule: Schedule, field = 'sampler') {
    super(schedule, field);
    check.probability(`${field}.eta`, config.eta);
    this.checkSpacing(config);
  }

  protected update({ x0, eps, xt, t, tPrev, rng }: StepState): tf.Tensor {
    const sigmaS = this.schedule.sigma(tPrev);
    const noise2 = this.config.eta ** 2 * ddpmPosterior(this.schedule, t, tPrev).variance;
    const direction = Math.sqrt(Math.max(0, sigmaS * sigmaS - noise2));
    const mean = tf.add(tf.mul(this.schedule.alpha(tPrev), x0), tf.mul(direction, eps));
    if (noise2 <= 0) return mean;
    return mean.add((rng ?? globalRng()).randomNormal(xt.shape).mul(Math.sqrt(noise2)));
  }
}

samplers.define('ddim', { defaults: fieldsOf(DEFAULT_DDIM_SAMPLER), build: (c, { field }, schedule) => new DdimSampler(c, schedule, field), doc: 'DDIM (Song et al. 2021)' }, BUILT_IN);
