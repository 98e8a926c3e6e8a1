/**
 * Resolution shift: the same schedule at lower SNR, logSnr'(t) = logSnr(t) - 2 log(shift).
 * A larger image has more redundant pixels, so the same noise level destroys less of it; shifting by
 * shift = resolution / base resolution restores the balance (Hoogeboom et al. 2023, simple diffusion, Sec. 3.1,
 * "shifted cosine": logSnr + 2 log(64 / d); SD3, Esser et al. 2024, eq. 23, whose t' = shift t / (1 + (shift - 1) t)
 * on rectified flow is this same shift). The base's family is kept, so a shifted flow schedule is still alpha + sigma = 1.
 */
import { check } from '../config';
import { BUILT_IN, fieldsOf } from '../registry';
import { ScheduleBase, buildSchedule, scheduleOf, schedules, type Schedule, type ScheduleConfig, type ScheduleSpec } from './schedule';
import { sigmoid } from './numeric';
import { DEFAULT_FLOW_SCHEDULE } from './flow';

declare module './schedule' {
  interface ScheduleKinds {
    shifted: ShiftedScheduleConfig;
  }
}

export interface ShiftedScheduleConfig {
  readonly kind: 'shifted';
  /** The schedule to shift. Default: rectified flow, SD3's base. */
  readonly base: ScheduleConfig;
  /** > 0; above 1 moves every t to noisier, below 1 to cleaner. Default 3 (SD3 at 1024^2 px, Sec. 5.3.2). */
  readonly shift: number;
}

export const DEFAULT_SHIFTED_SCHEDULE: ShiftedScheduleConfig = { kind: 'shifted', base: DEFAULT_FLOW_SCHEDULE, shift: 3 };

export class ShiftedSchedule extends ScheduleBase {
  readonly family: Schedule['family'];
  readonly T: number | null;
  /** -2 log(shift), added to the base's logSnr. */
  private readonly offset: number;

  /**
   * `base` is the built `config.base` (it may be a researcher's own schedule, so it is passed in); `config` is
   * resolved (checked) already.
   */
  constructor(readonly config: ShiftedScheduleConfig, readonly base: Schedule) {
    super();
    this.offset = -2 * Math.log(config.shift);
    this.family = base.family;
    this.T = base.T;
  }

  protected alphaBarAt(t: number): number {
    return sigmoid(this.base.logSnr(t) + this.offset);
  }

  protected oneMinusAlphaBarAt(t: number): number {
    return sigmoid(-(this.base.logSnr(t) + this.offset));
  }
}

/**
 * A wrapper's `base` (a spec, or a built schedule such as a researcher's own class) is built first and recorded
 * by its config, so the wrapper's config is plain data; the built base is reused by `build` (src/registry.ts,
 * `prepare`).
 */
export function prepareBase(defaultBase: ScheduleConfig) {
  return (spec: Readonly<Record<string, unknown>>, field: string) => {
    const base = scheduleOf((spec.base ?? defaultBase) as ScheduleSpec, `${field}.base`);
    return { spec: { ...spec, base: base.config }, prepared: base };
  };
}

/** The built base `prepare` handed over, or the base built from the resolved config. */
export function builtBase(config: { readonly base: ScheduleConfig }, prepared: unknown, field: string): Schedule {
  return (prepared as Schedule | undefined) ?? buildSchedule(config.base, `${field}.base`);
}

schedules.define(
  'shifted',
  {
    defaults: fieldsOf(DEFAULT_SHIFTED_SCHEDULE),
    prepare: prepareBase(DEFAULT_SHIFTED_SCHEDULE.base),
    validate: (c: ShiftedScheduleConfig, field) => void check.positive(`${field}.shift`, c.shift),
    build: (c: ShiftedScheduleConfig, { field, prepared }) => new ShiftedSchedule(c, builtBase(c, prepared, field)),
    doc: 'resolution shift of logSnr (Hoogeboom et al. 2023; SD3 eq. 23)',
  },
  BUILT_IN,
);
