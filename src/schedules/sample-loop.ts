/**
 * The whole sampling loop, for when nobody needs to unroll it: from x at the first timestep to the clean sample,
 * one network call per step. Each intermediate tensor is disposed as soon as the next exists.
 */
import { tf } from '../engine/tf';
import type { Rng } from '../engine/random';
import type { Sampler } from './sampler';
import type { PredictionKind } from './targets';

export interface SampleStepInfo {
  /** 0-based step number. */
  readonly index: number;
  readonly t: number;
  readonly tPrev: number;
  /** [B, ...] the sample after this step (disposed after the callback returns, so clone what you keep). */
  readonly x: tf.Tensor;
  /** [B, ...] the clean sample predicted at this step (also disposed after the callback). */
  readonly predX0: tf.Tensor;
}

export interface SampleLoopOptions {
  /** What `predict` returns. */
  readonly kind: PredictionKind;
  /** Noise for stochastic samplers; default the global stream. */
  readonly rng?: Rng;
  /** Called after every step, e.g. to plot predX0 as the image forms. */
  readonly onStep?: (info: SampleStepInfo) => void;
}

/**
 * `xStart`: [B, ...] the sample at `sampler.timesteps()[0]`, usually N(0, I) noise (not disposed here);
 * `predict(x, t)`: the network's [B, ...] prediction at time t (wrap classifier-free guidance in it).
 * Returns [B, ...] the sample at t = 0, owned by the caller.
 */
export function runSampler(sampler: Sampler, xStart: tf.Tensor, predict: (x: tf.Tensor, t: number) => tf.Tensor, options: SampleLoopOptions): tf.Tensor {
  const times = sampler.timesteps();
  let x = xStart;
  for (let index = 0; index + 1 < times.length; index++) {
    const [t, tPrev] = [times[index], times[index + 1]];
    const prediction = predict(x, t);
    const { prev, predX0 } = sampler.step({ prediction, kind: options.kind, xt: x, t, tPrev, rng: options.rng });
    prediction.dispose();
    options.onStep?.({ index, t, tPrev, x: prev, predX0 });
    predX0.dispose();
    if (x !== xStart) x.dispose();
    x = prev;
  }
  return x === xStart ? x.clone() : x;
}
