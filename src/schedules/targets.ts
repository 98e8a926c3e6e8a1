/**
 * Prediction targets: what the network is trained to output for x_t = alpha x0 + sigma eps, and the way back from
 * any prediction to (x0, eps), which is what every sampler needs. All four are linear in (x0, eps), so any one of
 * them, with x_t, determines the others.
 *
 * alpha, sigma (and the rates dAlpha, dSigma) are numbers or tensors broadcastable to x, e.g. [B, 1, 1, 1] with one
 * value per example (forward.ts `coefficients` makes them from a schedule).
 */
import { tf } from '../engine/tf';
import { ConfigError } from '../config';
import { BUILT_IN, KindFamily, type KindDefinition } from '../registry';
import type { Schedule } from './schedule';

/**
 * The prediction targets by name. A target has no fields, so a config names it by a string
 * (`objective.prediction: 'v'`); a target defined in another file adds its name here by declaration merging.
 */
export interface PredictionKinds {
  epsilon: { readonly kind: 'epsilon' };
  x0: { readonly kind: 'x0' };
  v: { readonly kind: 'v' };
  flow: { readonly kind: 'flow' };
}

export type PredictionKind = keyof PredictionKinds;

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

/** alpha, sigma and (for targets that need them) the rates, at the same t; numbers or broadcastable tensors. */
export interface TargetCoefficients extends Rates {
  readonly alpha: Coefficient;
  readonly sigma: Coefficient;
}

/**
 * What a prediction target defines (src/registry.ts). Every target the lab trains is linear in (x0, eps):
 * target = a x0 + b eps, with (a, b) from `coefficients`; that alone makes the target, its inversion and its
 * loss conversion (weighting.ts). The built-in targets also give exact forms, so epsilon is eps itself rather
 * than 0 x0 + 1 eps.
 */
export interface PredictionTargetDefinition extends KindDefinition<{ readonly kind: string }> {
  /** (a, b) with target = a x0 + b eps. */
  readonly coefficients: (c: TargetCoefficients) => { readonly a: Coefficient; readonly b: Coefficient };
  /** Whether the coefficients use dAlpha / dSigma (only then are the schedule's rates computed). Default false. */
  readonly needsRates?: boolean;
  /** The target itself, when it has a form more exact than a x0 + b eps. */
  readonly target?: (x0: tf.Tensor, eps: tf.Tensor, c: TargetCoefficients) => tf.Tensor;
  /** (x0, eps) from a prediction, when more exact than the general 2 x 2 solve. */
  readonly invert?: (prediction: tf.Tensor, xt: tf.Tensor, c: TargetCoefficients) => { x0: tf.Tensor; eps: tf.Tensor };
  /** ||eps err||^2 per ||target err||^2 at t, when more exact than alpha^2 / (alpha b - sigma a)^2. */
  readonly epsilonFactor?: (schedule: Schedule, t: number) => number;
}

/** The prediction targets; `objective.prediction` names one. */
export const predictionTargets = new KindFamily<PredictionKinds[PredictionKind], PredictionTargetDefinition>('prediction', 'prediction target', undefined, ['coefficients']);

declare module '../registry' {
  interface KindFamilies {
    prediction: typeof predictionTargets;
  }
}

/** The definition of the target named `kind`; an unknown name fails naming `path`, the value and the targets. */
export function predictionTarget(kind: unknown, path: string): PredictionTargetDefinition {
  return predictionTargets.lookup(kind, path);
}

/** Whether the target named `kind` needs the schedule's rates dAlpha, dSigma. */
export function predictionNeedsRates(kind: PredictionKind, path = 'prediction'): boolean {
  return predictionTarget(kind, path).needsRates ?? false;
}

function requireRates(kind: PredictionKind, definition: PredictionTargetDefinition, rates: Rates | undefined, field: string): Rates {
  if (definition.needsRates && rates === undefined) {
    if (kind !== 'flow') throw new ConfigError(`${field}.rates`, rates, `the schedule's { dAlpha, dSigma } at t; the '${kind}' target needs them`);
    throw new ConfigError(`${field}.rates`, rates, "the schedule's { dAlpha, dSigma } at t (RECTIFIED_FLOW_RATES for rectified flow); the 'flow' target needs them");
  }
  return rates ?? RECTIFIED_FLOW_RATES;
}

