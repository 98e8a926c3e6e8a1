/**
 * Training-time distributions over t in (0, 1]: which noise levels the diffusion loss sees. Each sampler is
 * given by its cdf and quantile, so noise limiting (Transfusion Sec. 4.3: when the image precedes its caption,
 * t <= 500 of 1000) is the same distribution truncated to (0, tMax], drawn by inverse-cdf sampling.
 */
import { check, ConfigError } from '../config';
import { Rng, rng as globalRng } from '../engine/random';
import { BUILT_IN, KindFamily, type BuildContext, type KindDefinition } from '../registry';
import type { Spec } from './spec';
import { logit, sigmoid } from './numeric';
import { logitNormalPdf, normalCdf, normalQuantile } from './normal';

/**
 * The built-in timestep-sampler configs by kind; a kind defined in another file adds its config by declaration
 * merging (`declare module './timestep-sampler' { interface TimestepSamplerKinds { ... } }`).
 */
export interface TimestepSamplerKinds {
  uniform: UniformTimestepConfig;
  'logit-normal': LogitNormalTimestepConfig;
  'discrete-uniform': DiscreteUniformTimestepConfig;
}

export interface UniformTimestepConfig {
  readonly kind: 'uniform';
}

export interface LogitNormalTimestepConfig {
  readonly kind: 'logit-normal';
  /** Location of logit(t). Default 0 (SD3, Esser et al. 2024, Sec. 3.1 eq. 19; their best was m = 0, s = 1). */
  readonly m: number;
  /** Scale of logit(t), > 0. Default 1 (SD3). */
  readonly s: number;
}

export interface DiscreteUniformTimestepConfig {
  readonly kind: 'discrete-uniform';
  /** Training steps; draws t = (i + 1) / T with i uniform in 0..T-1. Default 1000 (the paper's T). */
  readonly T: number;
}

export type TimestepSamplerConfig = TimestepSamplerKinds[keyof TimestepSamplerKinds];

/** Noise limiting's cap (Transfusion Sec. 4.3): t <= 500 / 1000 when the image comes before its caption. */
export const NOISE_LIMIT_T_MAX = 0.5;

export interface TimestepOptions {
  /** Truncate to (0, tMax]. Default 1 (no truncation). */
  readonly tMax?: number;
}

export interface TimestepSampler {
  readonly config: TimestepSamplerConfig;
  /** [n] draws of t in (0, tMax]. */
  sample(n: number, rng?: Rng, options?: TimestepOptions): Float64Array;
  /** Density of t on (0, tMax] (the discrete sampler: mass 1/T spread over each step's interval), 0 elsewhere. */
  density(t: number, options?: TimestepOptions): number;
  /** P(t' <= t) without truncation. */
  cdf(t: number): number;
  /** The smallest t with cdf(t) >= u. */
  quantile(u: number): number;
}

export type TimestepSamplerSpec = TimestepSampler | Spec<TimestepSamplerConfig>;

/** What a timestep-sampler kind defines (src/registry.ts). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface TimestepSamplerKindDefinition<C extends { readonly kind: string } = any> extends KindDefinition<C> {
  /** The sampler of a resolved config. */
  readonly build: (config: C, context: BuildContext) => TimestepSampler;
}

function checkTMax(tMax: number | undefined): number {
  const value = tMax ?? 1;
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) throw new ConfigError('timesteps.tMax', value, 'a number in (0, 1]');
  return value;
}

/**
 * A sampler given by its cdf, quantile and density on (0, 1]: `sample` and `density` (truncation to tMax
 * included) come from them. A kind defined at run time can extend it and give those three.
 */
export abstract class InverseCdfSampler implements TimestepSampler {
  abstract readonly config: TimestepSamplerConfig;
  abstract cdf(t: number): number;
  abstract quantile(u: number): number;
  protected abstract pdf(t: number): number;

  sample(n: number, rng: Rng = globalRng(), options: TimestepOptions = {}): Float64Array {
    check.nonNegativeInt('timesteps.n', n);
    const tMax = checkTMax(options.tMax);
    const mass = this.massBelow(tMax);
    // u in (0, mass], never 0: the quantile of 0 is t = 0, the clean data, which carries no loss.
    return Float64Array.from({ length: n }, () => Math.min(tMax, this.quantile((1 - rng.next()) * mass)));
  }

  density(t: number, options: TimestepOptions = {}): number {
    const tMax = checkTMax(options.tMax);
    return t > 0 && t <= tMax ? this.pdf(t) / this.massBelow(tMax) : 0;
  }

