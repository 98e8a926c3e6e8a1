/**
 * One next-token draw from a row of logits: greedy, or temperature, then top-k (Fan et al. 2018), then top-p
 * (nucleus, Holtzman et al. 2020), the order Hugging Face's `generate` applies them in. Plain JavaScript over
 * [V] numbers: a vocabulary of a few hundred ids is cheaper here than a round of tensor ops.
 */
import type { Rng } from '../engine/random';
import type { GenerateOptions } from './options';
import { NonFiniteOutputError } from './denoise';

export type TokenSampling = Pick<GenerateOptions, 'temperature' | 'greedy' | 'topK' | 'topP'>;

/**
 * logits [V] -> a token id. `banned` ids are never returned (e.g. BOI once the image budget is spent). Greedy
 * takes the lowest id among equal maxima and draws nothing from `rng`; sampling draws exactly one uniform.
 * A NaN or +Inf logit throws, naming `where` (the caller and the token): no token can honestly be drawn from
 * it. -Inf is a probability of 0, as long as some allowed id has a finite logit.
 */
export function sampleToken(logits: ArrayLike<number>, options: TokenSampling, rng: Rng, banned: readonly number[] = [], where = 'sampleToken'): number {
  const allowed: number[] = [];
  for (let i = 0; i < logits.length; i++) if (!banned.includes(i)) allowed.push(i);
  if (allowed.length === 0) throw new RangeError(`sampleToken: all ${logits.length} ids are banned`);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < logits.length; i++) {
    if (!(Number.isNaN(logits[i]) || logits[i] === Infinity)) continue;
    if (bad++ === 0) first = i;
  }
  if (bad > 0) {
    throw new NonFiniteOutputError(`${where}: the network's next-token logits hold ${bad} NaN or +Infinity value${bad === 1 ? '' : 's'} of ${logits.length} ` +
      `(first ${logits[first]} at id ${first}); its weights or inputs are likely non-finite (a checkpoint with non-finite weights is refused when loaded)`);
  }
  if (allowed.every((i) => logits[i] === -Infinity)) throw new NonFiniteOutputError(`${where}: every allowed id has logit -Infinity, so no token can be drawn`);
  if (options.greedy) return allowed.reduce((best, i) => (logits[i] > logits[best] ? i : best), allowed[0]);

  // Descending by logit (ties by id) so top-k and top-p keep a prefix; the sort is stable, hence reproducible.
  const order = allowed.sort((a, b) => logits[b] - logits[a] || a - b);
  const kept = options.topK > 0 ? order.slice(0, options.topK) : order;
  const top = logits[kept[0]] / options.temperature;
  const weights = kept.map((i) => Math.exp(logits[i] / options.temperature - top));
  const total = weights.reduce((a, b) => a + b, 0);
  let n = kept.length;
  if (options.topP < 1) {
    let mass = 0;
    n = 0;
    while (n < kept.length && mass < options.topP * total) mass += weights[n++];
  }
  const nucleus = weights.slice(0, n).reduce((a, b) => a + b, 0);
  let u = rng.next() * nucleus;
  for (let j = 0; j < n; j++) {
    u -= weights[j];
    if (u < 0) return kept[j];
  }
  // Rounding can leave u a hair above 0 after the last weight: that draw belongs to the last token.
  return kept[n - 1];
}
