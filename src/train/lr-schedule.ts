/**
 * Learning-rate schedules as pure functions of the step: linear warmup then cosine decay to a floor
 * (the recipe of nanoGPT and of the Transfusion paper §4.1: warmup, cosine decay).
 */
import { check, checkKindFields, ConfigError } from '../config';

export type LrScheduleConfig =
  | { readonly kind: 'constant' }
  /** Linear warmup over `warmupSteps`, cosine decay to `minRatio * lr` at `totalSteps`, then flat. */
  | { readonly kind: 'warmup-cosine'; readonly warmupSteps: number; readonly totalSteps: number; readonly minRatio: number };

/** Steps of the default warmup. */
export const DEFAULT_WARMUP_STEPS = 20;

export const DEFAULT_LR_SCHEDULE: LrScheduleConfig = { kind: 'warmup-cosine', warmupSteps: DEFAULT_WARMUP_STEPS, totalSteps: 1000, minRatio: 0.1 };

/** Learning rate at `step` (0-based) for peak rate `lr`. */
export function learningRate(config: LrScheduleConfig, lr: number, step: number): number {
  switch (config.kind) {
    case 'constant':
      return lr;
    case 'warmup-cosine': {
      if (step < config.warmupSteps) return (lr * (step + 1)) / config.warmupSteps;
      const span = Math.max(1, config.totalSteps - config.warmupSteps);
      const progress = Math.min(1, (step - config.warmupSteps) / span);
      const floor = lr * config.minRatio;
      return floor + 0.5 * (lr - floor) * (1 + Math.cos(Math.PI * progress));
    }
  }
}

/** The fields of each kind besides `kind` (a schedule of another kind replaces the default whole, unmerged). */
const LR_SCHEDULE_FIELDS: { readonly [K in LrScheduleConfig['kind']]: readonly string[] } = {
  constant: [],
  'warmup-cosine': ['warmupSteps', 'totalSteps', 'minRatio'],
};

/**
 * Check every field. `warmupSteps` may exceed `totalSteps` here: a run shorter than the default warmup records
 * exactly that, and its checkpoints must load; resolveExperiment refuses it where the caller chose both.
 */
export function validateLrSchedule(config: LrScheduleConfig, field = 'lrSchedule'): LrScheduleConfig {
  const kind = (config as { kind?: unknown })?.kind;
  if (kind !== 'constant' && kind !== 'warmup-cosine') throw new ConfigError(`${field}.kind`, kind, "'constant', 'warmup-cosine'");
  checkKindFields(config, LR_SCHEDULE_FIELDS, field);
  if (config.kind === 'warmup-cosine') {
    check.size(`${field}.warmupSteps`, config.warmupSteps, 'steps', 0);
    check.size(`${field}.totalSteps`, config.totalSteps, 'steps');
    check.probability(`${field}.minRatio`, config.minRatio);
  }
  return config;
}
