/**
 * A noise schedule kind defined outside src/, the way a notebook cell defines one: the Laplace schedule of
 * Hang et al. 2024 ("Improved noise schedule for diffusion training"), logSnr(t) = mu - b sgn(0.5 - t) ln(1 - 2|t - 0.5|).
 * test/registry/runtime-kind.test.ts defines it in its own process, trains and sweeps with it, and has a child
 * process define it again (or not) before loading the checkpoint, as a fresh kernel would.
 */
import { check, ConfigError, defineKind, ScheduleBase, type ScheduleConfig } from '../../src';

export interface LaplaceScheduleConfig {
  readonly kind: 'laplace';
  /** Location of logSnr at t = 0.5. Default 0 (Hang et al. 2024). */
  readonly mu: number;
  /** Scale, > 0. Default 0.5 (Hang et al. 2024). */
  readonly b: number;
}

class LaplaceSchedule extends ScheduleBase {
  readonly family = 'variance-preserving' as const;
  readonly T = null;
  /** The config as the schedule slot types it: the union of the built-in kinds does not name this one. */
  readonly config: ScheduleConfig;
  constructor(private readonly laplace: LaplaceScheduleConfig) {
    super();
    this.config = laplace as unknown as ScheduleConfig;
  }
  private logSnrAt(t: number): number {
    const { mu, b } = this.laplace;
    return mu - b * Math.sign(0.5 - t) * Math.log(1 - 2 * Math.abs(t - 0.5));
  }
  protected alphaBarAt(t: number): number {
    return 1 / (1 + Math.exp(-this.logSnrAt(t)));
  }
  protected oneMinusAlphaBarAt(t: number): number {
    return 1 / (1 + Math.exp(this.logSnrAt(t)));
  }
}

/** Define the 'laplace' schedule kind (again: a kind defined at run time may be redefined, as a rerun cell does). */
export function defineLaplace(): void {
  defineKind('schedule', 'laplace', {
    defaults: { mu: 0, b: 0.5 },
    validate: (c: LaplaceScheduleConfig, field: string) => {
      if (typeof c.mu !== 'number' || !Number.isFinite(c.mu)) throw new ConfigError(`${field}.mu`, c.mu, 'a finite number');
      check.positive(`${field}.b`, c.b);
    },
    build: (c: LaplaceScheduleConfig) => new LaplaceSchedule(c),
    doc: 'Laplace in logSnr (Hang et al. 2024)',
  });
}
