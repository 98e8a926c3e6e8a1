/**
 * Exponential moving average of the weights (Polyak averaging; used by DDPM/ADM samplers at eval time).
 * `swap()` exchanges live and averaged weights in place, so sampling with EMA weights needs no second model.
 */
import { tf } from '../engine/tf';
import { check } from '../config';
import { owned } from './adamw';

export class Ema {
  private readonly shadow = new Map<string, tf.Variable>();

  constructor(params: ReadonlyArray<readonly [string, tf.Variable]>, readonly decay = 0.999, readonly warmup = true) {
    check.inRange('ema.decay', decay, 0, 1);
    for (const [n, p] of params) this.shadow.set(n, owned(p.clone()));
  }

  /**
   * The decay used at optimiser step `step` (0-based). With warmup, min(decay, (1 + step) / (10 + step)), as
   * TensorFlow's ExponentialMovingAverage does with `num_updates`: a fixed 0.999 would keep 78% of the random
   * initial weights in the average after 250 steps, so a short run's average would be worse than its weights.
   */
  decayAt(step: number): number {
    return this.warmup ? Math.min(this.decay, (1 + step) / (10 + step)) : this.decay;
  }

  /** shadow <- d * shadow + (1 - d) * param, with d = decayAt(step). */
  update(params: ReadonlyArray<readonly [string, tf.Variable]>, step: number): void {
    const d = this.decayAt(step);
    for (const [n, p] of params) {
      const s = this.shadow.get(n);
      if (s) tf.tidy(() => s.assign(s.mul(d).add(p.mul(1 - d))));
    }
  }

  /** Exchange the live weights with the averaged ones (call again to swap back). */
  swap(params: ReadonlyArray<readonly [string, tf.Variable]>): void {
    for (const [n, p] of params) {
      const s = this.shadow.get(n);
      if (!s) continue;
      const live = p.clone();
      p.assign(s);
      s.assign(live);
      live.dispose();
    }
  }

  stateDict(): Record<string, tf.Tensor> {
    return Object.fromEntries(this.shadow);
  }

  loadStateDict(state: Readonly<Record<string, tf.Tensor>>): void {
    for (const [n, t] of Object.entries(state)) {
      const s = this.shadow.get(n);
      if (!s) throw new Error(`Ema.loadStateDict: unexpected key '${n}'`);
      s.assign(t);
    }
  }

  dispose(): void {
    for (const s of this.shadow.values()) s.dispose();
    this.shadow.clear();
  }
}
