/**
 * IPython's everyday magics, for a TypeScript cell: `%time expr`, `%%time`, `%timeit expr`, `%env`, `%cd`, `%pwd`,
 * `%who`, `%lsmagic`. A line starting with `%` is a magic wherever it is in the cell (TypeScript has no statement
 * starting with `%`); the code between magic lines runs as usual, in order, and the cell shows the value of its
 * last part. Any other `%name` fails the cell naming the magics there are, rather than reaching the TypeScript
 * compiler as "Expression expected".
 *
 * The code a magic runs keeps its line in the cell (it is padded with the lines above it), so its diagnostics and
 * tracebacks name the line as typed.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { format } from 'node:util';

export const LINE_MAGICS = ['cd', 'env', 'lsmagic', 'pwd', 'time', 'timeit', 'who'] as const;
export const CELL_MAGICS = ['time'] as const;

const LINE = /^%([A-Za-z_]\w*)(?:[ \t]+(.*))?$/;
const CELL = /^%%([A-Za-z_]\w*)[ \t]*(.*)$/;

/** One part of a cell: code (padded to its place in the cell), or a magic and its arguments. */
export type Part =
  | { readonly kind: 'code'; readonly code: string }
  | { readonly kind: 'magic'; readonly name: string; readonly args: string; readonly line: number; readonly argsColumn: number }
  | { readonly kind: 'cell-magic'; readonly name: string; readonly args: string; readonly code: string };

/** The cell's parts in order; null when it has no magic (it runs as it is). */
export function splitMagics(cell: string): Part[] | null {
  const lines = cell.split('\n');
  const cellMagic = CELL.exec(lines[0]);
  if (cellMagic) return [{ kind: 'cell-magic', name: cellMagic[1], args: cellMagic[2].trim(), code: `\n${lines.slice(1).join('\n')}` }];
  if (!lines.some((l) => LINE.test(l))) return null;
  const parts: Part[] = [];
  let start = 0;
  const flush = (end: number): void => {
    const body = lines.slice(start, end);
    if (body.some((l) => l.trim() !== '')) parts.push({ kind: 'code', code: '\n'.repeat(start) + body.join('\n') });
  };
  lines.forEach((l, i) => {
    const m = LINE.exec(l);
    if (!m) return;
    flush(i);
    const args = m[2] ?? '';
    parts.push({ kind: 'magic', name: m[1], args: args.trim(), line: i, argsColumn: args ? l.length - args.length : l.length });
    start = i + 1;
  });
  flush(lines.length);
  return parts;
}

/** The cell with its magic lines blanked: what is left for the compiler's completeness and syntax checks. */
export function maskMagics(cell: string): string {
  const lines = cell.split('\n');
  if (CELL.test(lines[0])) return ['', ...lines.slice(1)].join('\n');
  return lines.map((l) => (LINE.test(l) ? '' : l)).join('\n');
}

/**
 * The code that `%time`/`%timeit` run for `part`: the expression on its own line, with that line's column kept
 * where the wrapper allows, so a diagnostic points at the expression as typed.
 */
export function magicCode(part: Extract<Part, { kind: 'magic' }>, wrap: (expr: string) => [string, string] = (e) => ['', e]): string {
  const [open, body] = wrap(part.args);
  return '\n'.repeat(part.line) + open + ' '.repeat(Math.max(0, part.argsColumn - open.length)) + body;
}

/** `%timeit`'s statement as a function to call in a loop; async when it awaits. */
export function timeitWrapper(expr: string): [string, string] {
  return /\bawait\b/.test(expr) ? ['(async () => {', `${expr}\n})`] : ['(() => {', `${expr}\n})`];
}

/** A magic the kernel cannot run (unknown, or bad arguments): the cell fails with this message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function unsupported(name: string, cell: boolean): UsageError {
  return new UsageError(
    `${cell ? '%%' : '%'}${name} is not supported by this kernel. Line magics: ${LINE_MAGICS.map((m) => `%${m}`).join(', ')}; ` +
      `cell magics: ${CELL_MAGICS.map((m) => `%%${m}`).join(', ')}.`,
  );
}

/** IPython's time format: three significant digits in s, ms, µs or ns. */
export function formatSeconds(s: number): string {
  const units: [number, string][] = [[1, 's'], [1e-3, 'ms'], [1e-6, 'µs'], [1e-9, 'ns']];
  const [scale, unit] = units.find(([u]) => s >= u) ?? units[units.length - 1];
  return `${Number((s / scale).toPrecision(3))} ${unit}`;
}

