/**
 * Loss weighting over t: the per-example weight w(t) of the diffusion MSE.
 *
 * Each weighting is defined in the space its paper states it in (min-SNR and P2 on the epsilon loss; SD3's on
 * the flow-velocity loss) and is moved to the target actually trained, so one weighting means the same thing for
 * every target. With x_t fixed, an error in any target is a multiple of the error in epsilon:
 *   ||eps err||^2 = f(target) ||target err||^2,  f(epsilon) = 1, f(x0) = snr, f(v) = alpha^2 / (alpha^2 + sigma^2)^2,
 *   f(flow) = alpha^2 / (alpha sigma' - sigma alpha')^2,
 * and w_target = w_native f(target) / f(native). For min-SNR this gives Hang et al. 2023's table
 * (eps: min(snr, g) / snr, v: min(snr, g) / (snr + 1), x0: min(snr, g)).
 */
import { check, ConfigError, fromRegistry } from '../config';
import type { Schedule } from './schedule';
import { resolveSpec, type Spec } from './spec';
import { PREDICTION_KINDS, type PredictionKind } from './targets';
import { logitNormalPdf } from './normal';

export interface ConstantWeightingConfig {
  readonly kind: 'constant';
}

export interface MinSnrWeightingConfig {
  readonly kind: 'min-snr';
  /** SNR cap, > 0. Default 5 (Hang et al. 2023, "Efficient diffusion training via min-SNR weighting"). */
  readonly gamma: number;
}

export interface P2WeightingConfig {
  readonly kind: 'p2';
  /** Offset, >= 0, that keeps the weight finite at SNR 0. Default 1 (Choi et al. 2022, eq. 8). */
  readonly k: number;
  /** Exponent, >= 0 (0 = constant). Default 1 (Choi et al. 2022; they also use 0.5). */
  readonly gamma: number;
}

export interface Sd3LogNormWeightingConfig {
  readonly kind: 'sd3-lognorm';
  /** Location of logit(t). Default 0 (SD3, Esser et al. 2024, eq. 19). */
  readonly m: number;
  /** Scale of logit(t), > 0. Default 1 (SD3's best, "lognorm(0.00, 1.00)"). */
  readonly s: number;
}

export interface Sd3CosMapWeightingConfig {
  readonly kind: 'sd3-cosmap';
}

export type WeightingConfig = ConstantWeightingConfig | MinSnrWeightingConfig | P2WeightingConfig | Sd3LogNormWeightingConfig | Sd3CosMapWeightingConfig;

export const WEIGHTING_DEFAULTS: { readonly [K in WeightingConfig['kind']]: Extract<WeightingConfig, { kind: K }> } = {
  constant: { kind: 'constant' },
  'min-snr': { kind: 'min-snr', gamma: 5 },
  p2: { kind: 'p2', k: 1, gamma: 1 },
  'sd3-lognorm': { kind: 'sd3-lognorm', m: 0, s: 1 },
  'sd3-cosmap': { kind: 'sd3-cosmap' },
};

/** The paper's: the unweighted DDPM loss (Transfusion Sec. 2.2, L_DDPM = E ||eps - eps_theta||^2). */
export const DEFAULT_WEIGHTING: WeightingConfig = WEIGHTING_DEFAULTS.constant;

export interface Weighting {
  readonly config: WeightingConfig;
  /** Weight of the MSE on `target` at time t in (0, 1]. */
  weight(t: number, schedule: Schedule, target: PredictionKind): number;
  /** [B] weights at [B] times. */
  weights(t: ArrayLike<number>, schedule: Schedule, target: PredictionKind): Float64Array;
}

export type WeightingSpec = Weighting | Spec<WeightingConfig>;

/** ||eps err||^2 per ||target err||^2 at t, x_t fixed (see the file comment). */
export function epsilonFactor(target: PredictionKind, schedule: Schedule, t: number): number {
  const [alpha, sigma] = [schedule.alpha(t), schedule.sigma(t)];
  switch (target) {
    case 'epsilon':
      return 1;
    case 'x0':
      return schedule.snr(t);
    case 'v':
      return (alpha * alpha) / (alpha * alpha + sigma * sigma) ** 2;
    case 'flow':
      return (alpha / (alpha * schedule.dSigma(t) - sigma * schedule.dAlpha(t))) ** 2;
  }
}

class NativeWeighting implements Weighting {
  /**
   * `native`: the target space `w` is stated in (null: the trained target's own, i.e. no conversion);
   * `w(t, schedule)`: the weight there.
   */
  constructor(
    readonly config: WeightingConfig,
    private readonly native: PredictionKind | null,
    private readonly w: (t: number, schedule: Schedule) => number,
  ) {}

  weight(t: number, schedule: Schedule, target: PredictionKind): number {
    check.oneOf('weighting.target', target, PREDICTION_KINDS);
    if (typeof t !== 'number' || !(t > 0 && t <= 1)) throw new ConfigError('weighting.t', t, 'a time in (0, 1]');
    const w = this.w(t, schedule);
    if (this.native === null || this.native === target) return w;
    return (w * epsilonFactor(target, schedule, t)) / epsilonFactor(this.native, schedule, t);
  }

  weights(t: ArrayLike<number>, schedule: Schedule, target: PredictionKind): Float64Array {
    return Float64Array.from(t, (u) => this.weight(u, schedule, target));
  }
}

function isWeighting(value: unknown): value is Weighting {
  return typeof (value as Partial<Weighting> | null)?.weight === 'function';
}

export function makeWeighting(spec: WeightingSpec = DEFAULT_WEIGHTING, field = 'weighting'): Weighting {
  if (isWeighting(spec)) return spec;
  const config = resolveSpec<WeightingConfig>(WEIGHTING_DEFAULTS, spec, field);
  return fromRegistry<WeightingConfig, Weighting>(
    {
      constant: (c) => new NativeWeighting(c, null, () => 1),
      'min-snr': (c) => {
        const gamma = check.positive(`${field}.gamma`, c.gamma);
        // min(snr, gamma) / snr (Hang et al. 2023, eq. 9 for epsilon), written so SNR 0 gives 1, not 0 / 0.
        return new NativeWeighting(c, 'epsilon', (t, s) => {
          const snr = s.snr(t);
          return snr <= gamma ? 1 : gamma / snr;
        });
      },
      p2: (c) => {
        const k = check.nonNegative(`${field}.k`, c.k);
        const gamma = check.nonNegative(`${field}.gamma`, c.gamma);
        // 1 / (k + snr)^gamma (Choi et al. 2022, eq. 8, on L_simple).
        return new NativeWeighting(c, 'epsilon', (t, s) => 1 / (k + s.snr(t)) ** gamma);
      },
      'sd3-lognorm': (c) => {
        if (typeof c.m !== 'number' || !Number.isFinite(c.m)) throw new ConfigError(`${field}.m`, c.m, 'a finite number');
        const sd = check.positive(`${field}.s`, c.s);
        // The logit-normal density as a weight under uniform t (SD3 eq. 19): the same loss as sampling t from it.
        return new NativeWeighting(c, 'flow', (t) => logitNormalPdf(t, c.m, sd));
      },
      // pi_CosMap(t) = 2 / (pi - 2 pi t + 2 pi t^2) (SD3 eq. 21).
      'sd3-cosmap': (c) => new NativeWeighting(c, 'flow', (t) => 2 / (Math.PI * (1 - 2 * t + 2 * t * t))),
    },
    config,
    field,
  );
}
