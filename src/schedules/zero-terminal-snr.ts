/**
 * Zero terminal SNR (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed", Alg. 1):
 * rescale sqrt(alphaBar) linearly so that it is 0 at the last step and unchanged at the first, so training sees
 * pure noise at t = 1 exactly as sampling starts from it. With alpha(1) = 0 epsilon-prediction cannot recover x0
 * at t = 1; Lin et al. pair it with v-prediction.
 */
import { ConfigError } from '../config';
import { BUILT_IN, fieldsOf } from '../registry';
import { ScheduleBase, schedules, type Schedule, type ScheduleConfig } from './schedule';
import { GridSchedule } from './grid';
import { DEFAULT_LINEAR_SCHEDULE } from './discrete';
import { builtBase, prepareBase } from './shifted';

declare module './schedule' {
  interface ScheduleKinds {
    'zero-terminal-snr': ZeroTerminalSnrScheduleConfig;
  }
}

export interface ZeroTerminalSnrScheduleConfig {
  readonly kind: 'zero-terminal-snr';
  /** The schedule to rescale. Default: the linear schedule (Ho et al. 2020), as in the reference values. */
  readonly base: ScheduleConfig;
}

export const DEFAULT_ZERO_TERMINAL_SNR_SCHEDULE: ZeroTerminalSnrScheduleConfig = { kind: 'zero-terminal-snr', base: DEFAULT_LINEAR_SCHEDULE };

/** Lin et al. 2024, Alg. 1 on a grid of alphaBar values: sqrt(alphaBar) <- (a - a_last) a_first / (a_first - a_last). */
export function rescaleZeroTerminalSnr(alphaBar: ArrayLike<number>): Float64Array {
  const root = Float64Array.from(alphaBar, Math.sqrt);
  const first = root[0];
  const last = root[root.length - 1];
  return root.map((a) => ((a - last) * first) / (first - last)).map((a) => a * a);
}

/**
 * `config` is resolved, and its base checked to fall (`checkFalls`), already. A base on a grid of T steps is rescaled on that grid, exactly Lin et al.'s algorithm (the first step keeps its
 * alphaBar). A continuous-time base is rescaled in continuous time anchored at t = 0, where alphaBar = 1.
 */
export function zeroTerminalSnrSchedule(config: ZeroTerminalSnrScheduleConfig, base: Schedule, field = 'schedule'): Schedule {
  if (base.T === null) return new ContinuousZeroTerminalSnr(config, base);
  const T = base.T;
  const grid = Float64Array.from({ length: T }, (_, i) => base.alphaBar((i + 1) / T));
  return new GridSchedule(config, rescaleZeroTerminalSnr(grid), field);
}

/** Throw unless the base's alphaBar falls from its first step to t = 1, which the rescaling divides by. */
function checkFalls(base: Schedule, field: string): void {
  const first = base.T === null ? 1 : base.alphaBar(1 / base.T);
  if (!(base.alphaBar(1) < first)) {
    throw new ConfigError(`${field}.base`, base.config, `a schedule whose alphaBar falls from t = ${base.T === null ? 0 : `1/T`} to t = 1 (got ${base.alphaBar(1)} at t = 1)`);
  }
}

class ContinuousZeroTerminalSnr extends ScheduleBase {
  readonly family: Schedule['family'];
  readonly T = null;
  /** sqrt(alphaBar) of the base at t = 1, which the rescaling maps to 0. */
  private readonly last: number;

  constructor(readonly config: ScheduleConfig, private readonly base: Schedule) {
    super();
    this.family = base.family;
    this.last = Math.sqrt(base.alphaBar(1));
  }

  private root(t: number): number {
    return (Math.sqrt(this.base.alphaBar(t)) - this.last) / (1 - this.last);
  }

  protected alphaBarAt(t: number): number {
    return this.root(t) ** 2;
  }

  protected oneMinusAlphaBarAt(t: number): number {
    return 1 - this.root(t) ** 2;
  }
}

schedules.define(
  'zero-terminal-snr',
  {
    defaults: fieldsOf(DEFAULT_ZERO_TERMINAL_SNR_SCHEDULE),
    prepare: (spec, field) => {
      const prepared = prepareBase(DEFAULT_ZERO_TERMINAL_SNR_SCHEDULE.base)(spec, field);
      // The one check that needs the base built, made here where the base is built anyway.
      checkFalls(prepared.prepared, field);
      return prepared;
    },
    build: (c: ZeroTerminalSnrScheduleConfig, { field, prepared }) => zeroTerminalSnrSchedule(c, builtBase(c, prepared, field), field),
    doc: 'Lin et al. 2024, Alg. 1',
  },
  BUILT_IN,
);
