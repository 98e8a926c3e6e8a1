/**
 * A cheap look at a model while it trains: text-to-image accuracy on a few generated digits and caption accuracy
 * on a few held-out digits, the two numbers a speedrun watches for its time-to-threshold (scripts/speedrun.ts).
 * It scores the same way `evaluate` does (the reference classifier on generated images, `captionDigit` on greedy
 * captions), adds the digit readout (readout.ts: whether the image is read yet, before greedy captions show it),
 * on fewer samples and sampler steps, and skips FID, perplexity and the held-out diffusion loss,
 * so a probe costs seconds where the full evaluation costs tens of them. The final word is always `evaluate`'s.
 */
import { tf } from '../engine/tf';
import { Rng } from '../engine/random';
import { check, mergeConfig, type DeepPartial } from '../config';
import { canonicalCaption } from '../data/mnist';
import type { Transfusion } from '../model/transfusion';
import { caption, textToImage } from '../generate/batch';
import { mnistHeldoutDigits } from './classifier-train';
import { captionAccuracy } from './caption-digit';
import { digitBatch } from './digits';
import { scoringOptions, type DigitScorer } from './evaluate';
import { digitReadout } from './readout';

export interface ProbeConfig {
  /** Images generated per digit (default 5: 50 images, a standard error of about 0.04 near 0.9). */
  readonly n: number;
  /** Sampler steps (default 25: at the probe's sample size the score does not move between 25 and 50 DDIM steps). */
  readonly steps: number;
  /** Sampler kind, as EvalConfig's (default null: DDIM). */
  readonly sampler: string | null;
  /** Guidance scale (default 3, evaluate's). */
  readonly guidance: number;
  /** Held-out digits captioned (default 100). */
  readonly heldout: number;
  /** Seed of the generation noise: the same every probe, so successive probes differ only by the weights. */
  readonly seed: number;
}

export const DEFAULT_PROBE: ProbeConfig = { n: 5, steps: 25, sampler: null, guidance: 3, heldout: 100, seed: 0 };

export interface ProbeRow {
  readonly t2i_accuracy: number;
  readonly caption_accuracy: number;
  /**
   * Digit readout on 200 held-out digits (src/eval/readout.ts): how often the true digit is the likeliest of the
   * ten after "the digit ", teacher-forced. It rises before greedy captions do.
   */
  readonly digit_readout: number;
  /** The first few captions as generated, to read what the model says when it is wrong. */
  readonly captions: readonly string[];
  readonly seconds: number;
}

/**
 * Score `model` in seconds: text-to-image accuracy on `n` generated images per digit (`steps` DDIM steps, guidance)
 * and caption accuracy on `heldout` held-out digits, scored as `evaluate` scores them, without FID, perplexity or
 * the held-out diffusion loss. The model is put in eval mode and left there.
 */
export function probe(model: Transfusion, scorer: DigitScorer, overrides: DeepPartial<ProbeConfig> = {}): ProbeRow {
  const c = mergeConfig(DEFAULT_PROBE, overrides, 'probe');
  check.positiveInt('probe.n', c.n);
  check.positiveInt('probe.steps', c.steps);
  check.positiveInt('probe.heldout', c.heldout);
  const started = performance.now();
  model.eval();
  const rng = new Rng(`probe/${c.seed}`);
  const options = scoringOptions(c.steps, c.guidance, {}, c.sampler);
  const labels = Int32Array.from({ length: 10 * c.n }, (_, i) => i % 10);
  const images = textToImage(model, Array.from(labels, canonicalCaption), options, { rng: rng.fork('t2i') });
  const predicted = tf.tidy(() => scorer.predict(images.clipByValue(-1, 1)));
  images.dispose();
  const t2i = predicted.reduce((n, p, i) => n + (p === labels[i] ? 1 : 0), 0) / labels.length;

  const heldout = mnistHeldoutDigits();
  const m = Math.min(c.heldout, heldout.length);
  const digits = digitBatch(heldout, Int32Array.from({ length: m }, (_, k) => k));
  const captions = caption(model, digits, options, { rng: rng.fork('caption') });
  digits.dispose();
  return {
    t2i_accuracy: t2i,
    caption_accuracy: captionAccuracy(captions, heldout.labels.subarray(0, m)),
    digit_readout: digitReadout(model, 200).accuracy,
    captions: captions.slice(0, 5),
    seconds: (performance.now() - started) / 1000,
  };
}
