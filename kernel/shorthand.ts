/**
 * Shorthand properties across cells: `const model = ...` in one cell, `{ model }` in a later one.
 *
 * tslab 1.0.22 keeps a cell's top-level variables on an `exports` object and rewrites every later reference to
 * them as `exports.name`; it finds those references with `checker.getSymbolAtLocation(identifier)`. For the name
 * in a shorthand property that call returns the PROPERTY's symbol (declared in the new cell), not the variable's,
 * so `{ model }` is left as it is and throws "model is not defined" at run time, while `{ model: model }` works.
 * Researchers write `{ model, trainer }` all the time, so the kernel spells shorthands out before tslab compiles
 * the cell: `{ v }` becomes `{ v: v }` and `({ v = 1 } = o)` becomes `({ v: v = 1 } = o)`, which mean exactly
 * the same in TypeScript and JavaScript. The insertions never add a line, and `originalColumn` maps a compiler
 * diagnostic's column back to the cell as typed. Done here rather than by patching tslab in node_modules
 * because the kernel owns the cell text before tslab sees it, and a patch would have to survive every `npm ci`.
 */
import * as ts from '@tslab/typescript-for-tslab';

/** One insertion: after column `column` (0-based, in the original line `line`) the text `: name` was added. */
export interface Insertion {
  readonly line: number;
  readonly column: number;
  readonly length: number;
  /** Column of the shorthand name itself (0-based), where a diagnostic inside the insertion points. */
  readonly nameColumn: number;
}

export interface Expanded {
  readonly code: string;
  /** In source order. */
  readonly insertions: readonly Insertion[];
}

// Parsed as a module, like tslab compiles cells, so a top-level `await` parses.
const PREFIX = 'export {};\n';

/** `code` with every shorthand property assignment spelled out (see the file comment). */
export function expandShorthands(code: string): Expanded {
  if (!code.includes('{')) return { code, insertions: [] };
  const source = ts.createSourceFile('cell.ts', PREFIX + code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const names: ts.Identifier[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isShorthandPropertyAssignment(node)) names.push(node.name);
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (names.length === 0) return { code, insertions: [] };
  names.sort((a, b) => a.end - b.end);
  const insertions: Insertion[] = [];
  let out = '';
  let at = 0;
  for (const name of names) {
    const end = name.end - PREFIX.length;
    // A missing name (a syntax error the parser recovered from) has no text to repeat.
    if (name.text.length === 0 || end < at) continue;
    const added = `: ${name.text}`;
    out += code.slice(at, end) + added;
    at = end;
    const { line, character } = source.getLineAndCharacterOfPosition(name.end);
    const start = source.getLineAndCharacterOfPosition(name.getStart(source));
    insertions.push({ line: line - 1, column: character, length: added.length, nameColumn: start.character });
  }
  return { code: out + code.slice(at), insertions };
}

/** The column (0-based) in the original cell of column `column` on line `line` (0-based) of the expanded one. */
export function originalColumn(insertions: readonly Insertion[], line: number, column: number): number {
  let shift = 0;
  for (const ins of insertions) {
    if (ins.line !== line) continue;
    const start = ins.column + shift;
    if (column < start) break;
    if (column < start + ins.length) return ins.nameColumn;
    shift += ins.length;
  }
  return column - shift;
}
