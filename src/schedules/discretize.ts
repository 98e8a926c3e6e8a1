/**
 * Discretisation, kept apart from the continuous-time schedules (docs/ARCHITECTURE.md, 'Time'): the DDPM arrays of
 * a schedule on T training steps, with step i (0-based, as DDPM code indexes alphas_cumprod) at t = (i + 1) / T.
 */
import { check } from '../config';
import type { Schedule } from './schedule';

export interface DiscreteSchedule {
  readonly T: number;
  /** [T] continuous time of each step: (i + 1) / T. */
  readonly t: Float64Array;
  /** [T] alphaBar_i = prod_{j <= i} alpha_j (DDPM's alphas_cumprod). */
  readonly alphaBar: Float64Array;
  /** [T] beta_i = 1 - alphaBar_i / alphaBar_{i-1}, with alphaBar_{-1} = 1 (the clean data at t = 0). */
  readonly betas: Float64Array;
  /** [T] alpha_i = 1 - beta_i (DDPM's per-step alphas, not the signal coefficient alpha(t)). */
  readonly alphas: Float64Array;
}

export function discretize(schedule: Schedule, T: number): DiscreteSchedule {
  check.positiveInt('discretize.T', T);
  const t = Float64Array.from({ length: T }, (_, i) => (i + 1) / T);
  const alphaBar = t.map((u) => schedule.alphaBar(u));
  const alphas = alphaBar.map((a, i) => (i === 0 ? a : a / alphaBar[i - 1]));
  const betas = alphas.map((a) => 1 - a);
  return { T, t, alphaBar, betas, alphas };
}
