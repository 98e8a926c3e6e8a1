/**
 * Named training recipes: complete experiment specs (model preset, optimiser, run length, batch) that a run or
 * sweep starts from, `trainRun({ ...lab.RECIPES['mnist-fast'], name: 'x' })`. A model preset (src/model/config.ts)
 * says what the network and objective are; a recipe adds how long and how hard it trains. `npm run speedrun`
 * measures a recipe's time to quality (README, "Time to quality").
 */
import type { ExperimentSpec } from './experiment-config';

/** The lab's first bounded CPU run (README, "What a bounded CPU run reaches"): the paper-style `mnist` preset, 16 x 3000. */
const MNIST = {
  preset: 'mnist',
  steps: 3000,
  batchSize: 16,
  train: { optimizer: { lr: 1e-3 } },
  data: { kind: 'mnist', size: 16 },
} as const satisfies ExperimentSpec;

/** `mnist-speedrun` (documented in RECIPES below), named so the recipes built on it can start from it. */
const SPEEDRUN = {
  ...MNIST,
  model: { sequence: { plainCaptionEpochs: 'all', imageFirstByEpoch: [1] } },
  steps: 2500,
  batchSize: 32,
  train: { optimizer: { lr: 2e-3 } },
} as const satisfies ExperimentSpec;

/** `mnist-speedrun-snr` (documented in RECIPES below), named so `mnist-speedrun-flow` can start from it. */
const SPEEDRUN_SNR = {
  ...SPEEDRUN,
  model: { ...SPEEDRUN.model, objective: { weighting: { kind: 'min-snr', gamma: 5 }, lambda: 10 } },
} as const satisfies ExperimentSpec;

export const RECIPES = {
  mnist: MNIST,
  /**
   * The `mnist-fast` preset, 32 pairs a step for 2000 steps, with an averaged copy of the weights (EMA 0.999 with
   * warmup, src/train/ema.ts) for sampling and evaluation.
   */
  'mnist-fast': {
    ...MNIST,
    preset: 'mnist-fast',
    steps: 2000,
    batchSize: 32,
    train: { optimizer: { lr: 1e-3 }, emaDecay: 0.999 },
  },
  /**
   * The `mnist` recipe with a reading warm-up (README, "Time to quality", row X): for the first epoch (612 steps)
   * every pair is image-first and captioned in one form, "the digit 7" (`sequence.plainCaptionEpochs`,
   * `plainCaptionImageFirstProb`), then the paper's mix and the six templates. Over seeds 0-3 it captions at
   * 0.39 +- 0.07 against the `mnist` recipe's 0.11 +- 0.08 (paired 95% interval +0.08 to +0.48), with
   * text-to-image 0.66 +- 0.09 against 0.76 +- 0.10 (not distinguishable at 4 seeds).
   */
  'mnist-reading': {
    ...MNIST,
    model: { sequence: { plainCaptionEpochs: 1, plainCaptionImageFirstProb: 1 } },
  },
  /**
   * The lab's time-to-quality recipe (README, "Time to quality", rows Z1-Z4), the `mnist` network trained
   * differently: 32 pairs a step for 2500 steps at lr 2e-3 (1.67x the `mnist` recipe's pairs in 1.2-1.5x its
   * time: a step of 32 costs 1.4-1.8 steps of 16), and a reading warm-up whose image-first pairs keep the plain
   * caption "the digit 7" for the whole run (`plainCaptionEpochs: 'all'`): the first epoch every pair is
   * image-first, then the paper's 80/20 mix. Caption-first pairs, the prompts text-to-image learns from, keep the
   * six templates. The model therefore writes its captions in the one plain form. Over seeds 0-3: text-to-image
   * 0.895 +- 0.029, caption 0.867 +- 0.028, FID 132 +- 20. The research notebooks start from it (`RESEARCH_RECIPE`).
   */
  'mnist-speedrun': SPEEDRUN,
  /**
   * `mnist-speedrun` with the diffusion loss weighted by min-SNR (gamma 5, Hang et al. 2023: each image's epsilon
   * MSE times min(SNR, 5) / SNR, so nearly clean images, whose noise is easy to predict and says little about the
   * digit, weigh less) and lambda 10 instead of 5 (README, "Time to quality", rows Z5-Z7). min-SNR alone frees
   * gradient for the text and captions learn fast, but images learn slower; doubling lambda gives the images back
   * their share, now spent on the noisy timesteps where the caption decides the digit.
   */
  'mnist-speedrun-snr': SPEEDRUN_SNR,
  /**
   * `mnist-speedrun-snr` on rectified flow, Stable Diffusion 3's recipe (Esser et al. 2024): the straight path
   * x_t = (1 - t) x0 + t eps (`schedule: flow`, zero signal at t = 1), the network predicting the velocity
   * eps - x0 (`prediction: flow`), and t drawn logit-normal (m 0, s 1), which puts the training steps in the
   * middle of the path, where the velocity is hardest to predict (Esser et al., Sec. 3.1); and 3000 steps instead
   * of 2500 (README, "Time to quality", rows Z8, Z8' and Z10: at 2500 steps, over seeds 0-2 alone at 2 threads,
   * text-to-image 0.963 +- 0.047, caption 0.925 +- 0.017, FID 130 +- 14 in 7.1 training minutes; at 3000,
   * text-to-image 0.993 +- 0.003, caption 0.923 +- 0.008, FID 113 +- 16 in 8.4 training minutes). Deterministic
   * DDIM on a flow schedule is the Euler step. `npm run speedrun` defaults to it.
   */
  'mnist-speedrun-flow': {
    ...SPEEDRUN_SNR,
    steps: 3000,
    model: {
      ...SPEEDRUN_SNR.model,
      objective: { ...SPEEDRUN_SNR.model.objective, schedule: { kind: 'flow' }, prediction: 'flow', timesteps: { kind: 'logit-normal', m: 0, s: 1 } },
    },
  },
} as const satisfies Record<string, ExperimentSpec>;

export type RecipeName = keyof typeof RECIPES;
