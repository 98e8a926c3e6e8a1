/**
 * Learning-rate schedules as pure functions of the step: linear warmup then cosine decay to a floor
 * (the recipe of nanoGPT and of the Transfusion paper §4.1: warmup, cosine decay).
 */
import { check } from '../config';
import { BUILT_IN, KindFamily, type KindDefinition } from '../registry';

/**
 * The learning-rate schedules by kind; a kind defined in another file adds its config by declaration merging
 * (`declare module './lr-schedule' { interface LrScheduleKinds { ... } }`) beside its `lrSchedules.define`.
 */
export interface LrScheduleKinds {
  constant: { readonly kind: 'constant' };
  /** Linear warmup over `warmupSteps`, cosine decay to `minRatio * lr` at `totalSteps`, then flat. */
  'warmup-cosine': { readonly kind: 'warmup-cosine'; readonly warmupSteps: number; readonly totalSteps: number; readonly minRatio: number };
}

export type LrScheduleConfig = LrScheduleKinds[keyof LrScheduleKinds];

/** Steps of the default warmup. */
export const DEFAULT_WARMUP_STEPS = 20;

export const DEFAULT_LR_SCHEDULE: LrScheduleConfig = { kind: 'warmup-cosine', warmupSteps: DEFAULT_WARMUP_STEPS, totalSteps: 1000, minRatio: 0.1 };

/** What a learning-rate schedule kind defines (src/registry.ts). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface LrScheduleKindDefinition<C extends { readonly kind: string } = any> extends KindDefinition<C> {
  /** Learning rate at `step` (0-based) for peak rate `lr`, of a resolved config. */
  readonly rate: (config: C, lr: number, step: number) => number;
}

/** The learning-rate schedules; `train.lrSchedule` names one. */
export const lrSchedules = new KindFamily<LrScheduleConfig, LrScheduleKindDefinition>('lr-schedule', 'learning-rate schedule', undefined, ['rate']);

declare module '../registry' {
  interface KindFamilies {
    'lr-schedule': typeof lrSchedules;
  }
}

lrSchedules.define('constant', { defaults: {}, rate: (_, lr) => lr, doc: 'the peak rate at every step' }, BUILT_IN);

/**
 * Its fields have no defaults (a run's length sets totalSteps, src/experiments/experiment-config.ts). `warmupSteps`
 * may exceed `totalSteps` here: a run shorter than the default warmup records exactly that, and its checkpoints
 * must load; resolveExperiment refuses it where the caller chose both.
 */
lrSchedules.define(
  'warmup-cosine',
  {
    defaults: {},
    required: ['warmupSteps', 'totalSteps', 'minRatio'],
    validate: (c: LrScheduleKinds['warmup-cosine'], field) => {
      check.size(`${field}.warmupSteps`, c.warmupSteps, 'steps', 0);
      check.size(`${field}.totalSteps`, c.totalSteps, 'steps');
      check.probability(`${field}.minRatio`, c.minRatio);
    },
    rate: (c: LrScheduleKinds['warmup-cosine'], lr, step) => {
      if (step < c.warmupSteps) return (lr * (step + 1)) / c.warmupSteps;
      const span = Math.max(1, c.totalSteps - c.warmupSteps);
      const progress = Math.min(1, (step - c.warmupSteps) / span);
      const floor = lr * c.minRatio;
      return floor + 0.5 * (lr - floor) * (1 + Math.cos(Math.PI * progress));
    },
    doc: 'linear warmup, cosine decay to a floor (paper §4.1)',
  },
  BUILT_IN,
);

/** Learning rate at `step` (0-based) for peak rate `lr`, of a resolved config (validateLrSchedule). */
export function learningRate(config: LrScheduleConfig, lr: number, step: number): number {
  return lrSchedules.definition(config.kind, 'lrSchedule').rate(config, lr, step);
}

/** Check every field (src/registry.ts `resolve`), returning the resolved config. */
export function validateLrSchedule(config: LrScheduleConfig, field = 'lrSchedule'): LrScheduleConfig {
  return lrSchedules.resolve(config, field);
}
