/**
 * Run-record files are replaced atomically with the checkpoint module's writer (src/checkpoint/atomic.ts:
 * temporary file, fsync, rename), so a reader, or a sweep resuming after a crash, sees either the previous
 * complete file or the new one, never half of one. These helpers add what run records need on top: text,
 * JSON, and parent folders made on demand (samples/).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { writeFileAtomic } from '../checkpoint/atomic';

/** Write `data` to `path` atomically, making its folder first; on any error the previous file is untouched. */
export function writeRunFile(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, [typeof data === 'string' ? Buffer.from(data, 'utf8') : data]);
}

/** `value` as indented JSON, written atomically. */
export function writeRunJson(path: string, value: unknown): void {
  writeRunFile(path, JSON.stringify(value, null, 2) + '\n');
}

/** True for the temporary file of an atomic write in progress (`<name>.tmp-<pid>`): listings and zips skip it. */
export function isTemporaryFile(path: string): boolean {
  return temporaryFileOwner(basename(path)) !== null;
}

/** The pid that writes the temporary file named `name` (`<name>.tmp-<pid>`), or null for any other file. */
export function temporaryFileOwner(name: string): number | null {
  const match = /\.tmp-(\d+)$/.exec(name);
  return match ? Number(match[1]) : null;
}

/** A run folder's JSON file; one that does not parse is an error naming the file and the parser's complaint. */
export function readJsonFile(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message}); it is damaged or was not written by the lab`);
  }
}

/** JSON with object keys sorted, so two configs compare equal whatever order their fields were built in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
