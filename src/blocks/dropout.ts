/**
 * Dropout (Srivastava et al. 2014) as a parameter-free module, so that `train()` / `eval()` on a parent
 * switches it like every other train-only behaviour. Masks are drawn from an `Rng`, so a global seed
 * reproduces a training run exactly.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ConfigError } from '../config';
import { Module } from './module';

export class Dropout extends Module {
  private readonly rng: Rng;

  /** `rate`: probability of zeroing each element, in [0, 1); kept elements are scaled by 1 / (1 - rate). */
  constructor(readonly rate: number, rng: Rng = globalRng()) {
    super();
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new ConfigError('Dropout.rate', rate, 'a number in [0, 1)');
    this.rng = rng;
  }

  /** [...] -> [...]: identity in eval mode or at rate 0 (returned as is, not copied). */
  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.rate === 0) return x;
    return tf.dropout(x, this.rate, undefined, this.rng.opSeed());
  }

  override describe(): string {
    return `Dropout(${this.rate})`;
  }
}
