/**
 * Stack traces that point at what the user wrote: `at step (Cell In[3], line 4, column 11)` for a cell, and
 * `src/train/trainer.ts:120:13` for the lab, instead of `evalmachine.<anonymous>:8:11` and `dist/...js` lines.
 *
 * What runs is several steps away from what was typed. tslab compiles the cell (with `export {};\n` in front) to
 * an ES module, turns that into CommonJS with `ts.transpileModule`, wraps it in a function on the wrapper's first
 * line and runs it with `vm.runInThisContext` under the one name `evalmachine.<anonymous>` for every cell. So:
 * - the converter emits an inline source map (compiler-options.ts adds `inlineSourceMap`), and `cellTranspile`
 *   (tslab's second step, through the same wrapped TypeScript module) keeps that map and asks for one of its own;
 * - `vm.runInThisContext` is wrapped so that tslab's cell scripts (recognised by tslab's wrapper text) run under a
 *   name of their own, which ties each stack frame to its cell and its two maps;
 * - `Error.prepareStackTrace` rewrites frames of cells through both maps (and the shorthand expansion's columns),
 *   and frames of the lab's built files through the `.js.map` files tsc writes next to them. Every `error.stack`
 *   read in the kernel process reads this way: tracebacks, the guard's reports, a cell's own `console.log(e.stack)`.
 * Node's own `--enable-source-maps` does not cover vm scripts (Node 20), and reading the lab's maps only when a
 * stack is formatted costs nothing at start-up, unlike loading every module's map.
 */
import * as fs from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import * as path from 'node:path';
import vm from 'node:vm';
import type * as TS from '@tslab/typescript-for-tslab';
import { originalColumn, type Insertion } from './shorthand';

