/**
 * Euler's method on the probability-flow ODE in the schedule's own time: dx/dt = alpha'(t) x0 + sigma'(t) eps,
 * x_s = x_t + (s - t) dx/dt, with (x0, eps) from the prediction. For rectified flow dx/dt = eps - x0 is the
 * velocity itself (the standard flow-matching sampler; SD3, Sec. 2). It runs on any schedule, but a
 * variance-preserving one curves in t, so there Euler is only first-order accurate; prefer DDIM (the same
 * Euler step in (x / alpha, sigma / alpha), exact for a perfect prediction).
 */
import { tf } from '../engine/tf';
import type { Schedule } from './schedule';
import { SamplerBase, samplers, type SpacedStepsConfig, type StepState } from './sampler';
import { BUILT_IN, fieldsOf } from '../registry';
import type { TimestepSpacing } from './spacing';

declare module './sampler' {
  interface SamplerKinds {
    euler: EulerSamplerConfig;
  }
}

export interface EulerSamplerConfig extends SpacedStepsConfig {
  readonly kind: 'euler';
  /** Default 50 (SD3 samples with 28 to 50 Euler steps). */
  readonly steps: number;
  /** Default 'trailing': uniform in t for a continuous-time schedule when steps divides the grid. */
  readonly spacing: TimestepSpacing;
  /** Default null: the schedule's grid, or CONTINUOUS_GRID. */
  readonly T: number | null;
}

export const DEFAULT_EULER_SAMPLER: EulerSamplerConfig = { kind: 'euler', steps: 50, spacing: 'trailing', T: null, clipX0: null };

export class EulerSampler extends SamplerBase {
  constructor(readonly config: EulerSamplerConfig, schedule: Schedule, field = 'sampler') {
    super(schedule, field);
    this.checkSpacing(config);
  }

  protected update({ x0, eps, xt, t, tPrev }: StepState): tf.Tensor {
    const velocity = tf.add(tf.mul(this.schedule.dAlpha(t), x0), tf.mul(this.schedule.dSigma(t), eps));
    return tf.add(xt, tf.mul(tPrev - t, velocity));
  }
}

samplers.define('euler', { defaults: fieldsOf(DEFAULT_EULER_SAMPLER), build: (c, { field }, schedule) => new EulerSampler(c, schedule, field), doc: 'Euler on the probability-flow ODE' }, BUILT_IN);
