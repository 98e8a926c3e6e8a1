/**
 * Kinds: the one way a swappable block is defined (docs/ARCHITECTURE.md, 'Adding a block'). A family (noise
 * schedules, timestep samplers, weightings, prediction targets, samplers, masks, patch pairs, autoencoders,
 * learning-rate schedules) is a `KindFamily`; each kind of it is one `define` call, made by the file that
 * implements the kind, giving its defaults, its validation and its construction together:
 *
 *   schedules.define('sigmoid', { defaults: { start: -3, ... }, validate: checkSigmoid, build: (c) => new SigmoidSchedule(c) });
 *
 * A notebook cell makes the same call at run time (`defineKind('schedule', 'laplace', { ... })`), so its kind
 * is named in configs, sweep grids and checkpoints exactly like a built-in one: configs stay plain data, `kind`
 * plus fields, and a config naming a kind nobody defined fails naming the kind and saying to define it first.
 *
 * A config is resolved once (`resolve`: completed from its kind's defaults, every key checked, `validate`
 * run), and built from the resolved config without checking again (`build`); `make` does both. Config types
 * come from the kinds too: each family's config union is the values of an interface that every kind's file
 * extends by declaration merging (e.g. `ScheduleKinds` in src/schedules/schedule.ts), so adding a built-in
 * kind edits no central table.
 */
import { checkKeys, ConfigError, mergeConfig, type DeepPartial } from './config';

/** `Omit<C, 'kind'>` for each member of a union. */
export type FieldsOf<C> = C extends unknown ? Omit<C, 'kind'> : never;

/** A config given by its `kind` plus only the fields to change (per member of a union). */
export type KindSpec<C extends { readonly kind: string }> = C extends unknown
  ? { readonly kind: C['kind'] } & { readonly [P in Exclude<keyof C, 'kind'>]?: DeepPartial<C[P]> }
  : never;

/** What a `build` is told besides the config. */
export interface BuildContext {
  /** Dotted config path, for error messages (e.g. 'objective.schedule'). */
  readonly field: string;
  /** What the kind's `prepare` handed over for this build (a wrapper's built base), if anything. */
  readonly prepared?: unknown;
}

/** What every kind gives: the family adds its own members (how to build, what it costs). */
export interface KindDefinition<C extends { readonly kind: string } = { readonly kind: string; readonly [field: string]: unknown }> {
  /** Every field but `kind`, at its default; a spec overrides only what it changes. */
  readonly defaults: FieldsOf<C>;
  /** Fields without a default, which every config of the kind must give (a prefix mask's `prefixLength`). */
  readonly required?: readonly string[];
  /** Throw ConfigError naming `${field}.<name>`, the value and what is allowed; given the complete config. */
  readonly validate?: (config: C, field: string) => void;
  /**
   * Rewrite a spec before it is completed, for a field holding another block (a wrapper schedule's `base`, which
   * may be a built schedule): return the spec with plain data in that field, and what `build` should reuse.
   */
  readonly prepare?: (spec: Readonly<Record<string, unknown>>, field: string) => { readonly spec: Readonly<Record<string, unknown>>; readonly prepared?: unknown };
  /** One line for listings (`describeKinds`). */
  readonly doc?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDefinition = KindDefinition<any>;

/** A kind as the family stores it. */
interface Entry<D> {
  readonly definition: D;
  /** Defined by the library (true) or at run time by a notebook or script (false). */
  readonly builtIn: boolean;
}

/** Names a family is looked up by in `defineKind`, with its definition type; each family's file extends it. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface KindFamilies {}

export type FamilyName = keyof KindFamilies & string;

const FAMILIES = new Map<string, KindFamily<{ readonly kind: string }, AnyDefinition>>();

/**
 * One family of kinds. `C` is the union of the built-in configs; `D` what a kind of this family defines (its
 * `build` and anything else the family needs, such as a patch pair's FLOPs).
 */
export class KindFamily<C extends { readonly kind: string }, D extends AnyDefinition> {
  private readonly entries = new Map<string, Entry<D>>();

