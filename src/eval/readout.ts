/**
 * Digit readout: does the model read the digit off an image yet? Each held-out digit is laid out image-first
 * with the canonical caption ("the digit 7", canonicalCaption), the image clean (t = 0) as at inference, and
 * the model's next-token distribution after "the digit " is compared over the ten digit characters only: the
 * readout is right when the true digit has the highest probability among them.
 *
 * Why next to caption accuracy: a greedy caption must first pick one of the templates and can name the right
 * digit only once reading beats the digit's marginal; for hundreds of steps every caption names the same digit
 * (README, "Time to quality"). The readout is the ranking behind that choice, free of the template, from one
 * teacher-forced forward per document, so it shows reading begin before the greedy captions change, and costs
 * about what perplexity does (1.1 s for 200 digits on the `mnist` preset, 2 threads).
 *
 * Like the probe that reports it, it is for pixel-space models (the `mnist` presets): the held-out digits enter
 * as their pixels.
 */
import { tf } from '../engine/tf';
import { Rng } from '../engine/random';
import { ConfigError } from '../config';
import { MnistDataset } from '../data/mnist';
import { byteTokenizer } from '../data/tokenizer';
import type { Transfusion } from '../model/transfusion';
import { cleanLogitsAt, heldOutLoader } from './perplexity';

export interface ReadoutResult {
  /** Fraction of documents whose true digit ranks first among the ten. */
  readonly accuracy: number;
  /** Mean probability of the true digit, renormalised over the ten digits. */
  readonly probability: number;
  readonly documents: number;
}

/** Byte ids of the characters '0' to '9'. */
const DIGIT_IDS = Array.from({ length: 10 }, (_, d) => byteTokenizer.encode(String(d))[0]);

/** The readout on the first `n` held-out digits (at most the 1,000 there are), `batchSize` documents a forward. */
export function digitReadout(model: Transfusion, n = 200, batchSize = 32): ReadoutResult {
  const { channels, height } = model.config.net.latent;
  const dataset = new MnistDataset({ split: 'heldout', size: height, channels: channels === 3 ? 3 : 1, templates: ['the digit {digit}'] });
  if (!(Number.isInteger(n) && n >= 1 && n <= dataset.length)) throw new ConfigError('readout.n', n, `an integer from 1 to the ${dataset.length} held-out digits`);
  const loader = heldOutLoader(model, 'readout', { n, batchSize, order: 'image-first', rng: new Rng('readout') }, { dataset });
  const digitOf = new Map(DIGIT_IDS.map((id, d) => [id, d]));
  // The one target in each document that is a digit character: the caption's last token, after "the digit ".
  const batches = cleanLogitsAt(model, loader, (y) => digitOf.has(y), (logits, targets) => {
    const probs = tf.softmax(tf.gather(logits, Int32Array.from(DIGIT_IDS), 1)).arraySync() as number[][];
    let right = 0;
    let probability = 0;
    probs.forEach((p, k) => {
      const truth = digitOf.get(targets[k])!;
      right += p.indexOf(Math.max(...p)) === truth ? 1 : 0;
      probability += p[truth];
    });
    return { right, probability, documents: targets.length };
  });
  const right = batches.reduce((a, r) => a + r.right, 0);
  const probability = batches.reduce((a, r) => a + r.probability, 0);
  const documents = batches.reduce((a, r) => a + r.documents, 0);
  if (documents !== n) throw new Error(`digitReadout: found ${documents} digit targets in ${n} documents`);
  return { accuracy: right / documents, probability: probability / documents, documents };
}