/** A clock around something the cell runs: `%time` and `%%time` print what it read. */
export function startClock(): () => string {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  return () => {
    const used = process.cpuUsage(cpu);
    const user = used.user / 1e6;
    const sys = used.system / 1e6;
    return `CPU times: user ${formatSeconds(user)}, sys: ${formatSeconds(sys)}, total: ${formatSeconds(user + sys)}\nWall time: ${formatSeconds((performance.now() - wall) / 1000)}\n`;
  };
}

const TIMEIT_RUNS = 7;
const TIMEIT_MIN_SECONDS = 0.2;

/**
 * IPython's `%timeit`: loops per run grow (1, 2, 5, 10, 20 ...) until a run takes 0.2 s, then 7 runs; the line
 * gives the mean and spread per loop. `stop()` ends it early (the kernel's interrupt).
 */
export async function timeit(fn: () => unknown, stop: () => boolean): Promise<string> {
  const first = fn();
  const awaits = typeof (first as { then?: unknown } | null)?.then === 'function';
  if (awaits) await first;
  const loop = async (n: number): Promise<number> => {
    const t0 = performance.now();
    if (awaits) for (let i = 0; i < n; i++) await fn();
    else for (let i = 0; i < n; i++) fn();
    return (performance.now() - t0) / 1000;
  };
  const loops = (k: number): number => [1, 2, 5][k % 3] * 10 ** Math.floor(k / 3);
  let k = 0;
  while ((await loop(loops(k))) < TIMEIT_MIN_SECONDS && !stop()) k++;
  const number = loops(k);
  const perLoop: number[] = [];
  for (let i = 0; i < TIMEIT_RUNS && !stop(); i++) perLoop.push((await loop(number)) / number);
  const mean = perLoop.reduce((a, b) => a + b, 0) / perLoop.length;
  const std = Math.sqrt(perLoop.reduce((a, b) => a + (b - mean) ** 2, 0) / perLoop.length);
  const runs = perLoop.length;
  return `${formatSeconds(mean)} ± ${formatSeconds(std)} per loop (mean ± std. dev. of ${runs} run${runs === 1 ? '' : 's'}, ${number} loop${number === 1 ? '' : 's'} each)\n`;
}

/** What a simple magic gives: text for stdout, a value for the cell's result, or both. */
export interface MagicOutput {
  readonly text?: string;
  readonly value?: unknown;
}

/** `%env`, `%cd`, `%pwd`, `%who`, `%lsmagic`; `names` lists the session's variables for `%who`. */
export function simpleMagic(name: string, args: string, names: () => string[]): MagicOutput {
  switch (name) {
    case 'pwd':
      return { value: process.cwd() };
    case 'cd': {
      const dir = args === '' ? os.homedir() : args.replace(/^~(?=$|\/)/, os.homedir()).replace(/^(['"])(.*)\1$/, '$2');
      try {
        process.chdir(path.resolve(dir));
      } catch (e) {
        throw new UsageError(`%cd ${args}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : (e as Error).message}`);
      }
      return { text: `${process.cwd()}\n` };
    }
    case 'env': {
      if (args === '') {
        return { text: Object.keys(process.env).sort().map((k) => `${k}=${process.env[k]}`).join('\n') + '\n' };
      }
      const set = /^([^=\s]+)(?:\s*=\s*|\s+)(.*)$/.exec(args);
      if (set) {
        process.env[set[1]] = set[2];
        return { text: `env: ${set[1]}=${set[2]}\n` };
      }
      if (!(args in process.env)) throw new UsageError(`%env ${args}: no environment variable ${args}`);
      return { value: process.env[args] };
    }
    case 'who': {
      const list = names().sort();
      return { text: list.length ? `${list.join('\t')}\n` : 'Interactive namespace is empty.\n' };
    }
    case 'lsmagic':
      return {
        text: format('Available line magics:\n%s\n\nAvailable cell magics:\n%s\n', LINE_MAGICS.map((m) => `%${m}`).join('  '), CELL_MAGICS.map((m) => `%%${m}`).join('  ')),
      };
    default:
      throw unsupported(name, false);
  }
}
