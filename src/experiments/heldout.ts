/**
 * Held-out losses for the arms of an ablation, and the scorer the research notebooks (02, 04, 05, 06) hand to
 * `sweep` / `trainRun`. The logged training losses cannot rank arms: the diffusion loss is weighted by w(t) (min-SNR
 * changes the weights), drawn at the arm's own timesteps and capped by noise limiting, and the total contains
 * lambda. `heldoutLosses` scores every arm the same way instead:
 *
 * - the same held-out documents for every arm (the first `batches x batchSize` held-out digits, in order, with
 *   captions, orders and caption dropout drawn from one seeded stream, as training pairs them after any
 *   curriculum: `withoutCurriculum`, src/data/sequence.ts);
 * - the same times (t uniform in (0, 1]) and the same noise for every arm, drawn per batch from seeded streams;
 * - the diffusion MSE unweighted (constant weighting), without noise limiting, in the arm's own prediction space.
 *
 * So `heldout_lm` compares across every Transfusion arm, and `heldout_diffusion` across arms that share a
 * schedule and a prediction target (an epsilon MSE and a velocity MSE measure different things; src/eval's
 * `diffusion_mse` compares across those, at fixed log-SNR, in epsilon units).
 */
import { tf } from '../engine/tf';
import { Rng } from '../engine/random';
import { ConfigError, check, mergeConfig, type DeepPartial } from '../config';
import { DataLoader } from '../data/loader';
import { MnistDataset } from '../data/mnist';
import { withoutCurriculum } from '../data/sequence';
import { TransfusionObjective } from '../model/objective';
import type { Transfusion } from '../model/transfusion';
import { evaluate, type DigitScorer, type EvalConfig, type EvalInputs, type EvalModel } from '../eval/evaluate';
import { mnistHeldoutDigits } from '../eval/classifier-train';
import { captionDigit } from '../eval/caption-digit';
import { digitBatch } from '../eval/digits';
import type { EvaluateFn } from './train-run';

export interface HeldoutLossConfig {
  /** Held-out batches scored (default 8). */
  readonly batches: number;
  /** Documents per batch (default 16). */
  readonly batchSize: number;
  /** Seed of the documents' captions and orders, the times and the noise (default 0): keep it equal across arms. */
  readonly seed: number;
}

export const DEFAULT_HELDOUT_LOSS: HeldoutLossConfig = { batches: 8, batchSize: 16, seed: 0 };

/** One arm's held-out losses (snake_case, as an evaluation row has them). */
export interface HeldoutLosses {
  /** LM cross-entropy per caption token (nats), training's mix of caption-first and image-first documents. */
  readonly heldout_lm: number;
  /** Unweighted MSE of the model's own prediction target at t ~ U(0, 1], no noise limiting. */
  readonly heldout_diffusion: number;
}

/**
 * Mean held-out LM and diffusion loss of `model` (see the file comment), in eval mode (dropout off; the mode is
 * restored after). Documents are 16 x 16 MNIST digits on the model's latent grid, as the `mnist` presets train.
 */
export function heldoutLosses(model: Transfusion, overrides?: DeepPartial<HeldoutLossConfig>): HeldoutLosses {
  const config = mergeConfig(DEFAULT_HELDOUT_LOSS, overrides, 'heldoutLosses');
  check.positiveInt('heldoutLosses.batches', config.batches);
  check.positiveInt('heldoutLosses.batchSize', config.batchSize);
  check.nonNegativeInt('heldoutLosses.seed', config.seed);
  const { channels, height } = model.config.net.latent;
  const dataset = new MnistDataset({ split: 'heldout', size: height, channels: channels === 3 ? 3 : 1 });
  const documents = config.batches * config.batchSize;
  if (documents > dataset.length) {
    throw new ConfigError('heldoutLosses.batches', config.batches, `at most ${Math.floor(dataset.length / config.batchSize)} batches of ${config.batchSize} (the ${dataset.length} held-out digits)`);
  }
  // Epoch 0 of a loader follows the training curriculum (the mnist-reading recipe's plain-caption warm-up,
  // src/data/sequence.ts): held-out documents are the usual mix with the drawn captions, as after it.
  const loader = new DataLoader(
    dataset,
    { batchSize: config.batchSize, shuffle: false, dropLast: true, sequence: withoutCurriculum(model.config.sequence) },
    { rng: new Rng(`heldout-losses/${config.seed}/documents`) },
  );
  const probe = new TransfusionObjective({
    ...model.config.objective, timesteps: { kind: 'uniform' }, weighting: { kind: 'constant' }, noiseLimit: false,
  });
  const noise = new Rng(`heldout-losses/${config.seed}/noise`);
  const training = model.net.training;
  model.eval();
  let lm = 0;
  let diffusion = 0;
  try {
    const batches = loader.epoch(0);
    for (let b = 0; b < config.batches; b++) {
      const batch = batches.next().value!;
      const [l, d] = tf.tidy(() => {
        const { breakdown } = probe.loss(model.net, batch, noise.fork(`batch/${b}`));
        return [breakdown.lm.dataSync()[0], breakdown.diffusion.dataSync()[0]];
      });
      lm += l / config.batches;
      diffusion += d / config.batches;
    }
  } finally {
    model.train(training);
  }
  return { heldout_lm: lm, heldout_diffusion: diffusion };
}

