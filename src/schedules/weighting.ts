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
import { check, ConfigError } from '../config';
import { BUILT_IN, KindFamily, type BuildContext, type KindDefinition } from '../registry';
import type { Schedule } from './schedule';
import type { Spec } from './spec';
import { predictionTarget, type PredictionKind } from './targets';
import { logitNormalPdf } from './normal';

/**
 * The built-in weighting configs by kind; a kind defined in another file adds its config by declaration merging
 * (`declare module './weighting' { interface WeightingKinds { ... } }`).
 */
export interface WeightingKinds {
  constant: ConstantWeightingConfig;
  'min-snr': MinSnrWeightingConfig;
  p2: P2WeightingConfig;
  'sd3-lognorm': Sd3LogNormWeightingConfig;
  'sd3-cosmap': Sd3CosMapWeightingConfig;
}

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

export type WeightingConfig = WeightingKinds[keyof WeightingKinds];

export interface Weighting {
  readonly config: WeightingConfig;
  /** Weight of the MSE on `target` at time t in (0, 1]. */
  weight(t: number, schedule: Schedule, target: PredictionKind): number;
  /** [B] weights at [B] times. */
  weights(t: ArrayLike<number>, schedule: Schedule, target: PredictionKind): Float64Array;
}

export type WeightingSpec = Weighting | Spec<WeightingConfig>;

/**
 * ||eps err||^2 per ||target err||^2 at t, x_t fixed (see the file comment): the target's own exact form, or
 * alpha^2 / (alpha b - sigma a)^2 from its coefficients target = a x0 + b eps (src/schedules/targets.ts).
 */
export function epsilonFactor(target: PredictionKind, schedule: Schedule, t: number): number {
  const definition = predictionTarget(target, 'weighting.target');
  if (definition.epsilonFactor) return definition.epsilonFactor(schedule, t);
  const [alpha, sigma] = [schedule.alpha(t), schedule.sigma(t)];
  const rates = definition.needsRates ? { dAlpha: schedule.dAlpha(t), dSigma: schedule.dSigma(t) } : { dAlpha: 0, dSigma: 0 };
  const { a, b } = definition.coefficients({ alpha, sigma, ...rates }) as { a: number; b: number };
  return (alpha / (alpha * b - sigma * a)) ** 2;
}

/**
 * A weighting stated in one target's space and converted to the one trained (see the file comment); a kind
 * defined at run time can build one from its w(t).
 */
export class NativeWeighting implements Weighting {
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
    predictionTarget(target, 'weighting.target');
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

/** What a weighting kind defines (src/registry.ts). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface WeightingKindDefinition<C extends { readonly kind: string } = any> extends KindDefinition<C> {
  /** The weighting of a resolved config. */
  readonly build: (config: C, context: BuildContext) => Weighting;
}

/** The loss weightings; each kind below is one `define` (src/registry.ts). */
export const weightings = new KindFamily<WeightingConfig, WeightingKindDefinition>('weighting', 'loss weighting', isWeighting);

declare module '../registry' {
  interface KindFamilies {
    weighting: typeof weightings;
  }
}

function checkLocation(field: string, m: unknown): void {
  if (typeof m !== 'number' || !Number.isFinite(m)) throw new ConfigError(`${field}.m`, m, 'a finite number');
}

weightings.define('constant', { defaults: {}, build: (c) => new NativeWeighting(c, null, () => 1), doc: "the paper's: unweighted" }, BUILT_IN);
weightings.define(
  'min-snr',
  {
    defaults: { gamma: 5 },
    validate: (c: MinSnrWeightingConfig, field) => void check.positive(`${field}.gamma`, c.gamma),
    // min(snr, gamma) / snr (Hang et al. 2023, eq. 9 for epsilon), written so SNR 0 gives 1, not 0 / 0.
    build: (c: MinSnrWeightingConfig) =>
      new NativeWeighting(c, 'epsilon', (t, s) => {
        const snr = s.snr(t);
        return snr <= c.gamma ? 1 : c.gamma / snr;
      }),
    doc: 'Hang et al. 2023',
  },
  BUILT_IN,
);
weightings.define(
  'p2',
  {
    defaults: { k: 1, gamma: 1 },
    validate: (c: P2WeightingConfig, field) => {
      check.nonNegative(`${field}.k`, c.k);
      check.nonNegative(`${field}.gamma`, c.gamma);
    },
    // 1 / (k + snr)^gamma (Choi et al. 2022, eq. 8, on L_simple).
    build: (c: P2WeightingConfig) => new NativeWeighting(c, 'epsilon', (t, s) => 1 / (c.k + s.snr(t)) ** c.gamma),
    doc: 'Choi et al. 2022',
  },
  BUILT_IN,
);
weightings.define(
  'sd3-lognorm',
  {
    defaults: { m: 0, s: 1 },
    validate: (c: Sd3LogNormWeightingConfig, field) => {
      checkLocation(field, c.m);
      check.positive(`${field}.s`, c.s);
    },
    // The logit-normal density as a weight under uniform t (SD3 eq. 19): the same loss as sampling t from it.
    build: (c: Sd3LogNormWeightingConfig) => new NativeWeighting(c, 'flow', (t) => logitNormalPdf(t, c.m, c.s)),
    doc: 'SD3, Esser et al. 2024, eq. 19',
  },
  BUILT_IN,
);
// pi_CosMap(t) = 2 / (pi - 2 pi t + 2 pi t^2) (SD3 eq. 21).
weightings.define('sd3-cosmap', { defaults: {}, build: (c) => new NativeWeighting(c, 'flow', (t) => 2 / (Math.PI * (1 - 2 * t + 2 * t * t))), doc: 'SD3 eq. 21' }, BUILT_IN);

/** Each built-in kind's complete default config. */
export const WEIGHTING_DEFAULTS = weightings.defaultsTable();

/** The paper's: the unweighted DDPM loss (Transfusion Sec. 2.2, L_DDPM = E ||eps - eps_theta||^2). */
export const DEFAULT_WEIGHTING: WeightingConfig = WEIGHTING_DEFAULTS.constant;

/** A built weighting passes through; a spec is resolved (completed and checked) once, then built. */
export function makeWeighting(spec: WeightingSpec = DEFAULT_WEIGHTING, field = 'weighting'): Weighting {
  return weightings.make(spec, field, (definition, config, context) => definition.build(config, context));
}

/** The weighting of a config already resolved (a validated model config): no checks repeated. */
export function buildWeighting(config: WeightingConfig, field = 'weighting'): Weighting {
  return weightings.build(config, field, (definition, context) => definition.build(config, context));
}