  private massBelow(tMax: number): number {
    const mass = this.cdf(tMax);
    if (!(mass > 0)) throw new ConfigError('timesteps.tMax', tMax, `a cap that keeps some probability (cdf(tMax) = ${mass})`);
    return mass;
  }
}

class UniformSampler extends InverseCdfSampler {
  constructor(readonly config: UniformTimestepConfig) {
    super();
  }
  cdf(t: number): number {
    return Math.min(1, Math.max(0, t));
  }
  quantile(u: number): number {
    return u;
  }
  protected pdf(): number {
    return 1;
  }
}

/** t = sigmoid(m + s n), n ~ N(0, 1) (SD3, Esser et al. 2024, eq. 19): favours the middle noise levels. */
class LogitNormalSampler extends InverseCdfSampler {
  constructor(readonly config: LogitNormalTimestepConfig) {
    super();
  }
  cdf(t: number): number {
    return normalCdf((logit(t) - this.config.m) / this.config.s);
  }
  quantile(u: number): number {
    return sigmoid(this.config.m + this.config.s * normalQuantile(u));
  }
  protected pdf(t: number): number {
    return logitNormalPdf(t, this.config.m, this.config.s);
  }
}

/** How close t T must be to an integer to count as that step (absorbs the rounding of (i + 1) / T). */
const SNAP = 1e-9;

class DiscreteUniformSampler extends InverseCdfSampler {
  constructor(readonly config: DiscreteUniformTimestepConfig) {
    super();
  }
  cdf(t: number): number {
    return Math.min(1, Math.max(0, Math.floor(t * this.config.T + SNAP) / this.config.T));
  }
  quantile(u: number): number {
    return Math.max(1, Math.ceil(u * this.config.T - SNAP)) / this.config.T;
  }
  protected pdf(): number {
    return 1;
  }
}

function isTimestepSampler(value: unknown): value is TimestepSampler {
  return typeof (value as Partial<TimestepSampler> | null)?.sample === 'function';
}

/** The training-time distributions over t; each kind below is one `define` (src/registry.ts). */
export const timestepSamplers = new KindFamily<TimestepSamplerConfig, TimestepSamplerKindDefinition>('timesteps', 'timestep sampler', isTimestepSampler);

declare module '../registry' {
  interface KindFamilies {
    timesteps: typeof timestepSamplers;
  }
}

timestepSamplers.define('uniform', { defaults: {}, build: (c) => new UniformSampler(c), doc: 't ~ U(0, 1]' }, BUILT_IN);
timestepSamplers.define(
  'logit-normal',
  {
    defaults: { m: 0, s: 1 },
    validate: (c: LogitNormalTimestepConfig, field) => {
      if (typeof c.m !== 'number' || !Number.isFinite(c.m)) throw new ConfigError(`${field}.m`, c.m, 'a finite number');
      check.positive(`${field}.s`, c.s);
    },
    build: (c) => new LogitNormalSampler(c),
    doc: 'SD3, Esser et al. 2024, eq. 19',
  },
  BUILT_IN,
);
timestepSamplers.define(
  'discrete-uniform',
  {
    defaults: { T: 1000 },
    validate: (c: DiscreteUniformTimestepConfig, field) => void check.size(`${field}.T`, c.T, 'diffusionSteps'),
    build: (c) => new DiscreteUniformSampler(c),
    doc: 'DDPM training, t = (i + 1) / T (Ho et al. 2020, Alg. 1)',
  },
  BUILT_IN,
);

/** Each built-in kind's complete default config. */
export const TIMESTEP_SAMPLER_DEFAULTS = timestepSamplers.defaultsTable();

/** The paper's: DDPM training, t uniform over the T = 1000 steps (Ho et al. 2020, Alg. 1). */
export const DEFAULT_TIMESTEP_SAMPLER: TimestepSamplerConfig = TIMESTEP_SAMPLER_DEFAULTS['discrete-uniform'];

/** A built sampler passes through; a spec is resolved (completed and checked) once, then built. */
export function makeTimestepSampler(spec: TimestepSamplerSpec = DEFAULT_TIMESTEP_SAMPLER, field = 'timesteps'): TimestepSampler {
  return timestepSamplers.make(spec, field, (definition, config, context) => definition.build(config, context));
}

/** The sampler of a config already resolved (a validated model config): no checks repeated. */
export function buildTimestepSampler(config: TimestepSamplerConfig, field = 'timesteps'): TimestepSampler {
  return timestepSamplers.build(config, field, (definition, context) => definition.build(config, context));
}