export interface ArmScorerOptions {
  /**
   * src/eval's `evaluate` settings (n, steps, sampler, guidance, heldout ...), or a function of the model for a
   * setting that follows the arm (e.g. Euler for a flow schedule). Default: `evaluate`'s defaults.
   */
  readonly evaluation?: DeepPartial<EvalConfig> | ((model: Transfusion) => DeepPartial<EvalConfig>);
  /** `heldoutLosses` settings (default DEFAULT_HELDOUT_LOSS); null leaves the held-out losses out. */
  readonly heldout?: DeepPartial<HeldoutLossConfig> | null;
  /** Further `evaluate` inputs (a classifier loaded once, generation options). */
  readonly inputs?: EvalInputs;
}

/**
 * The scorer of a research notebook's arms: src/eval's `evaluate` row plus `heldoutLosses`, one eval.json row per
 * run. `sweep(base, grid, { name, seeds, evaluate: armScorer({ evaluation: { n: 20 } }) })`.
 */
export function armScorer(options: ArmScorerOptions = {}): EvaluateFn {
  const heldout = options.heldout === undefined ? {} : options.heldout;
  return async (model) => {
    const evaluation = typeof options.evaluation === 'function' ? options.evaluation(model) : options.evaluation;
    const row = await evaluate(model, evaluation ?? {}, options.inputs);
    return heldout === null ? row : { ...row, ...heldoutLosses(model, heldout) };
  };
}

/** Text-to-image accuracy and FID of real digits, through the same scorer as a model's. */
export interface RealDigitScores {
  readonly t2i_accuracy: number;
  readonly fid: number;
}

/**
 * What `evaluate` (src/eval/evaluate.ts) gives when the images for "the digit d" are real held-out digits of class d
 * (cycling through that class), optionally passed through `transform` first (e.g. a VQ tokenizer's round trip):
 * the ceiling a model's text-to-image accuracy and the floor its FID are read against, at the same number of
 * images. `model` only fills evaluate's slot (captioning returns nothing and is not scored here); `transform`'s
 * result is disposed, its input too. `classifier` replaces the reference classifier, as in `evaluate`'s inputs.
 */
export async function realDigitScores(
  model: EvalModel,
  evaluation: DeepPartial<EvalConfig> = {},
  transform?: (images: tf.Tensor4D) => tf.Tensor,
  classifier?: DigitScorer,
): Promise<RealDigitScores> {
  const heldout = mnistHeldoutDigits();
  const byDigit = Array.from({ length: 10 }, () => [] as number[]);
  heldout.labels.forEach((label, i) => byDigit[label].push(i));
  const textToImage = (_model: EvalModel, captions: readonly string[]): tf.Tensor => {
    const counts = new Array<number>(10).fill(0);
    const index = captions.map((c, i) => {
      const d = captionDigit(c);
      if (d === null) throw new ConfigError(`realDigitScores caption ${i}`, c, 'a caption naming one digit');
      return byDigit[d][counts[d]++ % byDigit[d].length];
    });
    const real = digitBatch(heldout, Int32Array.from(index));
    if (!transform) return real;
    try {
      return transform(real);
    } finally {
      real.dispose();
    }
  };
  const caption = (_model: EvalModel, latents: tf.Tensor) => new Array<string>(latents.shape[0]).fill('');
  const row = await evaluate(model, evaluation, { generators: { textToImage, caption }, classifier });
  return { t2i_accuracy: row.t2i_accuracy, fid: row.fid };
}
