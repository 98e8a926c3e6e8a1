/**
 * Plain arrays for plots (viz/schedule-curves.ts takes them as they are). Curves are sampled at the midpoints
 * t = (k + 0.5) / n, where every schedule's logSnr is finite (it is +-Infinity at t = 0 and, for zero terminal
 * SNR and rectified flow, at t = 1).
 */
import { check } from '../config';
import type { Schedule } from './schedule';
import type { Weighting } from './weighting';
import type { TimestepSampler, TimestepOptions } from './timestep-sampler';
import type { PredictionKind } from './targets';

export interface ScheduleSeriesData {
  readonly name: string;
  readonly t: number[];
  readonly alphaBar: number[];
  readonly logSnr: number[];
  readonly alpha: number[];
  readonly sigma: number[];
}

/** A weighting or a density against `x` (t or logSnr), shaped like viz's WeightSeries. */
export interface CurveSeriesData {
  readonly name: string;
  readonly x: number[];
  readonly weight: number[];
}

function midpoints(n: number, field: string): number[] {
  check.positiveInt(field, n);
  return Array.from({ length: n }, (_, k) => (k + 0.5) / n);
}

/** A short label from a config: its kind and scalar fields, e.g. "cosine(s=0.008, maxBeta=0.999, T=1000)". */
export function describeConfig(config: { readonly kind: string }): string {
  const fields = Object.entries(config).filter(([key]) => key !== 'kind');
  const parts = fields.map(([key, value]) => (typeof value === 'object' && value !== null && 'kind' in value ? describeConfig(value) : `${key}=${value}`));
  return parts.length ? `${config.kind}(${parts.join(', ')})` : config.kind;
}

export function scheduleSeries(schedule: Schedule, n = 200, name = describeConfig(schedule.config)): ScheduleSeriesData {
  const t = midpoints(n, 'scheduleSeries.n');
  return {
    name,
    t,
    alphaBar: t.map((u) => schedule.alphaBar(u)),
    logSnr: t.map((u) => schedule.logSnr(u)),
    alpha: t.map((u) => schedule.alpha(u)),
    sigma: t.map((u) => schedule.sigma(u)),
  };
}

export interface WeightSeriesOptions {
  /** What x holds: 't' (default) or the schedule's 'logSnr' at each t. */
  readonly x?: 't' | 'logSnr';
  readonly name?: string;
}

export function weightSeries(weighting: Weighting, schedule: Schedule, target: PredictionKind, n = 200, options: WeightSeriesOptions = {}): CurveSeriesData {
  const t = midpoints(n, 'weightSeries.n');
  return {
    name: options.name ?? `${describeConfig(weighting.config)} on ${target}`,
    x: options.x === 'logSnr' ? t.map((u) => schedule.logSnr(u)) : t,
    weight: t.map((u) => weighting.weight(u, schedule, target)),
  };
}

/** The timestep sampler's density p(t) (in `weight`, so weightCurves plots it beside loss weightings). */
export function samplerDensitySeries(sampler: TimestepSampler, n = 200, options: TimestepOptions & { readonly name?: string } = {}): CurveSeriesData {
  const t = midpoints(n, 'samplerDensitySeries.n');
  return {
    name: options.name ?? describeConfig(sampler.config) + (options.tMax !== undefined ? `, t <= ${options.tMax}` : ''),
    x: t,
    weight: t.map((u) => sampler.density(u, { tMax: options.tMax })),
  };
}
