/**
 * Seeded randomness. One global seed (`setSeed`) makes every draw in the lab reproducible:
 * initialisation, noise, timesteps, data order and dropout all pull from streams derived from it.
 *
 * Built on seedrandom's Alea (the generator tfjs itself uses for seeded ops) rather than a hand-written PRNG.
 * Tensor draws pass an integer seed taken from the stream to tfjs's own seeded ops, so a draw depends only on
 * the global seed and the order of draws.
 */
import seedrandom from 'seedrandom';
import { tf } from './tf';

export class Rng {
  private readonly prng: seedrandom.PRNG;
  private spare: number | null = null;

  constructor(readonly seed: number | string) {
    this.prng = seedrandom.alea(String(seed));
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.prng();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.prng() * n);
  }

  /** Uniform float in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.prng();
  }

  /** Standard normal draw (Marsaglia polar method). */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return mean + std * s;
    }
    let u = 0, v = 0, s = 0;
    do {
      u = 2 * this.prng() - 1;
      v = 2 * this.prng() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * m;
    return mean + std * u * m;
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.prng() < p;
  }

  /** Fisher-Yates shuffle of a copy. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.prng() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** An integer seed for a tfjs random op (tfjs accepts any number and seeds Alea with its string form). */
  opSeed(): number {
    return Math.floor(this.prng() * 2 ** 31);
  }

  /** An independent child stream, so that e.g. data order does not shift when the model draws more noise. */
  fork(label: string): Rng {
    return new Rng(`${this.seed}/${label}/${this.opSeed()}`);
  }

  /** [shape] standard-normal tensor (times std, plus mean). */
  randomNormal(shape: number[], mean = 0, std = 1): tf.Tensor {
    return tf.randomNormal(shape, mean, std, 'float32', this.opSeed());
  }

  /** [shape] uniform tensor in [lo, hi). */
  randomUniform(shape: number[], lo = 0, hi = 1): tf.Tensor {
    return tf.randomUniform(shape, lo, hi, 'float32', this.opSeed());
  }
}

/** Default global seed; any fixed value would do, 0 keeps runs reproducible even when nobody sets one. */
export const DEFAULT_SEED = 0;

let globalRng = new Rng(DEFAULT_SEED);
let globalSeed: number = DEFAULT_SEED;

/** Reset the global stream. Every later draw that uses `rng()` is a function of this seed. */
export function setSeed(seed: number): void {
  if (!Number.isFinite(seed)) throw new RangeError(`setSeed: seed must be a finite number, got ${seed}`);
  globalSeed = seed;
  globalRng = new Rng(seed);
}

export function getSeed(): number {
  return globalSeed;
}

/** The global stream. Blocks that need randomness take an `Rng` argument and default to this one. */
export function rng(): Rng {
  return globalRng;
}
