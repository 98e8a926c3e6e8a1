/**
 * The schedule interface: the forward process x_t = alpha(t) x0 + sigma(t) eps as pure functions of continuous
 * time t in [0, 1], t = 0 clean and t = 1 pure noise (docs/ARCHITECTURE.md, 'Time'). Discretising to T steps is a
 * separate function (discretize.ts).
 *
 * Every schedule is reduced to alphaBar(t) = alpha^2 / (alpha^2 + sigma^2) = sigmoid(logSnr(t)) plus a family that
 * fixes the scale of (alpha, sigma):
 * - 'variance-preserving' (DDPM family): alpha^2 + sigma^2 = 1, so alpha = sqrt(alphaBar), sigma = sqrt(1 - alphaBar);
 * - 'flow' (rectified flow family): alpha + sigma = 1, e.g. rectified flow's alpha = 1 - t, sigma = t.
 * Two schedules of different families with equal logSnr(t) differ only by a per-t rescaling of x_t.
 */
import { KindFamily, type BuildContext, type KindDefinition } from '../registry';
import type { Spec } from './spec';
import { checkTime, derivative } from './numeric';

/**
 * The built-in schedule configs by kind. Each kind's file adds its config here by declaration merging
 * (`declare module './schedule' { interface ScheduleKinds { sigmoid: SigmoidScheduleConfig } }`) beside its
 * `schedules.define` call, so the union below grows with the kinds and no central list is edited.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ScheduleKinds {}

export type ScheduleConfig = ScheduleKinds[keyof ScheduleKinds];

export type ScheduleKind = ScheduleConfig['kind'];

/** The kinds that wrap another schedule in their `base` (shifted, zero-terminal-snr). */
type WrapperConfig = Extract<ScheduleConfig, { readonly base: unknown }>;

/** A wrapper's spec: its `base` may itself be a spec or a built schedule. */
type WrapperSpec = {
  readonly [K in WrapperConfig['kind']]: { readonly kind: K; readonly base?: ScheduleSpec } & Partial<Omit<Extract<WrapperConfig, { kind: K }>, 'kind' | 'base'>>;
}[WrapperConfig['kind']];

/**
 * What `makeSchedule` accepts: a built schedule (docs/ARCHITECTURE.md, 'Slots'), or a config with only the fields
 * to change; a wrapped `base` may itself be a spec or a built schedule.
 */
export type ScheduleSpec = Schedule | Spec<Exclude<ScheduleConfig, WrapperConfig>> | WrapperSpec;

export type ScheduleFamily = 'variance-preserving' | 'flow';

export interface Schedule {
  /** The plain-data config that built it: `makeSchedule(JSON.parse(JSON.stringify(config)))` rebuilds it. */
  readonly config: ScheduleConfig;
  /** How alpha and sigma are scaled: alpha^2 + sigma^2 = 1 ('variance-preserving') or alpha + sigma = 1 ('flow'). */
  readonly family: ScheduleFamily;
  /** Training steps of the grid the schedule is defined on (index i <-> t = (i + 1) / T); null in continuous time. */
  readonly T: number | null;
  /** alpha^2 / (alpha^2 + sigma^2), the signal fraction; 1 at t = 0. */
  alphaBar(t: number): number;
  /** Signal coefficient of x_t = alpha x0 + sigma eps. */
  alpha(t: number): number;
  /** Noise coefficient of x_t = alpha x0 + sigma eps. */
  sigma(t: number): number;
  /** log(alpha^2 / sigma^2): +Infinity at t = 0, -Infinity where the terminal SNR is zero. */
  logSnr(t: number): number;
  /** alpha^2 / sigma^2. */
  snr(t: number): number;
  /** d alpha / dt, for the flow velocity d x_t / dt = alpha'(t) x0 + sigma'(t) eps. */
  dAlpha(t: number): number;
  /** d sigma / dt. */
  dSigma(t: number): number;
}

/** Structural check for a built schedule, so `makeSchedule` also takes a researcher's own class. */
export function isSchedule(value: unknown): value is Schedule {
  const v = value as Partial<Schedule> | null;
  return typeof v === 'object' && v !== null && typeof v.alphaBar === 'function' && typeof v.alpha === 'function' && typeof v.sigma === 'function';
}

/**
 * Shared implementation: a subclass gives alphaBar and 1 - alphaBar (separately, so that the small one of the
 * two is never computed by cancellation), and inherits alpha, sigma, logSnr and snr from its family.
 */
export abstract class ScheduleBase implements Schedule {
  abstract readonly config: ScheduleConfig;
  abstract readonly family: ScheduleFamily;
  abstract readonly T: number | null;

  /** alphaBar at a t already checked to lie in [0, 1]. */
  protected abstract alphaBarAt(t: number): number;
  /** 1 - alphaBar at a checked t. */
  protected abstract oneMinusAlphaBarAt(t: number): number;

  alphaBar(t: number): number {
    return this.alphaBarAt(checkTime('t', t));
  }

  alpha(t: number): number {
    checkTime('t', t);
    const a = Math.sqrt(this.alphaBarAt(t));
    return this.family === 'variance-preserving' ? a : a / (a + Math.sqrt(this.oneMinusAlphaBarAt(t)));
  }

  sigma(t: number): number {
    checkTime('t', t);
    const s = Math.sqrt(this.oneMinusAlphaBarAt(t));
    return this.family === 'variance-preserving' ? s : s / (s + Math.sqrt(this.alphaBarAt(t)));
  }

  logSnr(t: number): number {
    checkTime('t', t);
    return Math.log(this.alphaBarAt(t)) - Math.log(this.oneMinusAlphaBarAt(t));
  }

  snr(t: number): number {
    checkTime('t', t);
    return this.alphaBarAt(t) / this.oneMinusAlphaBarAt(t);
  }

  dAlpha(t: number): number {
    return derivative((u) => this.alpha(u), checkTime('t', t));
  }

  dSigma(t: number): number {
    return derivative((u) => this.sigma(u), checkTime('t', t));
  }
}

/** What a schedule kind defines (src/registry.ts): its defaults and checks, and how a resolved config is built. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface ScheduleKindDefinition<C extends { readonly kind: string } = any> extends KindDefinition<C> {
  /** The schedule of a resolved config (checked already: build does not check again). */
  readonly build: (config: C, context: BuildContext) => Schedule;
}

/** The noise schedules; each kind's file defines itself here (discrete.ts, sigmoid.ts, flow.ts, ...). */
export const schedules = new KindFamily<ScheduleConfig, ScheduleKindDefinition>('schedule', 'noise schedule', isSchedule);

declare module '../registry' {
  interface KindFamilies {
    schedule: typeof schedules;
  }
}

/** A built schedule passes through; a spec is resolved (completed and checked) once, then built. */
export function scheduleOf(spec: ScheduleSpec, field = 'schedule'): Schedule {
  return schedules.make(spec, field, (definition, config, context) => definition.build(config, context));
}

/** The schedule of a config already resolved (`schedules.resolve`, or a validated model config): no checks repeated. */
export function buildSchedule(config: ScheduleConfig, field = 'schedule'): Schedule {
  return schedules.build(config, field, (definition, context) => definition.build(config, context));
}
