/**
 * Config plumbing shared by every block (docs/ARCHITECTURE.md, 'Configs' and 'Registries'): readonly plain-data
 * configs, one DEFAULT per config, overrides merged in, and swappable blocks chosen by a `kind` through a registry
 * the compiler checks. Every failure names the field, the value received and what is allowed.
 */

/** A bad config value: `field` is a dotted path (`model.patch.size`), `allowed` says what would be accepted. */
export class ConfigError extends Error {
  constructor(readonly field: string, readonly value: unknown, readonly allowed: string) {
    super(`${field}: got ${describe(value)}; allowed: ${allowed}`);
    this.name = 'ConfigError';
  }
}

/** A tensor of the wrong shape: says what was expected and what arrived (docs/ARCHITECTURE.md, 'Shapes'). */
export class ShapeError extends Error {
  constructor(readonly what: string, readonly expected: string, readonly received: readonly number[]) {
    super(`${what}: expected shape ${expected}, received [${received.join(', ')}]`);
    this.name = 'ShapeError';
  }
}

/** Wraps a non-finite number inside JSON text so `describe` can print it bare (JSON itself would say null). */
const NON_FINITE = '\u0001';

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value === undefined) return 'undefined';
  try {
    const marked = JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `${NON_FINITE}${v}${NON_FINITE}` : v));
    const s = marked.replace(/"\\u0001(-?\w+)\\u0001"/g, '$1');
    return s.length > 80 ? s.slice(0, 77) + '...' : s;
  } catch {
    return String(value);
  }
}

export type DeepPartial<T> = T extends readonly (infer U)[]
  ? readonly U[]
  : T extends object
    ? { readonly [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/**
 * An object written as config data: a literal, a JSON object or one with a null prototype. An object whose
 * prototype is another literal (`{ __proto__: { steps: 5 } }`) counts too, so its inherited fields are caught
 * by `checkKeys`; a class instance (a built schedule passed where its config may go) does not.
 */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === null || proto === Object.prototype || !Object.hasOwn(proto, 'constructor');
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment), for "did you mean". */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known key `key` most likely misspells (case aside, or a third of its letters off at most), if any. */
export function closestKey(key: string, known: readonly string[]): string | null {
  const lower = key.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same) return same;
  let best: string | null = null;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/**
 * Throw unless every key of `value` is its own (not inherited) and one of `known`; the error names the dotted
 * path, lists the known keys and suggests the nearest one (`step` -> 'steps', `batchsize` -> 'batchSize').
 * `__proto__`, `constructor` and the like are unknown keys like any other.
 */
export function checkKeys(value: object, known: readonly string[], path: string, knownText = `one of the known fields: ${known.join(', ')}`): void {
  const fields = value as Record<string, unknown>;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) {
      throw new ConfigError(`${path}.${key}`, fields[key], `own fields only (this one is inherited from the object's prototype); ${knownText}`);
    }
  }
  for (const key of Object.keys(fields)) {
    if (known.includes(key)) continue;
    const near = closestKey(key, known);
    throw new ConfigError(`${path}.${key}`, fields[key], `${near === null ? '' : `did you mean '${near}'? `}${knownText}`);
  }
}

/**
 * Merge overrides into defaults. Plain objects merge recursively, except that an override with a different
 * `kind` replaces the default wholesale (a cosine schedule's `s` must not leak into a linear one); the kind's
 * own resolver then checks its fields. Unknown or inherited keys are an error naming the field, so a typo never
 * silently falls back to a default.
 */
export function mergeConfig<T>(defaults: T, overrides: DeepPartial<T> | undefined, path = 'config'): T {
  if (overrides === undefined) return defaults;
  if (!isPlainObject(defaults)) return overrides as T;
  const d = defaults as Record<string, unknown>;
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw new ConfigError(path, overrides, `an object with the fields ${Object.keys(d).join(', ')}`);
  }
  // A built block (a Schedule instance) stands in for its config; the code that takes it checks it.
  if (!isPlainObject(overrides)) return overrides as T;
  const o = overrides as Record<string, unknown>;
  if (Object.hasOwn(o, 'kind') && Object.hasOwn(d, 'kind') && o.kind !== d.kind) {
    // Inherited keys only: which keys are known depends on the kind, and its resolver knows them.
    checkKeys(o, Object.keys(o), path);
    return overrides as T;
  }
  checkKeys(o, Object.keys(d), path);
  const out: Record<string, unknown> = { ...d };
  for (const [key, value] of Object.entries(o)) {
    if (value === undefined) continue;
    out[key] = isPlainObject(d[key]) ? mergeConfig(d[key], value, `${path}.${key}`) : value;
  }
  return out as T;
}

