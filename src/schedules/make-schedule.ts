/** The schedule registry: one table from `kind` to builder, compiler-checked (docs/ARCHITECTURE.md, 'Registries'). */
import { fromRegistry } from '../config';
import { isSchedule, type Schedule, type ScheduleConfig, type ScheduleSpec } from './schedule';
import { resolveSpec } from './spec';
import {
  DEFAULT_COSINE_SCHEDULE, DEFAULT_LINEAR_SCHEDULE, DEFAULT_SCALED_LINEAR_SCHEDULE,
  cosineSchedule, linearSchedule, scaledLinearSchedule,
} from './discrete';
import { DEFAULT_SIGMOID_SCHEDULE, SigmoidSchedule } from './sigmoid';
import { DEFAULT_FLOW_SCHEDULE, FlowSchedule } from './flow';
import { DEFAULT_SHIFTED_SCHEDULE, ShiftedSchedule } from './shifted';
import { DEFAULT_ZERO_TERMINAL_SNR_SCHEDULE, zeroTerminalSnrSchedule } from './zero-terminal-snr';

/** The paper's schedule: cosine, T = 1000 (Transfusion Sec. 3.2 / 4.1, following Nichol & Dhariwal 2021). */
export const DEFAULT_SCHEDULE: ScheduleConfig = DEFAULT_COSINE_SCHEDULE;

/** Each kind's defaults; a spec names its kind and overrides only what it changes. */
export const SCHEDULE_DEFAULTS: { readonly [K in ScheduleConfig['kind']]: Extract<ScheduleConfig, { kind: K }> } = {
  linear: DEFAULT_LINEAR_SCHEDULE,
  'scaled-linear': DEFAULT_SCALED_LINEAR_SCHEDULE,
  cosine: DEFAULT_COSINE_SCHEDULE,
  sigmoid: DEFAULT_SIGMOID_SCHEDULE,
  shifted: DEFAULT_SHIFTED_SCHEDULE,
  'zero-terminal-snr': DEFAULT_ZERO_TERMINAL_SNR_SCHEDULE,
  flow: DEFAULT_FLOW_SCHEDULE,
};

/**
 * Build a schedule from a (partial) config, or pass a built one through. The result's `config` is complete
 * plain data, so `makeSchedule(schedule.config)` rebuilds it. Bad kinds and fields throw ConfigError.
 */
export function makeSchedule(spec: ScheduleSpec = DEFAULT_SCHEDULE, field = 'schedule'): Schedule {
  if (isSchedule(spec)) return spec;
  const raw = spec as { readonly kind: string; readonly base?: ScheduleSpec };
  // A wrapped base may be a built schedule (not plain data): build it first, then record its config.
  const kind = raw?.kind;
  const base = kind === 'shifted' || kind === 'zero-terminal-snr' ? makeSchedule(raw.base ?? SCHEDULE_DEFAULTS[kind].base, `${field}.base`) : null;
  const config = resolveSpec<ScheduleConfig>(SCHEDULE_DEFAULTS, base ? { ...raw, base: base.config } : raw, field);
  return fromRegistry<ScheduleConfig, Schedule>(
    {
      linear: (c) => linearSchedule(c, field),
      'scaled-linear': (c) => scaledLinearSchedule(c, field),
      cosine: (c) => cosineSchedule(c, field),
      sigmoid: (c) => new SigmoidSchedule(c, field),
      shifted: (c) => new ShiftedSchedule(c, base as Schedule, field),
      'zero-terminal-snr': (c) => zeroTerminalSnrSchedule(c, base as Schedule, field),
      flow: (c) => new FlowSchedule(c),
    },
    config,
    field,
  );
}
