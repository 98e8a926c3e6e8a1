/**
 * Rectified flow / flow matching with the straight path (Liu et al. 2023; Lipman et al. 2023 with sigma_min = 0;
 * SD3, Esser et al. 2024, eq. 3): x_t = (1 - t) x0 + t eps, so the velocity d x_t / dt = eps - x0 is constant in t.
 * Its logSnr = 2 log((1 - t) / t) runs from +Infinity to -Infinity: the terminal SNR is exactly zero.
 */
import { BUILT_IN } from '../registry';
import { ScheduleBase, schedules } from './schedule';
import { checkTime } from './numeric';

export interface FlowScheduleConfig {
  readonly kind: 'flow';
}

declare module './schedule' {
  interface ScheduleKinds {
    flow: FlowScheduleConfig;
  }
}

export const DEFAULT_FLOW_SCHEDULE: FlowScheduleConfig = { kind: 'flow' };

export class FlowSchedule extends ScheduleBase {
  readonly family = 'flow' as const;
  readonly T = null;

  constructor(readonly config: FlowScheduleConfig = DEFAULT_FLOW_SCHEDULE) {
    super();
  }

  protected alphaBarAt(t: number): number {
    return (1 - t) ** 2 / ((1 - t) ** 2 + t * t);
  }

  protected oneMinusAlphaBarAt(t: number): number {
    return (t * t) / ((1 - t) ** 2 + t * t);
  }

  // Exact forms rather than the family's generic ones, so x_t and the velocity carry no rounding from alphaBar.
  override alpha(t: number): number {
    return 1 - checkTime('t', t);
  }

  override sigma(t: number): number {
    return checkTime('t', t);
  }

  override dAlpha(t: number): number {
    checkTime('t', t);
    return -1;
  }

  override dSigma(t: number): number {
    checkTime('t', t);
    return 1;
  }
}

schedules.define('flow', { defaults: {}, build: (c) => new FlowSchedule(c), doc: 'rectified flow, x_t = (1 - t) x0 + t eps' }, BUILT_IN);