  /**
   * `name` is what `defineKind` takes ('schedule'); `what` names a config of it in errors ('a noise schedule');
   * `isBuilt` recognises a built block passed where a config may go (docs/ARCHITECTURE.md, 'Slots'); `members`
   * are what a definition gives besides `defaults` and `validate` (a patch pair's `encoder`, `decoder`, `flops`),
   * named in the error that says how to define a missing kind.
   */
  constructor(
    readonly name: string,
    readonly what: string,
    private readonly isBuilt: (value: unknown) => boolean = () => false,
    private readonly members: readonly string[] = ['build'],
  ) {
    if (FAMILIES.has(name)) throw new Error(`kind family '${name}' is created twice (src/registry.ts): each family is one object`);
    FAMILIES.set(name, this as unknown as KindFamily<{ readonly kind: string }, AnyDefinition>);
  }

  /**
   * Define `kind`. A built-in kind cannot be replaced; a kind defined at run time can, so a notebook cell that
   * defines one can be run again after an edit.
   */
  define(kind: string, definition: D, options: { readonly builtIn?: boolean } = {}): void {
    const field = `defineKind('${this.name}', ${JSON.stringify(kind)})`;
    if (typeof kind !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(kind)) {
      throw new ConfigError(`${field}.kind`, kind, 'a name of letters, digits, ".", "_" and "-", starting with a letter or digit');
    }
    if (typeof definition !== 'object' || definition === null) throw new ConfigError(field, definition, `a definition with defaults, validate and build (src/registry.ts)`);
    const defaults = (definition as KindDefinition).defaults;
    if (typeof defaults !== 'object' || defaults === null || Array.isArray(defaults) || Object.hasOwn(defaults, 'kind')) {
      throw new ConfigError(`${field}.defaults`, defaults, "an object with every field but 'kind' at its default ({} for a kind without fields)");
    }
    const existing = this.entries.get(kind);
    if (existing?.builtIn) throw new ConfigError(`${field}.kind`, kind, `a name that is not already a built-in ${this.what} kind (${this.list()})`);
    this.entries.set(kind, { definition, builtIn: options.builtIn ?? false });
  }

  /** Whether `kind` is defined (own entries only: `kind: 'constructor'` is not). */
  has(kind: unknown): boolean {
    return typeof kind === 'string' && this.entries.has(kind);
  }

  /** The defined kinds, built-in first, in the order they were defined. */
  kinds(): string[] {
    return [...this.entries.keys()];
  }

  /** Whether `kind` was defined by the library rather than at run time. */
  isBuiltIn(kind: string): boolean {
    return this.entries.get(kind)?.builtIn ?? false;
  }

  private list(): string {
    return this.kinds().map((k) => `'${k}'`).join(', ');
  }

  /** The definition of `kind`; an unknown kind fails naming `${field}.kind`, the known kinds and how to add one. */
  definition(kind: unknown, field: string): D {
    return this.lookup(kind, `${field}.kind`);
  }

  /** The definition of `kind`, where `path` is the field holding the kind itself (`objective.prediction`). */
  lookup(kind: unknown, path: string): D {
    const entry = typeof kind === 'string' ? this.entries.get(kind) : undefined;
    if (entry === undefined) {
      const hint = typeof kind === 'string' && kind !== ''
        ? ` (a kind defined at run time must be defined before a config naming it is resolved or loaded: defineKind('${this.name}', ${JSON.stringify(kind)}, { ${['defaults', 'validate', ...this.members].join(', ')} }))`
        : '';
      throw new ConfigError(path, kind, `${this.list()}${hint}`);
    }
    return entry.definition;
  }

  /** The complete default config of `kind`. */
  defaults<K extends C['kind']>(kind: K, field = this.name): Extract<C, { kind: K }> {
    return { kind, ...(this.definition(kind, field) as KindDefinition).defaults } as unknown as Extract<C, { kind: K }>;
  }

  /** Every kind defined so far with its complete default config, as one table (built-in kinds when a file loads). */
  defaultsTable(): { readonly [K in C['kind']]: Extract<C, { kind: K }> } {
    return Object.freeze(Object.fromEntries(this.kinds().map((kind) => [kind, this.defaults(kind as C['kind'])]))) as never;
  }

  /**
   * Complete a spec from its kind's defaults, check every key and run the kind's validation: the one place a
   * config of this family is checked. The result is plain data that `build` takes as it is.
   */
  resolve(spec: unknown, field: string = this.name): C {
    return this.resolveWith(spec, field).config;
  }

