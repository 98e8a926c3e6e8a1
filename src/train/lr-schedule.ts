/**
 * Learning-rate schedules as pure functions of the step: linear warmup then cosine decay to a floor
 * (the recipe of nanoGPT and of the Transfusion paper §4.1: warmup, cosine decay).
 */
import { check, ConfigError } from '../config';

export type LrScheduleConfig =
  | { readonly kind: 'constant' }
  /** Linear warmup over `warmupSteps`, cosine decay to `minRatio * lr` at `totalSteps`, then flat. */
  | { readonly kind: 'warmup-cosine'; readonly warmupSteps: number; readonly totalSteps: number; readonly minRatio: number };

export const DEFAULT_LR_SCHEDULE: LrScheduleConfig = { kind: 'warmup-cosine', warmupSteps: 20, totalSteps: 1000, minRatio: 0.1 };

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

export function validateLrSchedule(config: LrScheduleConfig, field = 'lrSchedule'): LrScheduleConfig {
  switch (config?.kind) {
    case 'constant':
      return config;
    case 'warmup-cosine':
      check.nonNegativeInt(`${field}.warmupSteps`, config.warmupSteps);
      check.positiveInt(`${field}.totalSteps`, config.totalSteps);
      check.probability(`${field}.minRatio`, config.minRatio);
      return config;
    default:
      throw new ConfigError(`${field}.kind`, (config as { kind?: unknown })?.kind, "'constant', 'warmup-cosine'");
  }
}
