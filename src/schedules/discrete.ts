/**
 * The DDPM-family beta schedules, each defined by its T betas (so natively discrete; grid.ts makes them
 * functions of continuous t).
 */
import { check, ConfigError } from '../config';
import { BUILT_IN, fieldsOf } from '../registry';
import { schedules } from './schedule';
import { GridSchedule, alphaBarFromBetas, linspace } from './grid';

declare module './schedule' {
  interface ScheduleKinds {
    linear: LinearScheduleConfig;
    'scaled-linear': ScaledLinearScheduleConfig;
    cosine: CosineScheduleConfig;
  }
}

export interface LinearScheduleConfig {
  readonly kind: 'linear';
  /** beta at the first step. Default 1e-4 (Ho et al. 2020, Sec. 4). */
  readonly betaStart: number;
  /** beta at the last step. Default 0.02 (Ho et al. 2020). */
  readonly betaEnd: number;
  /** Training steps. Default 1000 (Ho et al. 2020; Transfusion Sec. 4 uses T = 1000). */
  readonly T: number;
}

export const DEFAULT_LINEAR_SCHEDULE: LinearScheduleConfig = { kind: 'linear', betaStart: 1e-4, betaEnd: 0.02, T: 1000 };

export interface ScaledLinearScheduleConfig {
  readonly kind: 'scaled-linear';
  /** beta at the first step. Default 0.00085 (Stable Diffusion / latent diffusion, Rombach et al. 2022). */
  readonly betaStart: number;
  /** beta at the last step. Default 0.012 (Stable Diffusion). */
  readonly betaEnd: number;
  /** Training steps. Default 1000. */
  readonly T: number;
}

export const DEFAULT_SCALED_LINEAR_SCHEDULE: ScaledLinearScheduleConfig = { kind: 'scaled-linear', betaStart: 0.00085, betaEnd: 0.012, T: 1000 };

export interface CosineScheduleConfig {
  readonly kind: 'cosine';
  /** Offset that keeps beta from being tiny near t = 0. Default 0.008 (Nichol & Dhariwal 2021, eq. 17). */
  readonly s: number;
  /** Betas are clipped to this to avoid a singularity at t = 1. Default 0.999 (Nichol & Dhariwal 2021). */
  readonly maxBeta: number;
  /** Training steps. Default 1000 (the paper's cosine schedule, T = 1000). */
  readonly T: number;
}

export const DEFAULT_COSINE_SCHEDULE: CosineScheduleConfig = { kind: 'cosine', s: 0.008, maxBeta: 0.999, T: 1000 };

function checkBetaRange(field: string, betaStart: number, betaEnd: number): void {
  if (typeof betaStart !== 'number' || !(betaStart > 0 && betaStart < 1)) throw new ConfigError(`${field}.betaStart`, betaStart, 'a number in (0, 1)');
  if (typeof betaEnd !== 'number' || !(betaEnd >= betaStart && betaEnd < 1)) throw new ConfigError(`${field}.betaEnd`, betaEnd, `a number in [betaStart (${betaStart}), 1)`);
}

function checkBetas(config: LinearScheduleConfig | ScaledLinearScheduleConfig, field: string): void {
  checkBetaRange(field, config.betaStart, config.betaEnd);
  check.size(`${field}.T`, config.T, 'diffusionSteps');
}

/** betas = linspace(betaStart, betaEnd, T) (Ho et al. 2020); `config` resolved (checked) already. */
export function linearSchedule(config: LinearScheduleConfig, field = 'schedule'): GridSchedule {
  return new GridSchedule(config, alphaBarFromBetas(linspace(config.betaStart, config.betaEnd, config.T)), field);
}

/** betas = linspace(sqrt(betaStart), sqrt(betaEnd), T)^2 (latent diffusion; diffusers' "scaled_linear"). */
export function scaledLinearSchedule(config: ScaledLinearScheduleConfig, field = 'schedule'): GridSchedule {
  const T = config.T;
  const betas = linspace(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), T).map((b) => b * b);
  return new GridSchedule(config, alphaBarFromBetas(betas), field);
}

/**
 * Nichol & Dhariwal 2021, eq. 17: f(t) = cos(((t + s) / (1 + s)) pi / 2)^2, beta_i = min(1 - f((i + 1)/T) / f(i/T),
 * maxBeta), alphaBar = cumprod(1 - beta) (improved-diffusion's betas_for_alpha_bar, whose clipping makes the last
 * step differ from f(1) / f(0) = 0).
 */
export function cosineSchedule(config: CosineScheduleConfig, field = 'schedule'): GridSchedule {
  const T = config.T;
  const f = (u: number) => Math.cos(((u + config.s) / (1 + config.s)) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) betas[i] = Math.min(1 - f((i + 1) / T) / f(i / T), config.maxBeta);
  return new GridSchedule(config, alphaBarFromBetas(betas), field);
}

function checkCosine(config: CosineScheduleConfig, field: string): void {
  check.nonNegative(`${field}.s`, config.s);
  if (typeof config.maxBeta !== 'number' || !(config.maxBeta > 0 && config.maxBeta <= 1)) throw new ConfigError(`${field}.maxBeta`, config.maxBeta, 'a number in (0, 1]');
  check.size(`${field}.T`, config.T, 'diffusionSteps');
}

schedules.define('linear', { defaults: fieldsOf(DEFAULT_LINEAR_SCHEDULE), validate: checkBetas, build: (c, { field }) => linearSchedule(c, field), doc: 'DDPM linear betas (Ho et al. 2020)' }, BUILT_IN);
schedules.define('scaled-linear', { defaults: fieldsOf(DEFAULT_SCALED_LINEAR_SCHEDULE), validate: checkBetas, build: (c, { field }) => scaledLinearSchedule(c, field), doc: 'latent diffusion betas (Rombach et al. 2022)' }, BUILT_IN);
schedules.define('cosine', { defaults: fieldsOf(DEFAULT_COSINE_SCHEDULE), validate: checkCosine, build: (c, { field }) => cosineSchedule(c, field), doc: "the paper's: Nichol & Dhariwal 2021, eq. 17" }, BUILT_IN);
