/**
 * Type checking of cells: tslab 1.0.22 fixes its compiler options inside its converter (not strict, and no way
 * to read a tsconfig.json). The kernel keeps tslab's compiler and every option it needs to turn cells into
 * modules (module, target, lib, outDir, declaration ...), and adds the CHECKING options of the notebook's
 * project: those of the nearest tsconfig.json above the folder the kernel starts in (as `tsc` finds it), or
 * `strict: true` where there is none, the lab's house style.
 *
 * How, without forking tslab: its converter calls `ts.createWatchCompilerHost(files, options, ...)` on the
 * module '@tslab/typescript-for-tslab'. `installCompilerOptions` puts a copy of that module's exports in the
 * require cache, identical but for a `createWatchCompilerHost` that merges the checking options into `options`
 * (with an inline source map, and a `transpileModule` that keeps it: kernel/traceback.ts maps stack frames back to
 * the cell with them). It must run before tslab's converter is first loaded (kernel/launch.ts imports this file first).
 */
import * as path from 'node:path';
import type * as TS from '@tslab/typescript-for-tslab';
import { cellTranspile } from './traceback';

const TS_MODULE = '@tslab/typescript-for-tslab';

/**
 * The options taken from a tsconfig.json: type checking only. Left out: everything that shapes the output
 * tslab runs (module, target, lib, paths, outDir ...), and noUnusedLocals / noUnusedParameters, since a cell's
 * top-level names are usually meant for later cells.
 */
export const CHECKING_OPTIONS = [
  'strict',
  'noImplicitAny',
  'strictNullChecks',
  'strictFunctionTypes',
  'strictBindCallApply',
  'strictPropertyInitialization',
  'strictBuiltinIteratorReturn',
  'noImplicitThis',
  'useUnknownInCatchVariables',
  'alwaysStrict',
  'noImplicitReturns',
  'noFallthroughCasesInSwitch',
  'noUncheckedIndexedAccess',
  'exactOptionalPropertyTypes',
  'noImplicitOverride',
  'noPropertyAccessFromIndexSignature',
  'allowUnreachableCode',
  'allowUnusedLabels',
] as const;

export interface CellCheckOptions {
  /** The checking options the cells are compiled with. */
  readonly options: Readonly<Record<string, unknown>>;
  /** The tsconfig.json they came from, or null for the default (strict). */
  readonly from: string | null;
  /** Why a tsconfig.json that was found could not be used (the default applies then), or null. */
  readonly problem: string | null;
}

export const DEFAULT_CHECK_OPTIONS: Readonly<Record<string, unknown>> = { strict: true };

/** The checking options for cells run in `dir` (see the file comment). */
export function cellCheckOptions(dir: string, ts: typeof TS): CellCheckOptions {
  const file = ts.findConfigFile(dir, ts.sys.fileExists, 'tsconfig.json');
  if (!file) return { options: DEFAULT_CHECK_OPTIONS, from: null, problem: null };
  const read = ts.readConfigFile(file, ts.sys.readFile);
  const parsed = read.error ? null : ts.parseJsonConfigFileContent(read.config, ts.sys, path.dirname(file), undefined, file);
  const errors = read.error ? [read.error] : (parsed?.errors ?? []).filter((d) => d.code !== 18003); // 18003: no inputs found
  if (errors.length > 0 || !parsed) {
    const why = errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')).join('; ');
    return { options: DEFAULT_CHECK_OPTIONS, from: null, problem: `${file}: ${why}` };
  }
  const options: Record<string, unknown> = {};
  for (const key of CHECKING_OPTIONS) {
    if (parsed.options[key] !== undefined) options[key] = parsed.options[key];
  }
  return { options, from: file, problem: null };
}

/** One line for the kernel's banner: how cells are type-checked. */
export function describeCheckOptions(c: CellCheckOptions): string {
  const list = Object.entries(c.options).map(([k, v]) => (v === true ? k : `${k}: ${JSON.stringify(v)}`)).join(', ') || 'no extra checks';
  const source = c.from ? `from ${c.from}` : c.problem ? `the default, since ${c.problem}` : 'the default; a tsconfig.json above the notebook sets them';
  return `cells: type-checked with ${list} (${source})`;
}

/**
 * Make tslab's converter compile cells with `options` merged into its own. Returns the checking options in force.
 * Throws if the converter is already loaded, since it would keep the module it captured.
 */
export function installCompilerOptions(dir = process.cwd()): CellCheckOptions {
  const resolved = require.resolve(TS_MODULE);
  const converter = require.resolve('tslab/dist/converter');
  if (require.cache[converter]) throw new Error('installCompilerOptions must run before tslab/dist/converter is loaded');
  const real = require(TS_MODULE) as typeof TS;
  const check = cellCheckOptions(dir, real);
  const wrapped: Record<string, unknown> = {};
  for (const key of Object.keys(real)) {
    if (key === 'createWatchCompilerHost' || key === 'transpileModule') continue;
    Object.defineProperty(wrapped, key, { enumerable: true, get: () => (real as unknown as Record<string, unknown>)[key] });
  }
  Object.defineProperty(wrapped, 'createWatchCompilerHost', {
    enumerable: true,
    value: (...args: unknown[]) => {
      const [rootFiles, options, ...rest] = args;
      return (real.createWatchCompilerHost as (...a: unknown[]) => unknown)(rootFiles, { ...(options as object), ...check.options, inlineSourceMap: true }, ...rest);
    },
  });
  Object.defineProperty(wrapped, 'transpileModule', { enumerable: true, value: cellTranspile(real.transpileModule) });
  require.cache[resolved]!.exports = wrapped;
  return check;
}
