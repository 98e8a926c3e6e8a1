/**
 * The Transfusion objective (Zhou et al. 2024, §3.3, eq. 4): L = L_LM + lambda * L_DDPM over one batch.
 *
 * L_LM: next-token cross-entropy, averaged over text tokens (none where the input is BOI or inside an image;
 * the batch's `targets` mark them -1). L_DDPM: each image gets its own time t and noise, the network predicts
 * the chosen target from x_t, and the per-image mean squared error is weighted by w(t) and averaged over images.
 * Noise limiting (§4.3, Tab 8): images placed before their caption get t <= noiseLimitTMax.
 *
 * The objective takes the network as an argument; the network never sees the schedule
 * (docs/ARCHITECTURE.md, 'The network and the noise process').
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ShapeError } from '../config';
import '../schedules/kinds';
import { buildSchedule, type Schedule } from '../schedules/schedule';
import { buildTimestepSampler, type TimestepSampler } from '../schedules/timestep-sampler';
import { coefficients, addNoise } from '../schedules/forward';
import { makeTarget } from '../schedules/targets';
import { buildWeighting, type Weighting } from '../schedules/weighting';
import type { MixedBatch } from '../data/sequence';
import type { LossOutput } from '../train/trainer';
import type { ObjectiveConfig } from './config';
import type { TransfusionNet } from './network';

/** Mean next-token cross-entropy of logits [M, V] against int targets [M]. */
export function crossEntropy(logits: tf.Tensor, targets: Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(tf.tensor1d(targets, 'int32'), logits.shape[1]!);
    return logp.mul(onehot).sum(1).mean().neg() as tf.Scalar;
  });
}

/** Stack a batch's images (HWC Float32Arrays) into [S, H, W, C], checking each against the network's latent grid. */
export function stackLatents(batch: Pick<MixedBatch, 'slots' | 'images'>, latent: { channels: number; height: number; width: number }): tf.Tensor {
  const { channels: C, height: H, width: W } = latent;
  const size = H * W * C;
  const data = new Float32Array(batch.slots.length * size);
  batch.slots.forEach((s, k) => {
    const img = batch.images[s.source];
    if (!img || img.length !== size) {
      throw new ShapeError(`batch.images[${s.source}] (slot ${k})`, `${size} values = latent ${H}x${W}x${C} (encode pixels with the autoencoder first)`, [img?.length ?? 0]);
    }
    data.set(img, k * size);
  });
  return tf.tensor4d(data, [batch.slots.length, H, W, C]);
}

export class TransfusionObjective {
  readonly schedule: Schedule;
  readonly timesteps: TimestepSampler;
  readonly weighting: Weighting;

  /** `config` is resolved (checked) already, by validateConfig (src/model/config.ts): its blocks are only built here. */
  constructor(readonly config: ObjectiveConfig) {
    this.schedule = buildSchedule(config.schedule, 'objective.schedule');
    this.timesteps = buildTimestepSampler(config.timesteps, 'objective.timesteps');
    this.weighting = buildWeighting(config.weighting, 'objective.weighting');
  }

  /** [S] training times: one per image, capped for image-first pairs when noise limiting is on. */
  sampleTimes(slots: ReadonlyArray<{ readonly imageFirst: boolean }>, rng: Rng): Float64Array {
    const t = this.timesteps.sample(slots.length, rng);
    if (this.config.noiseLimit) {
      const capped = slots.map((s) => s.imageFirst);
      if (capped.some(Boolean)) {
        const limited = this.timesteps.sample(slots.length, rng, { tMax: this.config.noiseLimitTMax });
        capped.forEach((c, k) => c && (t[k] = limited[k]));
      }
    }
    return t;
  }

  /**
   * One batch's loss. `batch.images` must hold latents on the network's grid. Returns
   * `{ total, breakdown: { lm, diffusion }, tokens }` with total = lm + lambda * diffusion.
   */
  loss(net: TransfusionNet, batch: MixedBatch, rng: Rng = globalRng()): LossOutput {
    const t = this.sampleTimes(batch.slots, rng);
    const S = batch.slots.length;
    const noise = S > 0 ? rng.randomNormal([S, net.config.latent.height, net.config.latent.width, net.config.latent.channels]) : null;
    try {
      return this.lossAt(net, batch, t, noise);
    } finally {
      noise?.dispose();
    }
  }

  /**
   * The loss at given times t [S] and noise [S, H, W, C] (null when the batch has no image): what `loss` computes
   * after its draws, so another implementation can be held to the same numbers on the same draws.
   */
  lossAt(net: TransfusionNet, batch: MixedBatch, t: ArrayLike<number>, noise: tf.Tensor | null): LossOutput {
    const S = batch.slots.length;
    if (t.length !== S) throw new ShapeError('t', `[S] = [${S}]`, [t.length]);
    const weights = Float32Array.from(t, (u) => this.weighting.weight(u, this.schedule, this.config.prediction));
    const lmRows: number[] = [];
    const lmTargets: number[] = [];
    batch.targets.forEach((y, i) => {
      if (y >= 0) {
        lmRows.push(i);
        lmTargets.push(y);
      }
    });
    return tf.tidy(() => {
      let latents: tf.Tensor | null = null;
      let target: tf.Tensor | null = null;
      let tT: tf.Tensor | null = null;
      if (S > 0) {
        const x0 = stackLatents(batch, net.config.latent);
        if (!noise || noise.shape.some((d, i) => d !== x0.shape[i]) || noise.rank !== x0.rank) {
          throw new ShapeError('noise', `[S, H, W, C] = [${x0.shape.join(', ')}]`, noise?.shape ?? []);
        }
        const c = coefficients(this.schedule, t, 4);
        latents = addNoise(x0, noise, c.alpha, c.sigma);
        target = makeTarget(this.config.prediction, x0, noise, c.alpha, c.sigma, { dAlpha: c.dAlpha, dSigma: c.dSigma });
        tT = tf.tensor1d(Float32Array.from(t), 'float32');
      }
      const out = net.forward({ ...batch, latents, t: tT });
      const lm = lmRows.length ? crossEntropy(net.logitsAt(out.hidden, Int32Array.from(lmRows)), Int32Array.from(lmTargets)) : tf.scalar(0);
      let diffusion: tf.Scalar = tf.scalar(0);
      if (out.prediction && target) {
        const perImage = out.prediction.sub(target).square().mean([1, 2, 3]);
        diffusion = perImage.mul(tf.tensor1d(weights)).mean() as tf.Scalar;
      }
      const total = lm.add(diffusion.mul(this.config.lambda)) as tf.Scalar;
      return { total, breakdown: { lm, diffusion }, tokens: batch.batchSize * batch.length };
    });
  }
}
