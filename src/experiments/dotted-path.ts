/**
 * Config fields named by dotted path ('objective.lambda', 'train.optimizer.lr', 'net.patch.channels.1'), the
 * way a sweep names what it varies. Model fields may drop their `model.` prefix: 'objective.lambda' is
 * 'model.objective.lambda'. A path must name a field of the resolved config, so a typo fails before any arm
 * runs, naming the path and the fields that exist where it went wrong.
 */
import { ConfigError } from '../config';
import type { ExperimentConfig, ExperimentSpec } from './experiment-config';
import { isPlainObject } from './file-check';

/** First segments that belong to the model config and may be written without `model.`. */
const MODEL_SECTIONS = ['net', 'objective', 'sequence'];

/** 'objective.lambda' -> 'model.objective.lambda'; other paths unchanged. */
export function canonicalPath(path: string): string {
  return MODEL_SECTIONS.includes(path.split('.')[0]) ? `model.${path}` : path;
}

/** Check that `path` names a field of `config`; returns its current value. */
export function readPath(config: ExperimentConfig, path: string): unknown {
  if (typeof path !== 'string' || path === '') throw new ConfigError('sweep path', path, 'a dotted config path such as "objective.lambda"');
  const segments = canonicalPath(path).split('.');
  let node: unknown = config;
  segments.forEach((segment, i) => {
    const at = segments.slice(0, i).join('.') || '(top level)';
    if (Array.isArray(node)) {
      const index = Number(segment);
      if (!Number.isInteger(index) || index < 0 || index >= node.length) {
        throw new ConfigError(path, segment, `an index 0..${node.length - 1} of the list at ${at}`);
      }
      node = node[index];
    } else if (isPlainObject(node) && segment in node) {
      node = node[segment];
    } else {
      const known = isPlainObject(node) ? Object.keys(node) : [];
      const allowed = known.length > 0
        ? `a field of ${at}: ${(i === 0 ? [...known, ...MODEL_SECTIONS] : known).join(', ')}`
        : `nothing below ${at}, which is the value ${JSON.stringify(node)}`;
      throw new ConfigError(path, segment, allowed);
    }
  });
  return node;
}

/**
 * Set `target`'s field at `segments` to `value` without touching `target`. Where the resolved config holds a
 * list, or a spec part is absent that must be whole (the data spec's `kind`), the resolved value is copied in
 * first, so a spec only ever holds complete lists and complete data specs.
 */
function setIn(target: unknown, resolved: unknown, segments: readonly string[], value: unknown): unknown {
  if (segments.length === 0) return value;
  const [head, ...rest] = segments;
  if (Array.isArray(resolved)) {
    const copy = Array.isArray(target) ? [...target] : [...resolved];
    copy[Number(head)] = setIn(copy[Number(head)], resolved[Number(head)], rest, value);
    return copy;
  }
  const copy: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  copy[head] = setIn(copy[head], (resolved as Record<string, unknown>)[head], rest, value);
  return copy;
}

/**
 * `spec` with the field at `path` set to `value`; `resolved` is the spec's resolved config, against which the
 * path is checked. The value itself is checked when the new spec is resolved.
 */
export function withField(spec: ExperimentSpec, resolved: ExperimentConfig, path: string, value: unknown): ExperimentSpec {
  readPath(resolved, path);
  const segments = canonicalPath(path).split('.');
  const [section] = segments;
  const start: Record<string, unknown> = { ...spec };
  // A data spec needs its kind; start from the resolved one when the spec left data at its default.
  if (section === 'data' && spec.data === undefined) start.data = resolved.data;
  return setIn(start, resolved, segments, value) as ExperimentSpec;
}
