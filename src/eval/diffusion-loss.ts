/**
 * Held-out diffusion loss: the noise-prediction error of the model on held-out caption/image documents at a FIXED
 * grid of noise levels, the diffusion half of a validation loss. The training loss cannot serve as one across the
 * arms of an ablation: it is weighted by w(t) (min-SNR, P2, ...), draws t from the arm's own sampler, and is
 * measured in the arm's own prediction space (eps, x0, v, flow). Here every arm is scored the same way:
 *
 * - the grid is in log-SNR, lambda = log(alpha^2 / sigma^2), and each point is mapped to the model's own time t
 *   by bisection on its schedule, so models with different schedules are compared at the same noise level (at
 *   equal t a cosine and a linear schedule add very different amounts of noise);
 * - whatever the model predicts is converted to epsilon (src/schedules/targets' predictionToX0Eps), and the
 *   error is the unweighted per-pixel mean squared error ||eps_hat - eps||^2 of DDPM's L_simple (paper eq. 3);
 * - the noise is drawn per document and grid point from a seeded stream, so every arm sees the same x_t.
 *
 * Documents are caption-first, as at inference (the image is denoised given its caption), built by the training
 * pipeline itself (src/data) like the held-out perplexity (perplexity.ts). Multiplying an epsilon error at
 * log-SNR lambda by exp(-lambda) gives the x0 error, so the per-point values also answer "how well is x0 known".
 */
import { tf } from '../engine/tf';
import { Rng } from '../engine/random';
import { ConfigError, check, mergeConfig, type DeepPartial } from '../config';
import { stackLatents } from '../model/objective';
import type { Transfusion } from '../model/transfusion';
import type { Schedule } from '../schedules/schedule';
import { addNoise, coefficients } from '../schedules/forward';
import { predictionToX0Eps } from '../schedules/targets';
import { heldOutLoader, type PerplexityInputs } from './perplexity';

export interface DiffusionLossConfig {
  /** Held-out documents scored (default 100; the first n of the held-out split). */
  readonly n: number;
  /**
   * Documents per forward (default 100); the result does not depend on it. 100 rather than 16: the `mnist`
   * network's matrices (width 128) are small for OpenBLAS, and on 200 documents batches of 100 took 4.0 s where
   * batches of 16 took 5.1 s (README, "What the evaluation costs").
   */
  readonly batchSize: number;
  /**
   * The noise levels, as log-SNR values (default -6, -4, ..., 6: from nearly pure noise, SNR 0.0025, to nearly
   * clean, SNR 400). Each must lie strictly inside the model schedule's range of log-SNR.
   */
  readonly logSnr: readonly number[];
  /** Seed of the noise and of the caption phrasings (default 0). */
  readonly seed: number;
}

export const DEFAULT_DIFFUSION_LOSS: DiffusionLossConfig = {
  n: 100,
  batchSize: 100,
  logSnr: [-6, -4, -2, 0, 2, 4, 6],
  seed: 0,
};

/** One grid point: its log-SNR, the model's time for it, and the mean epsilon MSE there. */
export interface DiffusionLossPoint {
  readonly logSnr: number;
  readonly t: number;
  readonly mse: number;
}

export interface DiffusionLossResult {
  /** Mean over the grid of the per-point epsilon MSE: one number per model for a results table. */
  readonly mse: number;
  /** Per grid point, in the order of `config.logSnr`. */
  readonly points: readonly DiffusionLossPoint[];
  /** Documents (images) scored. */
  readonly documents: number;
}

/**
 * The time t in [0, 1] at which `schedule` has log-SNR `target`, by bisection (log-SNR falls monotonically with
 * t in every schedule of src/schedules). Throws a ConfigError naming `field` when the target is out of range.
 */
