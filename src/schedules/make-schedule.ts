/**
 * `makeSchedule`, the schedule slot's factory (docs/ARCHITECTURE.md, 'Slots'): a built schedule passes through,
 * a spec is resolved against its kind's definition and built (src/registry.ts). The kinds define themselves in
 * their own files, which kinds.ts loads, so this file never changes when a kind is added.
 */
import './kinds';
import { scheduleOf, schedules, type Schedule, type ScheduleConfig, type ScheduleSpec } from './schedule';
import { DEFAULT_COSINE_SCHEDULE } from './discrete';

/** The paper's schedule: cosine, T = 1000 (Transfusion Sec. 3.2 / 4.1, following Nichol & Dhariwal 2021). */
export const DEFAULT_SCHEDULE: ScheduleConfig = DEFAULT_COSINE_SCHEDULE;

/** Each built-in kind's complete default config (read from the registry); a spec overrides only what it changes. */
export const SCHEDULE_DEFAULTS = schedules.defaultsTable();

/**
 * Build a schedule from a (partial) config, or pass a built one through. The result's `config` is complete
 * plain data, so `makeSchedule(schedule.config)` rebuilds it. Bad kinds and fields throw ConfigError.
 */
export function makeSchedule(spec: ScheduleSpec = DEFAULT_SCHEDULE, field = 'schedule'): Schedule {
  return scheduleOf(spec, field);
}