predictionTargets.define(
  'epsilon',
  { defaults: {}, coefficients: () => ({ a: 0, b: 1 }), target: (_, eps) => eps.clone(), epsilonFactor: () => 1, doc: 'the noise (Ho et al. 2020)',
    invert: (p, xt, { alpha, sigma }) => ({ x0: tf.div(tf.sub(xt, tf.mul(sigma, p)), alpha), eps: p.clone() }) },
  BUILT_IN,
);
predictionTargets.define(
  'x0',
  { defaults: {}, coefficients: () => ({ a: 1, b: 0 }), target: (x0) => x0.clone(), epsilonFactor: (s, t) => s.snr(t), doc: 'the clean sample',
    invert: (p, xt, { alpha, sigma }) => ({ x0: p.clone(), eps: tf.div(tf.sub(xt, tf.mul(alpha, p)), sigma) }) },
  BUILT_IN,
);
predictionTargets.define(
  'v',
  {
    defaults: {},
    doc: 'alpha eps - sigma x0 (Salimans & Ho 2022)',
    coefficients: ({ alpha, sigma }) => ({ a: tf.neg(sigma), b: alpha }),
    target: (x0, eps, { alpha, sigma }) => tf.sub(tf.mul(alpha, eps), tf.mul(sigma, x0)),
    invert: (p, xt, { alpha, sigma }) => {
      // alpha^2 + sigma^2 is 1 for variance-preserving schedules; kept so the 'flow' family inverts too.
      const norm = tf.add(tf.square(alpha), tf.square(sigma));
      return { x0: tf.div(tf.sub(tf.mul(alpha, xt), tf.mul(sigma, p)), norm), eps: tf.div(tf.add(tf.mul(sigma, xt), tf.mul(alpha, p)), norm) };
    },
    epsilonFactor: (s, t) => {
      const [alpha, sigma] = [s.alpha(t), s.sigma(t)];
      return (alpha * alpha) / (alpha * alpha + sigma * sigma) ** 2;
    },
  },
  BUILT_IN,
);
predictionTargets.define(
  'flow',
  {
    defaults: {},
    doc: 'the velocity d x_t / dt (Lipman et al. 2023; SD3 eq. 3)',
    needsRates: true,
    coefficients: ({ dAlpha, dSigma }) => ({ a: dAlpha, b: dSigma }),
    target: (x0, eps, r) => tf.add(tf.mul(r.dAlpha, x0), tf.mul(r.dSigma, eps)),
    invert: (p, xt, { alpha, sigma, dAlpha, dSigma }) => {
      // Determinant alpha dSigma - sigma dAlpha: 1 for rectified flow, so x0 = x_t - t v and eps = x_t + (1 - t) v.
      const det = tf.sub(tf.mul(alpha, dSigma), tf.mul(sigma, dAlpha));
      return { x0: tf.div(tf.sub(tf.mul(dSigma, xt), tf.mul(sigma, p)), det), eps: tf.div(tf.sub(tf.mul(alpha, p), tf.mul(dAlpha, xt)), det) };
    },
    epsilonFactor: (s, t) => (s.alpha(t) / (s.alpha(t) * s.dSigma(t) - s.sigma(t) * s.dAlpha(t))) ** 2,
  },
  BUILT_IN,
);

/** The built-in targets, in the order above. */
export const PREDICTION_KINDS: readonly PredictionKind[] = predictionTargets.kinds() as PredictionKind[];

/**
 * [B, ...] target for the given kind:
 * - epsilon: eps (Ho et al. 2020);
 * - x0: x0;
 * - v: alpha eps - sigma x0 (Salimans & Ho 2022, Sec. 4 / App. D);
 * - flow: d x_t / dt = dAlpha x0 + dSigma eps (Lipman et al. 2023; for rectified flow eps - x0, SD3 eq. 3);
 * - a target defined with `defineKind('prediction', ...)`: a x0 + b eps from its coefficients.
 */
export function makeTarget(kind: PredictionKind, x0: tf.Tensor, eps: tf.Tensor, alpha: Coefficient, sigma: Coefficient, rates?: Rates): tf.Tensor {
  const definition = predictionTarget(kind, 'target.kind');
  const c = { alpha, sigma, ...requireRates(kind, definition, rates, 'target') };
  return tf.tidy(() => {
    if (definition.target) return definition.target(x0, eps, c);
    const { a, b } = definition.coefficients(c);
    return tf.add(tf.mul(a, x0), tf.mul(b, eps));
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
  const definition = predictionTarget(kind, 'prediction.kind');
  const c = { alpha, sigma, ...requireRates(kind, definition, rates, 'prediction') };
  return tf.tidy(() => {
    if (definition.invert) return definition.invert(prediction, xt, c);
    const { a, b } = definition.coefficients(c);
    const det = tf.sub(tf.mul(alpha, b), tf.mul(sigma, a));
    return {
      x0: tf.div(tf.sub(tf.mul(b, xt), tf.mul(sigma, prediction)), det),
      eps: tf.div(tf.sub(tf.mul(alpha, prediction), tf.mul(a, xt)), det),
    };
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
