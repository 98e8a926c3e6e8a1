/**
 * Sigmoid schedule (Jabri et al. 2023, RIN; Chen 2023, "On the importance of noise scheduling", Alg. 1):
 * alphaBar(t) = (v(end) - v(t (end - start) + start)) / (v(end) - v(start)) with v(x) = sigmoid(x / tau),
 * clipped to [clipMin, 1]. Defined in continuous time; start/end pick the part of the logistic curve used and
 * tau its steepness (larger tau: closer to linear in alphaBar, more weight on noisy steps).
 */
import { check, ConfigError } from '../config';
import { BUILT_IN, fieldsOf } from '../registry';
import { ScheduleBase, schedules } from './schedule';
import { sigmoid } from './numeric';

declare module './schedule' {
  interface ScheduleKinds {
    sigmoid: SigmoidScheduleConfig;
  }
}

export interface SigmoidScheduleConfig {
  readonly kind: 'sigmoid';
  /** Left end of the logistic curve used. Default -3 (Chen 2023, Alg. 1). */
  readonly start: number;
  /** Right end, > start. Default 3 (Chen 2023, Alg. 1). */
  readonly end: number;
  /** Temperature, > 0. Default 1 (Chen 2023, Alg. 1; the paper tunes it per resolution, e.g. 0.9 to 1.1). */
  readonly tau: number;
  /** Floor on alphaBar, so the terminal SNR is not exactly 0. Default 1e-9 (Chen 2023, Alg. 1). */
  readonly clipMin: number;
}

export const DEFAULT_SIGMOID_SCHEDULE: SigmoidScheduleConfig = { kind: 'sigmoid', start: -3, end: 3, tau: 1, clipMin: 1e-9 };

export function checkSigmoidSchedule(config: SigmoidScheduleConfig, field: string): void {
  const { start, end, tau, clipMin } = config;
  if (typeof start !== 'number' || !Number.isFinite(start)) throw new ConfigError(`${field}.start`, start, 'a finite number');
  if (typeof end !== 'number' || !(Number.isFinite(end) && end > start)) throw new ConfigError(`${field}.end`, end, `a finite number > start (${start})`);
  check.positive(`${field}.tau`, tau);
  if (typeof clipMin !== 'number' || !(clipMin >= 0 && clipMin < 1)) throw new ConfigError(`${field}.clipMin`, clipMin, 'a number in [0, 1)');
}

export class SigmoidSchedule extends ScheduleBase {
  readonly family = 'variance-preserving' as const;
  readonly T = null;
  private readonly vStart: number;
  private readonly vEnd: number;

  /** `config` resolved (checked by `checkSigmoidSchedule`) already, e.g. by `schedules.resolve`. */
  constructor(readonly config: SigmoidScheduleConfig) {
    super();
    const { start, end, tau } = config;
    this.vStart = sigmoid(start / tau);
    this.vEnd = sigmoid(end / tau);
  }

  private v(t: number): number {
    const { start, end, tau } = this.config;
    return sigmoid((t * (end - start) + start) / tau);
  }

  protected alphaBarAt(t: number): number {
    return Math.max(this.config.clipMin, (this.vEnd - this.v(t)) / (this.vEnd - this.vStart));
  }

  protected oneMinusAlphaBarAt(t: number): number {
    return Math.min(1 - this.config.clipMin, (this.v(t) - this.vStart) / (this.vEnd - this.vStart));
  }
}

schedules.define('sigmoid', { defaults: fieldsOf(DEFAULT_SIGMOID_SCHEDULE), validate: checkSigmoidSchedule, build: (c) => new SigmoidSchedule(c), doc: 'Chen 2023, Alg. 1' }, BUILT_IN);