/**
 * A config from a named preset (or a complete config given in its place, a saved run's), then `overrides`,
 * then `validate`: the one way every model family resolves `(preset, overrides)`. A name must be an own key of
 * `presets` (so 'constructor' or 'toString' fail as unknown presets); a config given as the preset is merged
 * into `defaults` under the path 'preset', so a field it should not have is named there.
 */
export function resolvePreset<T, P extends string>(
  defaults: T,
  presets: { readonly [K in P]: DeepPartial<T> },
  preset: P | T,
  overrides: DeepPartial<T>,
  validate: (config: T) => T,
): T {
  let base: T;
  if (typeof preset === 'string') {
    if (!Object.hasOwn(presets, preset)) throw new ConfigError('preset', preset, Object.keys(presets).map((k) => `'${k}'`).join(', '));
    base = mergeConfig(defaults, presets[preset as P], 'config');
  } else {
    base = mergeConfig(defaults, preset as DeepPartial<T>, 'preset');
  }
  return validate(mergeConfig(base, overrides, 'config'));
}

/**
 * Upper bounds on sizes, checked when a config is resolved, before anything is allocated: each is far beyond
 * what this lab trains, so only a slip (1e9 for 1e3) reaches one, and it fails naming the bound instead of
 * exhausting memory minutes later.
 */
export const LIMITS = {
  /** A model width: dModel, a U-Net or autoencoder level, latent or code channels. */
  width: 16_384,
  /** A feed-forward hidden width. */
  hidden: 65_536,
  /** Layers of a transformer; blocks of a U-Net or autoencoder level. */
  depth: 512,
  /** Ids of a vocabulary or a codebook. */
  vocab: 1_048_576,
  /** Positions of one training row (sequence.length; attention is quadratic in it). */
  sequence: 65_536,
  /** Positions RoPE may number (net.maxPositions), and tokens one generation may sample. */
  positions: 1_048_576,
  /** Side of an image or a latent, in pixels. */
  side: 8_192,
  /** Rows of a batch. */
  batch: 65_536,
  /** Optimiser steps of a run, warmup and decay included. */
  steps: 100_000_000,
  /** Steps of a diffusion grid: a schedule's or sampler's T, a sampler's steps. */
  diffusionSteps: 1_000_000,
  /** Items of a dataset or a held-out split. */
  items: 100_000_000,
  /** Images an evaluation generates per digit (ten digits: up to a million images and their features). */
  perDigit: 100_000,
} as const;

export type LimitName = keyof typeof LIMITS;

/** Field checks used by config validators; each throws ConfigError. */
export const check = {
  /** A count in [min, LIMITS[limit]]: the error names the bound. */
  size(field: string, v: unknown, limit: LimitName, min = 1): number {
    const max = LIMITS[limit];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(field, v, `an integer in [${min}, ${max}] (${max} is the bound LIMITS.${limit})`);
    }
    return v;
  },
  finite(field: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(field, v, 'a finite number');
    return v;
  },
  positiveInt(field: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ConfigError(field, v, 'a positive integer');
    return v;
  },
  nonNegativeInt(field: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ConfigError(field, v, 'an integer >= 0');
    return v;
  },
  nonNegative(field: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(field, v, 'a finite number >= 0');
    return v;
  },
  positive(field: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(field, v, 'a finite number > 0');
    return v;
  },
  probability(field: string, v: unknown): number {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ConfigError(field, v, 'a number in [0, 1]');
    return v;
  },
  inRange(field: string, v: unknown, lo: number, hi: number): number {
    if (typeof v !== 'number' || !(v >= lo && v <= hi)) throw new ConfigError(field, v, `a number in [${lo}, ${hi}]`);
    return v;
  },
  oneOf<T extends string | number | boolean>(field: string, v: unknown, allowed: readonly T[]): T {
    if (!allowed.includes(v as T)) throw new ConfigError(field, v, allowed.map((a) => JSON.stringify(a)).join(', '));
    return v as T;
  },
  divides(field: string, divisor: number, dividendField: string, dividend: number): void {
    if (dividend % divisor !== 0) {
      throw new ConfigError(field, divisor, `a divisor of ${dividendField} (${dividend})`);
    }
  },
};
