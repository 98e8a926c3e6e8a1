/**
 * What changed between two configs, by dotted path, for the errors that refuse to mix two configs in one
 * folder ("config changed at steps (300 -> 400), train.optimizer.lr (0.001 -> 0.0003)").
 */
import { canonicalJson } from './atomic';
import { isPlainObject } from './file-check';
import { resolveExperiment, specOf, type ExperimentConfig } from './experiment-config';

/** A value as a change shows it: JSON, cut short; a field one side lacks is `(absent)`. */
function shown(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = canonicalJson(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function collect(before: unknown, after: unknown, path: string, out: [string, unknown, unknown][]): void {
  if (canonicalJson(before) === canonicalJson(after)) return;
  const bothObjects = isPlainObject(before) && isPlainObject(after);
  const bothLists = Array.isArray(before) && Array.isArray(after) && before.length === after.length;
  // A block of another kind ({ kind: 'cosine' } -> { kind: 'flow' }) is one change, not one per field.
  const sameKind = !bothObjects || before.kind === after.kind;
  if ((bothObjects && sameKind) || bothLists) {
    const keys = bothLists ? (before as unknown[]).map((_, i) => String(i)) : [...new Set([...Object.keys(before as object), ...Object.keys(after as object)])].sort();
    for (const key of keys) {
      collect((before as Record<string, unknown>)[key], (after as Record<string, unknown>)[key], path ? `${path}.${key}` : key, out);
    }
    return;
  }
  out.push([path || '(the whole config)', before, after]);
}

/**
 * A recorded config as this version of the lab resolves it: a field the lab gained after the run was recorded
 * takes its default, as it does when the run's checkpoint is restored (src/config.ts fills missing fields), so
 * an upgrade alone never reads as a change of config. A record this version cannot resolve is compared as it is,
 * and its differences are reported.
 */
export function asResolvedNow(recorded: ExperimentConfig): ExperimentConfig {
  try {
    return resolveExperiment(specOf(recorded));
  } catch {
    return recorded;
  }
}

/** The fields that differ from `before` to `after`, as `path (old -> new)`, in path order. */
export function configChanges(before: unknown, after: unknown): string[] {
  const out: [string, unknown, unknown][] = [];
  collect(before, after, '', out);
  return out.map(([path, a, b]) => `${path} (${shown(a)} -> ${shown(b)})`);
}

/** The changes as one clause for an error, the first `limit` of them, then how many more. */
export function describeChanges(changes: readonly string[], limit = 6): string {
  const listed = changes.slice(0, limit).join(', ');
  return changes.length > limit ? `${listed} and ${changes.length - limit} more` : listed;
}
