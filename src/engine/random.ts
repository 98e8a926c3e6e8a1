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
import { ConfigError } from '../config';

/**
 * Everything that determines an `Rng`'s future draws, as plain JSON (a checkpoint stores it): the seed (which
 * `fork` labels derive from), Alea's four state words, and the second normal of the last polar pair.
 */
export interface RngState {
  readonly seed: number | string;
  /** Alea's state as seedrandom reports it with `{ state: true }`: carry `c` and the lags `s0`, `s1`, `s2`. */
  readonly alea: { readonly c: number; readonly s0: number; readonly s1: number; readonly s2: number };
  /** The cached second draw of `normal()`, or null when the next call starts a fresh pair. */
  readonly spare: number | null;
}

type AleaState = seedrandom.State.Alea;

function checkRngState(state: RngState, field: string): RngState {
  if (typeof state !== 'object' || state === null) throw new ConfigError(field, state, 'an RngState object { seed, alea, spare }');
  if (!(typeof state.seed === 'string' || Number.isFinite(state.seed))) throw new ConfigError(`${field}.seed`, state.seed, 'a finite number or a string');
  if (typeof state.alea !== 'object' || state.alea === null) throw new ConfigError(`${field}.alea`, state.alea, 'an object { c, s0, s1, s2 }');
  for (const key of ['c', 's0', 's1', 's2'] as const) {
    if (!Number.isFinite(state.alea[key])) throw new ConfigError(`${field}.alea.${key}`, state.alea[key], 'a finite number');
  }
  if (!(state.spare === null || Number.isFinite(state.spare))) throw new ConfigError(`${field}.spare`, state.spare, 'null or a finite number');
  return state;
}

export class Rng {
  // `{ state: true }` only adds a `state()` reader; the draws are those of plain `seedrandom.alea(seed)`.
  private prng: seedrandom.StatefulPRNG<AleaState>;
  private spare: number | null = null;
  private seedValue: number | string;

  constructor(seed: number | string) {
    this.seedValue = seed;
    this.prng = seedrandom.alea(String(seed), { state: true });
  }

  /** The seed this stream was built from (or restored with); `fork` labels derive from it. */
  get seed(): number | string {
    return this.seedValue;
  }

  /** A snapshot of the stream: `Rng.fromState(r.state())` draws exactly what `r` would draw next. */
  state(): RngState {
    return { seed: this.seedValue, alea: this.prng.state(), spare: this.spare };
  }

  /** A new stream that continues from `state`. */
  static fromState(state: RngState, field = 'rngState'): Rng {
    const r = new Rng(checkRngState(state, field).seed);
    r.setState(state, field);
    return r;
  }

  /**
   * Continue from `state` in place, so every object already holding this stream (a Dropout module, a
   * training loop's noise source) resumes without being rewired.
   */
  setState(state: RngState, field = 'rngState'): void {
    checkRngState(state, field);
    this.seedValue = state.seed;
    this.prng = seedrandom.alea('', { state: { ...state.alea } });
    this.spare = state.spare;
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

/**
 * Continue the global stream from a saved `rng().state()`, in place (blocks that captured `rng()` keep it), so
 * a resumed session draws what the interrupted one would have drawn next.
 */
export function setGlobalRngState(state: RngState): void {
  globalRng.setState(state, 'globalRng');
  if (typeof state.seed === 'number') globalSeed = state.seed;
}