  private resolveWith(spec: unknown, field: string): { config: C; prepared: unknown } {
    const kind = typeof spec === 'object' && spec !== null ? (spec as { kind?: unknown }).kind : spec;
    const definition = this.definition(kind, field) as KindDefinition;
    let given = spec as Readonly<Record<string, unknown>>;
    let prepared: unknown;
    if (definition.prepare) ({ spec: given, prepared } = definition.prepare(given, field));
    const required = definition.required ?? [];
    const known = ['kind', ...Object.keys(definition.defaults), ...required];
    checkKeys(given, known, field, `a field of kind '${kind as string}': ${known.join(', ')}`);
    const base = { kind, ...definition.defaults, ...Object.fromEntries(required.map((r) => [r, undefined])) };
    const merged = mergeConfig<Record<string, unknown>>(base, given as DeepPartial<Record<string, unknown>>, field);
    // A required field left out stays absent rather than undefined, so the config survives JSON unchanged.
    const config = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as unknown as C;
    definition.validate?.(config as never, field);
    return { config, prepared };
  }

  /** Build a resolved config (no checks repeated); `args` are what the family's `build` takes besides it. */
  build<R>(config: C, field: string, use: (definition: D, context: BuildContext) => R, prepared?: unknown): R {
    return use(this.definition(config.kind, field), { field, prepared });
  }

  /**
   * A built block passes through (docs/ARCHITECTURE.md, 'Slots'); a spec is resolved once and built from the
   * result by `use`, the family's own call of its definition.
   */
  make<R>(spec: unknown, field: string, use: (definition: D, config: C, context: BuildContext) => R): R {
    if (this.isBuilt(spec)) return spec as R;
    const { config, prepared } = this.resolveWith(spec, field);
    return use(this.definition(config.kind, field), config, { field, prepared });
  }
}

/** The family named `name` ('schedule', 'patch', ...); an unknown name fails listing the families. */
export function kindFamily<F extends FamilyName>(name: F): KindFamilies[F] {
  const family = FAMILIES.get(name);
  if (!family) throw new ConfigError('defineKind.family', name, [...FAMILIES.keys()].map((k) => `'${k}'`).join(', '));
  return family as unknown as KindFamilies[F];
}

/** The definition a family's kinds give (the second type argument of its `KindFamily`). */
export type DefinitionOf<F extends FamilyName> = KindFamilies[F] extends KindFamily<infer _C, infer D> ? D : never;

/**
 * Define a kind at run time, from a notebook cell or a script: afterwards a config may name it wherever the
 * family's blocks go (a model config, a sweep grid, a checkpoint's saved config).
 *
 *   defineKind('schedule', 'laplace', {
 *     defaults: { mu: 0, b: 0.5 },
 *     validate: (c, field) => check.positive(`${field}.b`, c.b),
 *     build: (c) => new LaplaceSchedule(c),
 *   });
 *
 * Loading a checkpoint or a run that names the kind needs the same call first, in that process.
 */
export function defineKind<F extends FamilyName>(family: F, kind: string, definition: DefinitionOf<F>): void {
  (kindFamily(family) as unknown as KindFamily<{ readonly kind: string }, DefinitionOf<F>>).define(kind, definition);
}

/** Every family and its kinds, built-in or defined at run time: what a config may name right now. */
export function describeKinds(): Record<string, { readonly kind: string; readonly builtIn: boolean; readonly doc?: string }[]> {
  return Object.fromEntries(
    [...FAMILIES].map(([name, family]) => [
      name,
      family.kinds().map((kind) => ({ kind, builtIn: family.isBuiltIn(kind), doc: (family.definition(kind, name) as KindDefinition).doc })),
    ]),
  );
}

/** The option a library file passes to `define`, so its kind cannot be replaced at run time. */
export const BUILT_IN = { builtIn: true } as const;

/** A complete config's fields without its `kind`: the `defaults` of a kind whose DEFAULT_… object exists. */
export function fieldsOf<C extends { readonly kind: string }>(config: C): FieldsOf<C> {
  const { kind: _, ...fields } = config;
  return fields as unknown as FieldsOf<C>;
}
