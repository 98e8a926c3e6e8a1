/**
 * Diffusion mode of Transfusion's inference (Zhou et al. 2024, §3, generation): after BOI, N noise patches are
 * appended and denoised in the sampler's steps, each step overwriting the noisy image in the sequence.
 *
 * The context before the image does not change while the image forms, so with a cache it is computed once
 * ('append' over the prefix) and every denoising step runs only the N image positions ('read': they attend to
 * the cached prefix and bidirectionally to themselves, as the mask allows). Classifier-free guidance (Ho &
 * Salimans 2022) runs the unconditional context, the dropped caption `[BOS] [BOI]` exactly as the sequence
 * builder lays out a caption-dropout document (src/data/sequence.ts, pairDocument), as extra rows of the same
 * batch, left-padded to the conditional rows' length (rows.ts says why padding changes nothing).
 */
import { tf } from '../engine/tf';
import type { Rng } from '../engine/random';
import { ConfigError, ShapeError } from '../config';
import { byteTokenizer, type Tokenizer } from '../data/tokenizer';
import type { TransfusionNet } from '../model/network';
import type { Sampler } from '../schedules/sampler';
import type { PredictionKind } from '../schedules/targets';
import { cfgCombine } from '../schedules/guidance';
import { layoutRows, windowInput, type ContextRow } from './rows';

/** Every intermediate state of a denoising run, for plotting the image as it forms. */
export interface Trajectory {
  /** The sampler's times, noisiest first and ending at 0: steps + 1 values. */
  readonly t: number[];
  /** x at each of those times (steps + 1 tensors): the starting noise first, the result last. */
  readonly xt: tf.Tensor[];
  /** The clean image each step's prediction implies (steps tensors; predX0[k] is predicted at t[k]). */
  readonly predX0: tf.Tensor[];
}

export interface DenoiseOptions {
  /** Built on the schedule the model was trained with (makeSampler(config, model.objective.schedule)). */
  readonly sampler: Sampler;
  /** What the network's decoder predicts (the model's `objective.prediction`). */
  readonly prediction: PredictionKind;
  /** null: the conditional prediction alone; a number: the classifier-free guidance scale (1 reproduces null). */
  readonly guidance: number | null;
  /** Compute the context once into a KV cache (true) or rerun the whole sequence at every step (false). */
  readonly cache: boolean;
  /** Keep every x_t and predicted x0. */
  readonly trajectory: boolean;
  /** Fresh noise of stochastic samplers (DDPM, DDIM with eta > 0). */
  readonly rng: Rng;
  /** Ids of BOS, BOI and PAD (default the byte tokenizer's). */
  readonly tokenizer?: Pick<Tokenizer, 'bos' | 'boi' | 'pad'>;
  /** The call named in errors (default 'denoiseImages'; textToImage and generate pass their own names). */
  readonly caller?: string;
}

/** Generation went non-finite: says at which step, and whether the network or the sampler produced it. */
export class NonFiniteOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteOutputError';
  }
}

/** A scalar that is 0 when every value of `x` is finite and NaN otherwise (Inf * 0 and NaN * 0 are NaN). */
export function finiteProbe(x: tf.Tensor): tf.Tensor {
  return x.mul(0).sum();
}

export interface DenoiseResult {
  /** [R, H, W, C] the clean latents, one per context row (owned by the caller). */
  readonly latents: tf.Tensor;
  /** With `trajectory`: states batched like `latents`, [R, H, W, C] each (owned by the caller). */
  readonly trajectory: Trajectory | null;
}

/**
 * Denoise one image after each of R context rows (each ending with BOI) as one batch, from `noise`
 * [R, H, W, C], the sample at the sampler's first time (not disposed here).
 */
