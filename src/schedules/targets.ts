/**
 * Prediction targets: what the network is trained to output for x_t = alpha x0 + sigma eps, and the way back from
 * any prediction to (x0, eps), which is what every sampler needs. All four are linear in (x0, eps), so any one of
 * them, with x_t, determines the others.
 *
 * alpha, sigma (and the rates dAlpha, dSigma) are numbers or tensors broadcastable to x, e.g. [B, 1, 1, 1] with one
 * value per example (forward.ts `coefficients` makes them from a schedule).
 */
import { tf } from '../engine/tf';
import { ConfigError, check } from '../config';

export type PredictionKind = 'epsilon' | 'x0' | 'v' | 'flow';

export const PREDICTION_KINDS: readonly PredictionKind[] = ['epsilon', 'x0', 'v', 'flow'];

/** The paper's target: epsilon (Transfusion Sec. 2.2, the DDPM "simple" loss of Ho et al. 2020). */
export const DEFAULT_PREDICTION: PredictionKind = 'epsilon';

export type Coefficient = number | tf.Tensor;

/** d alpha / dt and d sigma / dt at the same t, needed only by the 'flow' (velocity) target. */
export interface Rates {
  readonly dAlpha: Coefficient;
  readonly dSigma: Coefficient;
}

/** Rectified flow's rates (alpha = 1 - t, sigma = t) at every t. */
export const RECTIFIED_FLOW_RATES: Rates = { dAlpha: -1, dSigma: 1 };

function requireRates(kind: PredictionKind, rates: Rates | undefined, field: string): Rates {
  if (kind === 'flow' && rates === undefined) {
    throw new ConfigError(`${field}.rates`, rates, "the schedule's { dAlpha, dSigma } at t (RECTIFIED_FLOW_RATES for rectified flow); the 'flow' target needs them");
  }
  return rates ?? RECTIFIED_FLOW_RATES;
}

/**
 * [B, ...] target for the given kind:
 * - epsilon: eps (Ho et al. 2020);
 * - x0: x0;
 * - v: alpha eps - sigma x0 (Salimans & Ho 2022, Sec. 4 / App. D);
 * - flow: d x_t / dt = dAlpha x0 + dSigma eps (Lipman et al. 2023; for rectified flow eps - x0, SD3 eq. 3).
 */
export function makeTarget(kind: PredictionKind, x0: tf.Tensor, eps: tf.Tensor, alpha: Coefficient, sigma: Coefficient, rates?: Rates): tf.Tensor {
  check.oneOf('target.kind', kind, PREDICTION_KINDS);
  const r = requireRates(kind, rates, 'target');
  return tf.tidy(() => {
    switch (kind) {
      case 'epsilon':
        return eps.clone();
      case 'x0':
        return x0.clone();
      case 'v':
        return tf.sub(tf.mul(alpha, eps), tf.mul(sigma, x0));
      case 'flow':
        return tf.add(tf.mul(r.dAlpha, x0), tf.mul(r.dSigma, eps));
    }
  });
}

/**
 * Invert a prediction: ([B, ...] prediction, [B, ...] x_t) -> { x0, eps }, both [B, ...], from the 2 x 2 linear
 * system x_t = alpha x0 + sigma eps, prediction = a x0 + b eps. Singular where the pair carries no information:
 * epsilon at alpha = 0 (zero terminal SNR at t = 1, why Lin et al. 2024 use v) and x0 at sigma = 0 (t = 0).
 */
export function predictionToX0Eps(
  kind: PredictionKind,
  prediction: tf.Tensor,
  xt: tf.Tensor,
  alpha: Coefficient,
  sigma: Coefficient,
  rates?: Rates,
): { x0: tf.Tensor; eps: tf.Tensor } {
  check.oneOf('prediction.kind', kind, PREDICTION_KINDS);
  const r = requireRates(kind, rates, 'prediction');
  return tf.tidy(() => {
    switch (kind) {
      case 'epsilon':
        return { x0: tf.div(tf.sub(xt, tf.mul(sigma, prediction)), alpha), eps: prediction.clone() };
      case 'x0':
        return { x0: prediction.clone(), eps: tf.div(tf.sub(xt, tf.mul(alpha, prediction)), sigma) };
      case 'v': {
        // alpha^2 + sigma^2 is 1 for variance-preserving schedules; kept so the 'flow' family inverts too.
        const norm = tf.add(tf.square(alpha), tf.square(sigma));
        return {
          x0: tf.div(tf.sub(tf.mul(alpha, xt), tf.mul(sigma, prediction)), norm),
          eps: tf.div(tf.add(tf.mul(sigma, xt), tf.mul(alpha, prediction)), norm),
        };
      }
      case 'flow': {
        // Determinant alpha dSigma - sigma dAlpha: 1 for rectified flow, so x0 = x_t - t v and eps = x_t + (1 - t) v.
        const det = tf.sub(tf.mul(alpha, r.dSigma), tf.mul(sigma, r.dAlpha));
        return {
          x0: tf.div(tf.sub(tf.mul(r.dSigma, xt), tf.mul(sigma, prediction)), det),
          eps: tf.div(tf.sub(tf.mul(alpha, prediction), tf.mul(r.dAlpha, xt)), det),
        };
      }
    }
  });
}

/** Re-express a prediction of one kind as another ([B, ...] -> [B, ...]), e.g. a v-model's output as epsilon. */
export function convertPrediction(
  from: PredictionKind,
  to: PredictionKind,
  prediction: tf.Tensor,
  xt: tf.Tensor,
  alpha: Coefficient,
  sigma: Coefficient,
  rates?: Rates,
): tf.Tensor {
  return tf.tidy(() => {
    const { x0, eps } = predictionToX0Eps(from, prediction, xt, alpha, sigma, rates);
    return makeTarget(to, x0, eps, alpha, sigma, rates);
  });
}
