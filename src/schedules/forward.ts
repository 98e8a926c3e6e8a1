/**
 * The forward (noising) process as tensors: x_t = alpha(t) x0 + sigma(t) eps (Ho et al. 2020, eq. 4, written
 * with the schedule's alpha and sigma so rectified flow is the same line), and per-example coefficients for it.
 */
import { tf } from '../engine/tf';
import { check, ConfigError } from '../config';
import type { Schedule } from './schedule';
import type { Coefficient } from './targets';

/** Per-example schedule values at each example's t, each [B, 1, ..., 1] so they broadcast against x. */
export interface Coefficients {
  readonly alpha: tf.Tensor;
  readonly sigma: tf.Tensor;
  readonly dAlpha: tf.Tensor;
  readonly dSigma: tf.Tensor;
}

/** `t`: [B] times in [0, 1]; `rank`: rank of the x they will scale (4 for [B, C, H, W]). */
export function coefficients(schedule: Schedule, t: ArrayLike<number>, rank: number): Coefficients {
  check.positiveInt('coefficients.rank', rank);
  if (t.length === 0) throw new ConfigError('coefficients.t', t, 'at least one time');
  const shape = [t.length, ...new Array<number>(rank - 1).fill(1)];
  const column = (f: (u: number) => number) => tf.tensor(Array.from(t, f), shape, 'float32');
  return {
    alpha: column((u) => schedule.alpha(u)),
    sigma: column((u) => schedule.sigma(u)),
    dAlpha: column((u) => schedule.dAlpha(u)),
    dSigma: column((u) => schedule.dSigma(u)),
  };
}

/** [B, ...] x_t = alpha x0 + sigma eps. */
export function addNoise(x0: tf.Tensor, eps: tf.Tensor, alpha: Coefficient, sigma: Coefficient): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(alpha, x0), tf.mul(sigma, eps)));
}
