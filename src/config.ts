/**
 * Config plumbing shared by every block (house style 1-2): readonly plain-data configs, one DEFAULT per
 * config, overrides merged in, and swappable blocks chosen by a `kind` through a registry the compiler checks.
 * Every failure names the field, the value received and what is allowed.
 */

/** A bad config value: `field` is a dotted path (`model.patch.size`), `allowed` says what would be accepted. */
export class ConfigError extends Error {
  constructor(readonly field: string, readonly value: unknown, readonly allowed: string) {
    super(`${field}: got ${describe(value)}; allowed: ${allowed}`);
    this.name = 'ConfigError';
  }
}

/** A tensor of the wrong shape: says what was expected and what arrived (house style 7). */
export class ShapeError extends Error {
  constructor(readonly what: string, readonly expected: string, readonly received: readonly number[]) {
    super(`${what}: expected shape ${expected}, received [${received.join(', ')}]`);
    this.name = 'ShapeError';
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'undefined';
  try {
    const s = JSON.stringify(value);
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

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * Merge overrides into defaults. Plain objects merge recursively, except that an override with a different
 * `kind` replaces the default wholesale (a cosine schedule's `s` must not leak into a linear one).
 * Unknown keys are an error naming the field, so a typo never silently falls back to a default.
 */
export function mergeConfig<T>(defaults: T, overrides: DeepPartial<T> | undefined, path = 'config'): T {
  if (overrides === undefined) return defaults;
  if (!isPlainObject(defaults) || !isPlainObject(overrides)) return overrides as T;
  const d = defaults as Record<string, unknown>;
  const o = overrides as Record<string, unknown>;
  if ('kind' in o && 'kind' in d && o.kind !== d.kind) return overrides as T;
  const out: Record<string, unknown> = { ...d };
  for (const [key, value] of Object.entries(o)) {
    if (!(key in d)) {
      throw new ConfigError(`${path}.${key}`, value, `one of the known fields: ${Object.keys(d).join(', ')}`);
    }
    if (value === undefined) continue;
    out[key] = isPlainObject(d[key]) && isPlainObject(value) ? mergeConfig(d[key], value, `${path}.${key}`) : value;
  }
  return out as T;
}

/** A registry of builders keyed by `kind`: an unknown kind fails naming the field and the known kinds. */
export function fromRegistry<C extends { readonly kind: string }, R>(
  registry: { readonly [K in C['kind']]: (config: Extract<C, { kind: K }>) => R },
  config: C,
  field: string,
): R {
  const build = (registry as unknown as Record<string, ((c: C) => R) | undefined>)[config?.kind];
  if (!build) throw new ConfigError(`${field}.kind`, config?.kind, Object.keys(registry).map((k) => `'${k}'`).join(', '));
  return build(config);
}

/** Field checks used by config validators; each throws ConfigError. */
export const check = {
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
