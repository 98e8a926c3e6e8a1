/**
 * The training loop: gradient accumulation, global-norm clipping, AdamW with a learning-rate schedule,
 * optional EMA, a report per step to callbacks, and two ways to stop cleanly at a step boundary:
 * a kernel interrupt (src/engine/interrupt.ts) or `stop()`.
 *
 * The loop awaits the event loop between steps so a notebook stays responsive and an interrupt lands
 * between two updates: weights, optimiser state and history are always those of a finished step.
 * A non-finite loss or gradient is never applied; training stops with NonFiniteLossError naming the step,
 * the loss breakdown and the likely cause, and the weights stay those of the last good step.
 */
import { tf } from '../engine/tf';
import { fusedOn, fusedSumSquares } from '../engine/fused';
import { check, ConfigError, mergeConfig, ShapeError, type DeepPartial } from '../config';
import { interruptRequested } from '../engine/interrupt';
import { AdamW, DEFAULT_ADAMW, type AdamWConfig } from './adamw';
import { Ema } from './ema';
import { DEFAULT_LR_SCHEDULE, learningRate, validateLrSchedule, type LrScheduleConfig } from './lr-schedule';

export interface TrainConfig {
  /** Optimiser settings (paper §4.1 defaults). */
  readonly optimizer: AdamWConfig;
  /** Warmup then cosine decay by default; `totalSteps` should match the run length. */
  readonly lrSchedule: LrScheduleConfig;
  /** Clip the global gradient norm to this value (paper: 1.0); 0 turns clipping off. */
  readonly gradClip: number;
  /** Micro-batches summed into one update (effective batch = batch * this). */
  readonly gradAccumulation: number;
  /** EMA decay of the weights, or 0 for no EMA (0.999 is common at toy scale; ADM uses 0.9999). */
  readonly emaDecay: number;
  /**
   * Ramp the EMA decay up as min(emaDecay, (1 + step) / (10 + step)) (default true; src/train/ema.ts says why):
   * without it a short run's average is mostly its random initialisation.
   */
  readonly emaWarmup: boolean;
}

export const DEFAULT_TRAIN: TrainConfig = {
  optimizer: DEFAULT_ADAMW,
  lrSchedule: DEFAULT_LR_SCHEDULE,
  gradClip: 1.0,
  gradAccumulation: 1,
  emaDecay: 0,
  emaWarmup: true,
};

export function makeTrainConfig(overrides?: DeepPartial<TrainConfig>): TrainConfig {
  const c = mergeConfig(DEFAULT_TRAIN, overrides, 'train');
  validateLrSchedule(c.lrSchedule, 'train.lrSchedule');
  check.nonNegative('train.gradClip', c.gradClip);
  check.size('train.gradAccumulation', c.gradAccumulation, 'batch');
  if (!(c.emaDecay === 0 || (c.emaDecay > 0 && c.emaDecay < 1))) throw new ConfigError('train.emaDecay', c.emaDecay, '0 (off) or a number in (0, 1)');
  check.oneOf('train.emaWarmup', c.emaWarmup, [true, false]);
  return c;
}

/** What a loss function hands the trainer for one micro-batch. */
export interface LossOutput {
  readonly total: tf.Scalar;
  /** Named parts of the loss (e.g. lm, diffusion); reported per step. */
  readonly breakdown: Readonly<Record<string, tf.Scalar>>;
  /** Positions processed, for tokens/s (optional). */
  readonly tokens?: number;
}

/** `micro` counts micro-batches within the step (0 .. gradAccumulation-1). */
export type LossFn = (step: number, micro: number) => LossOutput;

export interface StepReport {
  readonly step: number;
  readonly loss: number;
  readonly breakdown: Readonly<Record<string, number>>;
  readonly lr: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  readonly stepMs: number;
  readonly tokensPerSec: number;
}

export interface Parameterised {
  namedParameters(): [string, tf.Variable][];
}

export class NonFiniteLossError extends Error {
  constructor(readonly report: StepReport, readonly likelyCause: string) {
    super(
      `non-finite ${Number.isFinite(report.loss) ? 'gradient' : 'loss'} at step ${report.step}: loss=${report.loss}, ` +
        `breakdown=${JSON.stringify(report.breakdown)}, gradNorm=${report.gradNorm}. Likely cause: ${likelyCause}. ` +
        'The weights are those of the last good step.',
    );
    this.name = 'NonFiniteLossError';
  }
}

export interface RunOptions {
  /** Number of optimiser steps to run in this call (training can be continued by calling run again). */
  readonly steps: number;
  readonly onStep?: (report: StepReport) => void;
  /** Polled between steps in addition to the kernel interrupt. */
  readonly shouldStop?: () => boolean;
}

export interface RunResult {
  readonly stoppedBy: 'done' | 'interrupt' | 'stop';
  readonly stepsRun: number;
}

function likelyCause(report: StepReport, lr: number): string {
  const bad = Object.entries(report.breakdown).filter(([, v]) => !Number.isFinite(v)).map(([k]) => k);
  if (bad.length) return `the ${bad.join(' and ')} term overflowed; lower the learning rate (now ${lr.toExponential(2)}) or its coefficient, and check the inputs of that term for NaN`;
  return `gradients exploded; lower the learning rate (now ${lr.toExponential(2)}) or enable gradient clipping (train.gradClip)`;
}

/**
 * Free what the gradient tape saved for a backward pass that will not run. tfjs keeps a copy of every tensor a
 * gradient needs and frees them only at the end of the backward pass, so a forward that throws would leak them.
 */