const INLINE_MAP = /\n\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/;
const EXTERNAL_MAP = /\n\/\/# sourceMappingURL=[^\n]*\s*$/;
// tslab's executor wraps each cell like this (tslab/dist/executor.js, `execute`).
const WRAPPER = /^\((async )?function\(exports, require\) \{ /;
const WRAPPER_END = '\n})(__tslab__.exports, __tslab__.require)';

interface Conversion {
  readonly output: string;
  /** ES module (tslab's first step) -> the cell as tslab compiled it, with its one-line prefix. */
  readonly toTs: SourceMap;
  /** CommonJS (what runs) -> the ES module. */
  readonly toEsm: SourceMap;
}

/** What the handler says about the next cell script: its label and how to map its lines back to the cell as typed. */
export interface CellText {
  /** `Cell In[3]` */
  readonly label: string;
  /** The cell as typed. */
  readonly typed: string;
  /** Shorthand insertions (kernel/shorthand.ts) in the code tslab compiled. */
  readonly insertions: readonly Insertion[];
  /** Called as the compiled script starts, after the compile (`%time` times from here). */
  readonly onRun?: () => void;
}

interface CellScript extends CellText {
  readonly conversion: Conversion;
  readonly firstLineShift: number;
  /** The wrapper's closing line, where tslab calls the cell's function: a frame there is tslab's, not the user's. */
  readonly callLine: number;
}

let lastConversion: Conversion | null = null;
let nextCell: CellText | null = null;
const scripts = new Map<string, CellScript>();
const cellsByLabel = new Map<string, string>();

function decodeMap(base64: string): SourceMap {
  return new SourceMap(JSON.parse(Buffer.from(base64, 'base64').toString('utf8')) as SourceMapPayload);
}

/**
 * `ts.transpileModule` as tslab's converter calls it for its ES module -> CommonJS step (file name `custom.js`):
 * the same output, minus source-map comments, with both maps kept for the cell about to run.
 */
export function cellTranspile(real: typeof TS.transpileModule): typeof TS.transpileModule {
  return (input, options) => {
    const inline = options.fileName === 'custom.js' ? INLINE_MAP.exec(input) : null;
    if (!inline) return real(input, options);
    const esm = input.slice(0, inline.index);
    const out = real(esm, { ...options, compilerOptions: { ...options.compilerOptions, sourceMap: true, inlineSourceMap: false } });
    const output = out.outputText.replace(EXTERNAL_MAP, '\n');
    if (out.sourceMapText) {
      lastConversion = { output, toTs: decodeMap(inline[1]), toEsm: new SourceMap(JSON.parse(out.sourceMapText) as SourceMapPayload) };
    }
    return { ...out, outputText: output, sourceMapText: undefined };
  };
}

/** The next cell script tslab runs is `cell` (the handler calls this before each execution). */
export function expectCell(cell: CellText): void {
  nextCell = cell;
}

/** Run tslab's cell scripts under a name of their own (see the file comment); everything else as before. */
function nameCellScripts(): void {
  const run = vm.runInThisContext;
  // The module object itself (not a namespace copy): tslab's executor looks the function up on it at each call.
  (vm as { runInThisContext: typeof run }).runInThisContext = (code: string, options?: vm.RunningScriptOptions | string): unknown => {
    const conversion = lastConversion;
    const cell = nextCell;
    const head = typeof options === 'object' && options.filename === undefined ? WRAPPER.exec(code) : null;
    if (typeof options === 'object' && head && cell && conversion && code.endsWith(WRAPPER_END) && code.slice(head[0].length, -WRAPPER_END.length) === conversion.output) {
      const filename = `transfusion-cell-${scripts.size + 1}`;
      scripts.set(filename, { ...cell, conversion, firstLineShift: head[0].length, callLine: code.split('\n').length });
      cellsByLabel.set(cell.label, filename);
      nextCell = null;
      cell.onRun?.();
      return run.call(vm, code, { ...options, filename });
    }
    return run.call(vm, code, options);
  };
}

/** 1-based line and column in the cell as typed, of a 1-based position in one of its scripts. */
function cellPosition(script: CellScript, line: number, column: number): { line: number; column: number } | null {
  const col = column - 1 - (line === 1 ? script.firstLineShift : 0);
  const esm = script.conversion.toEsm.findEntry(line - 1, Math.max(0, col)) as { originalLine?: number; originalColumn?: number };
  if (esm.originalLine === undefined || esm.originalColumn === undefined) return null;
  const ts = script.conversion.toTs.findEntry(esm.originalLine, esm.originalColumn) as { originalLine?: number; originalColumn?: number };
  // Line 0 of what tslab compiled is its `export {};` prefix.
  if (ts.originalLine === undefined || ts.originalColumn === undefined || ts.originalLine < 1) return null;
  const typedLine = ts.originalLine - 1;
  return { line: typedLine + 1, column: originalColumn(script.insertions, typedLine, ts.originalColumn) + 1 };
}

const libraryMaps = new Map<string, SourceMap | null>();

/** The `.js.map` next to one of the lab's built files, read on first use. */
function libraryMap(file: string, root: string): SourceMap | null {
  if (!file.startsWith(root + path.sep) || file.includes(`${path.sep}node_modules${path.sep}`) || !file.endsWith('.js')) return null;
  if (!libraryMaps.has(file)) {
    let map: SourceMap | null = null;
    try {
      map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')) as SourceMapPayload);
    } catch {
      // No map (a build without sourceMap): the frame keeps its built location.
    }
    libraryMaps.set(file, map);
  }
  return libraryMaps.get(file) ?? null;
}

/** The frame as Node writes it, located in the cell or the lab's source; null for tslab's call of a cell. */
function frameText(frame: NodeJS.CallSite, root: string): string | null {
  const text = frame.toString();
  const file = frame.getFileName();
  const line = frame.getLineNumber();
  const column = frame.getColumnNumber();
  if (!file || line === null || column === null) return text;
  const at = `${file}:${line}:${column}`;
  const script = scripts.get(file);
  if (script) {
    if (line === script.callLine) return null;
    const typed = cellPosition(script, line, column);
    // tslab calls a cell's functions through its `exports` proxy, which V8 names as the receiver: `Proxy.step`.
    const named = text.replace(/^(async )?Proxy\./, '$1');
    return typed ? named.replace(at, `${script.label}, line ${typed.line}, column ${typed.column}`) : named.replace(file, script.label);
  }
  const map = libraryMap(file, root);
  if (!map) return text;
  const entry = map.findEntry(line - 1, column - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
  if (entry.originalSource === undefined || entry.originalLine === undefined || entry.originalColumn === undefined) return text;
  const source = path.resolve(path.dirname(file), entry.originalSource);
  return text.replace(at, `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`);
}

let formatting = false;

/** Node's stack format (`String(error)` then `    at ...` lines) with the locations rewritten. */
function prepareStackTrace(root: string): (error: Error, frames: NodeJS.CallSite[]) => string {
  return (error, frames) => {
    let head: string;
    try {
      head = Error.prototype.toString.call(error);
    } catch {
      head = 'Error';
    }
    // A failure inside the rewriting must not recurse into itself or lose the stack.
    if (formatting) return head + frames.map((f) => `\n    at ${f}`).join('');
    formatting = true;
    try {
      return head + frames.map((f) => frameText(f, root)).filter((t) => t !== null).map((t) => `\n    at ${t}`).join('');
    } catch {
      return head + frames.map((f) => `\n    at ${f}`).join('');
    } finally {
      formatting = false;
    }
  };
}

/** Install the cell script names and the stack rewriting; `root` is the lab whose built files get mapped. */
export function installTracebacks(root: string): void {
  nameCellScripts();
  Error.prepareStackTrace = prepareStackTrace(root);
}

/**
 * The cell lines around the innermost cell frame of a stack, as IPython shows them:
 * `Cell In[3], line 4`, then the lines before it and the line itself marked `---->`.
 */
export function cellExcerpt(stack: readonly string[]): string[] {
  for (const line of stack) {
    const m = /\((Cell In\[\d+\]), line (\d+), column \d+\)$|at (Cell In\[\d+\]), line (\d+), column \d+$/.exec(line);
    if (!m) continue;
    const label = m[1] ?? m[3];
    const n = Number(m[2] ?? m[4]);
    const script = scripts.get(cellsByLabel.get(label) ?? '');
    if (!script) return [];
    const lines = script.typed.split('\n');
    const width = String(Math.min(lines.length, n + 1)).length;
    const out = [`${label}, line ${n}`];
    for (let i = Math.max(1, n - 2); i <= Math.min(lines.length, n + 1); i++) {
      out.push(`${i === n ? '---->' : '     '} ${String(i).padStart(width)} ${lines[i - 1]}`);
    }
    return out;
  }
  return [];
}
