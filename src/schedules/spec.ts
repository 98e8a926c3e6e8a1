/**
 * A config given by its `kind` plus only the fields to change: `{ kind: 'cosine', T: 250 }`. Every swappable
 * piece of the noise process (schedule, sampler, timestep sampler, weighting) resolves such a spec against the
 * kind's own DEFAULT (docs/ARCHITECTURE.md, 'Configs'), so the config a run saves is always complete and rebuilds
 * the same object.
 */
import { ConfigError, mergeConfig, type DeepPartial } from '../config';

/** `C` with every field but `kind` optional (per member of a union). */
export type Spec<C extends { readonly kind: string }> = C extends unknown
  ? { readonly kind: C['kind'] } & { readonly [P in Exclude<keyof C, 'kind'>]?: C[P] }
  : never;

/**
 * Fill a spec from the defaults of its kind. An unknown kind or an unknown field fails here, naming the field,
 * the value and what is allowed (docs/ARCHITECTURE.md, 'Registries').
 */
export function resolveSpec<C extends { readonly kind: string }>(
  defaults: { readonly [K in C['kind']]: Extract<C, { kind: K }> },
  spec: { readonly kind: string },
  field: string,
): C {
  const table = defaults as unknown as Record<string, C | undefined>;
  const kind = typeof spec === 'object' && spec !== null ? spec.kind : undefined;
  // Own entries only: `kind: 'toString'` must not find a method on the table's prototype.
  const base = typeof kind === 'string' && Object.hasOwn(table, kind) ? table[kind] : undefined;
  if (base === undefined) {
    throw new ConfigError(`${field}.kind`, typeof spec === 'object' && spec !== null ? kind : spec, Object.keys(table).map((k) => `'${k}'`).join(', '));
  }
  return mergeConfig(base, spec as unknown as DeepPartial<C>, field);
}
