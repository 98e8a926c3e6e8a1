/**
 * Checks on the files of a run folder as they are read. A folder may come from another machine, another
 * version of the lab, a crash or a hand edit: a field of the wrong type fails here with the file, the field,
 * the value and what is allowed, not later as a TypeError in a report, or as markup in one.
 */

/** A run-folder file that is not what the lab writes. */
export class RunFileError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'RunFileError';
  }
}

function shown(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A JSON object: an object that is neither null nor an array. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A test on a field's value and what it allows, in words. */
export type Expect = readonly [test: (v: unknown) => boolean, allowed: string];

export const EXPECT = {
  string: [(v) => typeof v === 'string', 'a string'],
  stringOrNull: [(v) => v === null || typeof v === 'string', 'a string or null'],
  integer: [(v) => Number.isSafeInteger(v), 'an integer'],
  count: [(v) => Number.isSafeInteger(v) && (v as number) >= 0, 'an integer >= 0'],
  numberOrNull: [(v) => v === null || typeof v === 'number', 'a number or null'],
  booleanOrNull: [(v) => v === null || typeof v === 'boolean', 'true, false or null'],
  object: [isPlainObject, 'an object'],
  array: [Array.isArray, 'an array'],
  present: [(v) => v !== undefined, 'a value'],
} as const satisfies Record<string, Expect>;

export function oneOf(values: readonly string[]): Expect {
  return [(v) => typeof v === 'string' && values.includes(v), `one of ${values.join(', ')}`];
}

/** Check a value of the file at `path`, named `name` in the error, and return it. */
export function expectValue(path: string, name: string, value: unknown, expect: Expect): unknown {
  if (!expect[0](value)) throw new RunFileError(path, `${name} is ${shown(value)}; expected ${expect[1]}`);
  return value;
}

/** Check `object[field]` (named `prefix + field` in the error) and return it. */
export function expectField(path: string, object: Record<string, unknown>, field: string, expect: Expect, prefix = ''): unknown {
  return expectValue(path, `${prefix}${field}`, object[field], expect);
}

/** Check that the whole file's value is an object (or what `expect` says) before its fields are read. */
export function expectRoot<T>(path: string, value: unknown, expect: Expect = EXPECT.object): T {
  if (!expect[0](value)) throw new RunFileError(path, `holds ${shown(value)}; expected ${expect[1]}`);
  return value as T;
}