export function timeAtLogSnr(schedule: Schedule, target: number, field = 'logSnr'): number {
  if (typeof target !== 'number' || !Number.isFinite(target)) throw new ConfigError(field, target, 'a finite log-SNR');
  // The ends can be +-Infinity (flow at t = 0 and 1, zero terminal SNR at t = 1) or NaN (0/0): step inside.
  const eps = 1e-9;
  const hi = schedule.logSnr(eps);
  const lo = schedule.logSnr(1 - eps);
  if (!(target < hi && target > lo)) {
    throw new ConfigError(field, target, `a log-SNR strictly inside the schedule's range (${lo.toFixed(3)}, ${hi.toFixed(3)}), ${schedule.config.kind}`);
  }
  let a = eps;
  let b = 1 - eps;
  for (let i = 0; i < 100 && b - a > 1e-12; i++) {
    const mid = (a + b) / 2;
    if (schedule.logSnr(mid) > target) a = mid;
    else b = mid;
  }
  return (a + b) / 2;
}

function validate(c: DiffusionLossConfig): DiffusionLossConfig {
  check.positiveInt('diffusionLoss.n', c.n);
  check.positiveInt('diffusionLoss.batchSize', c.batchSize);
  check.nonNegativeInt('diffusionLoss.seed', c.seed);
  if (!Array.isArray(c.logSnr) || c.logSnr.length === 0) throw new ConfigError('diffusionLoss.logSnr', c.logSnr, 'a non-empty array of finite log-SNR values');
  return c;
}

/**
 * The held-out epsilon MSE of `model` on the fixed log-SNR grid (see the file comment). The model runs in eval
 * mode (dropout off); its weights are not changed. No tensor outlives the call.
 */
export function heldOutDiffusionLoss(model: Transfusion, overrides: DeepPartial<DiffusionLossConfig> = {}, inputs: PerplexityInputs = {}): DiffusionLossResult {
  const config = validate(mergeConfig(DEFAULT_DIFFUSION_LOSS, overrides, 'diffusionLoss'));
  const schedule = model.objective.schedule;
  const times = config.logSnr.map((l, k) => timeAtLogSnr(schedule, l, `diffusionLoss.logSnr[${k}]`));
  const latent = model.config.net.latent;
  // Caption-first documents, as at inference.
  const loader = heldOutLoader(model, 'diffusionLoss', { n: config.n, batchSize: config.batchSize, order: 'caption-first', rng: new Rng(`diffusion-loss/${config.seed}/captions`) }, inputs);
  const kind = model.config.objective.prediction;
  const sums = new Float64Array(times.length);
  let documents = 0;
  const wasTraining = model.net.training;
  model.net.eval();
  try {
    for (const batch of loader.epoch(0)) {
      const S = batch.slots.length;
      if (S === 0) continue;
      const first = documents;
      // The clean latents once per batch, shared by every grid point.
      const x0 = stackLatents(batch, latent);
      const shape = [1, ...x0.shape.slice(1)];
      try {
        times.forEach((t, k) => {
          const perImage = tf.tidy(() => {
            // A stream per document and grid point, named rather than forked (a fork advances its parent, so the
            // draws would depend on the order of the loop and thus on batchSize).
            const eps = tf.concat(Array.from({ length: S }, (_, j) => new Rng(`diffusion-loss/${config.seed}/noise/${first + j}/${k}`).randomNormal(shape)));
            const c = coefficients(schedule, new Float64Array(S).fill(t), x0.rank);
            const xt = addNoise(x0, eps, c.alpha, c.sigma);
            const out = model.net.forward({ ...batch, latents: xt, t: tf.fill([S], t) });
            if (!out.prediction) throw new ConfigError('diffusionLoss.model', 'no image prediction', 'a model whose network predicts images');
            const epsHat = predictionToX0Eps(kind, out.prediction, xt, c.alpha, c.sigma, { dAlpha: c.dAlpha, dSigma: c.dSigma }).eps;
            return epsHat.sub(eps).square().mean([1, 2, 3]);
          });
          const values = perImage.dataSync();
          perImage.dispose();
          for (const v of values) sums[k] += v;
        });
      } finally {
        x0.dispose();
      }
      documents += S;
    }
  } finally {
    model.net.train(wasTraining);
  }
  if (documents === 0) throw new ConfigError('diffusionLoss.dataset', 'no images', 'documents with an image');
  const points = times.map((t, k) => ({ logSnr: config.logSnr[k], t, mse: sums[k] / documents }));
  return { mse: points.reduce((s, p) => s + p.mse, 0) / points.length, points, documents };
}