function releaseTape(): void {
  const state = (tf.engine() as unknown as { state: { activeTape: Array<{ saved?: tf.Tensor[] }> | null } }).state;
  for (const node of state.activeTape ?? []) tf.dispose(node.saved ?? []);
  state.activeTape = [];
}

export class Trainer {
  readonly optimizer: AdamW;
  readonly ema: Ema | null;
  readonly history: StepReport[] = [];
  /** Optimiser steps completed. */
  step = 0;
  private stopRequested = false;

  constructor(readonly model: Parameterised, readonly config: TrainConfig = DEFAULT_TRAIN) {
    this.optimizer = new AdamW(config.optimizer);
    this.ema = config.emaDecay > 0 ? new Ema(model.namedParameters(), config.emaDecay, config.emaWarmup) : null;
  }

  /** Ask the loop to stop after the current step. */
  stop(): void {
    this.stopRequested = true;
  }

  /**
   * Run one optimiser step (accumulating micro-batches); throws NonFiniteLossError without updating on NaN/Inf.
   * A step that throws, for whatever reason, leaves no tensor of its own behind.
   */
  trainStep(lossFn: LossFn): StepReport {
    const params = this.model.namedParameters().filter(([, v]) => v.trainable);
    const byId = new Map(params.map(([n, v]) => [v.name, n] as const));
    const vars = params.map(([, v]) => v);
    const started = performance.now();
    const accum: Record<string, tf.Tensor> = {};
    const kept: Record<string, tf.Scalar> = {};
    try {
      const breakdown: Record<string, number> = {};
      let loss = 0;
      let tokens = 0;
      const n = this.config.gradAccumulation;
      for (let micro = 0; micro < n; micro++) {
        const { value, grads } = tf.variableGrads(() => {
          try {
            const out = lossFn(this.step, micro);
            for (const [k, t] of Object.entries(out.breakdown)) kept[k] = tf.keep(t);
            tokens += out.tokens ?? 0;
            // Thrown here, inside the forward's scope, so its tensors are freed (tfjs's own check comes too late).
            if (out.total.rank !== 0) throw new ShapeError('lossFn total', '[] (a scalar)', out.total.shape);
            return out.total;
          } catch (e) {
            releaseTape();
            throw e;
          }
        }, vars);
        loss += value.dataSync()[0] / n;
        value.dispose();
        for (const [k, t] of Object.entries(kept)) {
          breakdown[k] = (breakdown[k] ?? 0) + t.dataSync()[0] / n;
          t.dispose();
          delete kept[k];
        }
        for (const [id, g] of Object.entries(grads)) {
          const name = byId.get(id)!;
          const scaled = n === 1 ? g : tf.tidy(() => g.div(n));
          if (scaled !== g) g.dispose();
          const prev = accum[name];
          accum[name] = prev ? tf.tidy(() => prev.add(scaled)) : scaled;
          if (prev) {
            prev.dispose();
            scaled.dispose();
          }
        }
      }
      const grads = Object.values(accum);
      // One native call over every gradient where nativecpu runs (src/engine/fused.ts); two kernels a tensor otherwise.
      const gradNorm = fusedOn() && grads.every((g) => g.dtype === 'float32')
        ? Math.sqrt(fusedSumSquares(grads))
        : tf.tidy(() => tf.addN(grads.map((g) => g.square().sum())).sqrt().dataSync()[0]);
      const lr = learningRate(this.config.lrSchedule, this.config.optimizer.lr, this.step);
      const stepMs = performance.now() - started;
      const report: StepReport = { step: this.step, loss, breakdown, lr, gradNorm, stepMs, tokensPerSec: tokens ? (tokens * 1000) / stepMs : 0 };
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) throw new NonFiniteLossError(report, likelyCause(report, lr));
      const clip = this.config.gradClip;
      // Global-norm clipping (Pascanu et al. 2013): one scale for every gradient keeps the update's direction.
      // The optimiser applies it as it reads each gradient.
      const scale = clip > 0 && gradNorm > clip ? clip / (gradNorm + 1e-6) : 1;
      this.optimizer.apply(params, accum, lr, scale);
      this.ema?.update(params, this.step);
      const done: StepReport = { ...report, stepMs: performance.now() - started, tokensPerSec: tokens ? (tokens * 1000) / (performance.now() - started) : 0 };
      this.history.push(done);
      this.step += 1;
      return done;
    } finally {
      // Gradients of earlier micro-batches and the breakdown of the one that failed would otherwise outlive it.
      tf.dispose(Object.values(accum));
      tf.dispose(Object.values(kept));
    }
  }

  /**
   * Train for `steps` steps, yielding to the event loop between steps. Stops early, at a step boundary, on a
   * kernel interrupt, on `stop()`, or when `shouldStop()` turns true.
   */
  async run(lossFn: LossFn, options: RunOptions): Promise<RunResult> {
    check.nonNegativeInt('run.steps', options.steps);
    this.stopRequested = false;
    for (let i = 0; i < options.steps; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (interruptRequested()) return { stoppedBy: 'interrupt', stepsRun: i };
      if (this.stopRequested || options.shouldStop?.()) return { stoppedBy: 'stop', stepsRun: i };
      const report = this.trainStep(lossFn);
      options.onStep?.(report);
    }
    return { stoppedBy: 'done', stepsRun: options.steps };
  }

  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}