export function denoiseImages(net: TransfusionNet, rows: readonly ContextRow[], noise: tf.Tensor, options: DenoiseOptions): DenoiseResult {
  const tok = options.tokenizer ?? byteTokenizer;
  const R = rows.length;
  const { height: H, width: W, channels: C } = net.config.latent;
  if (!tf.util.arraysEqual(noise.shape, [R, H, W, C])) throw new ShapeError('noise', `[${R}, ${H}, ${W}, ${C}] (one latent per context row)`, noise.shape);
  rows.forEach((r, b) => {
    if (r.tokens[r.tokens.length - 1] !== tok.boi) throw new ConfigError(`rows[${b}].tokens`, r.tokens.slice(-4), `ids ending with BOI (${tok.boi}): an image follows BOI`);
  });
  const { guidance, sampler } = options;
  const caller = options.caller ?? 'denoiseImages';
  if (!Number.isFinite(tf.tidy(() => finiteProbe(noise).dataSync()[0]))) throw new ConfigError(`${caller}: noise`, 'a tensor holding NaN or Inf', 'finite starting noise');
  const unconditional: ContextRow = { tokens: [tok.bos, tok.boi], images: [] };
  const all = guidance === null ? rows : [...rows, ...rows.map(() => unconditional)];
  const layout = layoutRows(all, net.patchesPerImage, tok.pad, true);
  if (layout.length > net.config.maxPositions) {
    throw new ConfigError('rows', `${layout.length} positions with the image`, `at most net.maxPositions (${net.config.maxPositions})`);
  }
  const P = layout.freshStart as number;
  const times = sampler.timesteps();
  const trajectory: Trajectory | null = options.trajectory ? { t: times, xt: [noise.clone()], predX0: [] } : null;
  const cache = options.cache ? net.transformer.newCache() : null;
  let x = noise;
  // Every step runs the same layouts, so one attention mask serves them all (built at the first step).
  const shared: { mask: tf.Tensor | null } = { mask: null };
  try {
    if (cache) {
      // The prefix's keys and values, kept by the cache past this tidy; its hidden states are not needed.
      tf.tidy(() => {
        net.forward(windowInput(layout, 0, null, P), { cache: { store: cache, mode: 'append' }, queryStart: 0 });
      });
    }
    for (let k = 0; k + 1 < times.length; k++) {
      const [t, tPrev] = [times[k], times[k + 1]];
      const step = tf.tidy((): { prev: tf.Tensor; predX0: tf.Tensor; probes: tf.Tensor } => {
        const input = windowInput(layout, cache ? P : 0, { latents: guidance === null ? x : tf.concat([x, x], 0), t });
        shared.mask ??= tf.keep(net.attentionMask(input.layouts, cache ? P : 0));
        const out = net.forward(input, cache ? { cache: { store: cache, mode: 'read' }, queryStart: P, mask: shared.mask } : { mask: shared.mask });
        // The fresh images are the first slots (windowInput), so their predictions are the first rows.
        const fresh = (out.prediction as tf.Tensor).slice(0, all.length);
        const prediction = guidance === null ? fresh : cfgCombine(fresh.slice(0, R), fresh.slice(R, R), guidance);
        const { prev, predX0 } = sampler.step({ prediction, kind: options.prediction, xt: x, t, tPrev, rng: options.rng });
        return { prev, predX0, probes: tf.stack([finiteProbe(prediction), finiteProbe(prev)]) };
      });
      if (x !== noise) x.dispose();
      x = step.prev;
      const [predictionProbe, prevProbe] = step.probes.dataSync();
      step.probes.dispose();
      if (!Number.isFinite(predictionProbe) || !Number.isFinite(prevProbe)) {
        step.predX0.dispose();
        const where = `at denoising step ${k + 1} of ${times.length - 1} (t = ${t.toFixed(4)} -> ${tPrev.toFixed(4)})`;
        throw new NonFiniteOutputError(Number.isFinite(predictionProbe)
          ? `${caller}: the sampler (${sampler.config.kind}) produced non-finite values ${where} from a finite network prediction; ` +
            `lower the guidance scale (now ${guidance ?? 1}) or clip the predicted x0 (sampler clipX0)`
          : `${caller}: the network's prediction is non-finite ${where}, on finite inputs; its weights are likely non-finite ` +
            '(a diverged or hand-edited model: a checkpoint with such weights is refused when loaded)');
      }
      if (trajectory) {
        trajectory.xt.push(x.clone());
        trajectory.predX0.push(step.predX0);
      } else {
        step.predX0.dispose();
      }
    }
  } catch (error) {
    if (x !== noise) x.dispose();
    if (trajectory) tf.dispose([...trajectory.xt, ...trajectory.predX0]);
    throw error;
  } finally {
    cache?.dispose();
    shared.mask?.dispose();
  }
  return { latents: x === noise ? x.clone() : x, trajectory };
}
