/**
 * Inspection inside a call, the rest of what IPython shows there (issue 15): below the called function's signature
 * and doc comment, the fields of the options object it takes, one a line, with their types and the part of their
 * doc comment that says what they are and their default:
 *
 *   options: TrainRunOptions {
 *     name: string;  // Folder name of the run under `root`.
 *     steps?: number;  // Optimiser steps. Default 200 (about a minute on the native CPU backend ...).
 *   }
 *
 * The fields come from TypeScript's type checker, over the very program tslab type-checks the cells with (earlier
 * cells' declarations included, so `lab.` resolves). tslab 1.0.22 exposes neither that program nor its checker; its
 * converter answers `inspect_request` with `ts.getQuickInfoAtPosition(sourceFile, checker, token, position)`
 * (node_modules/tslab/dist/converter.js, `inspect`). So this module puts a layer over '@tslab/typescript-for-tslab'
 * in the require cache, the way kernel/compiler-options.ts merges the compiler options in, whose
 * `getQuickInfoAtPosition` notes the source file and checker it is called with while `inspectCall` runs tslab's
 * inspect of the callee; the fields are read through them before it returns. The layer must be in place before
 * tslab's converter is loaded: kernel/launch.ts imports this module second, after kernel/cell-checks.ts. Loaded
 * later (a unit test of the handler alone), it installs nothing and inspection shows no field list.
 */
import * as ts from '@tslab/typescript-for-tslab';

const TS_MODULE = '@tslab/typescript-for-tslab';

/** What tslab's converter hands to `getQuickInfoAtPosition`: the cell program's source file and checker. */
interface Tapped {
  readonly sourceFile: ts.SourceFile;
  readonly checker: ts.TypeChecker;
}

/**
 * Set only while `inspectCall` runs: undefined outside it (the layer then records nothing), null until tslab's
 * inspect calls `getQuickInfoAtPosition`. Never held after, so no earlier program outlives tslab's use of it.
 */
let tapped: Tapped | null | undefined;

/**
 * Layer the TypeScript module tslab's converter will load (see the file comment). Returns false, changing nothing,
 * when the converter is already loaded: it keeps the module object it captured.
 */
function installTap(): boolean {
  if (require.cache[require.resolve('tslab/dist/converter')]) return false;
  const resolved = require.resolve(TS_MODULE);
  // The module as it is now: kernel/compiler-options.ts's layer when the kernel runs, else TypeScript itself.
  const current = require(TS_MODULE) as typeof ts;
  const layer: Record<string, unknown> = {};
  for (const key of Object.keys(current)) {
    if (key === 'getQuickInfoAtPosition') continue;
    Object.defineProperty(layer, key, { enumerable: true, get: () => (current as unknown as Record<string, unknown>)[key] });
  }
  // Not in the public typings: the fork exports it for tslab (the language service's own takes a file name).
  const quickInfo = (current as unknown as { getQuickInfoAtPosition: (...args: unknown[]) => unknown }).getQuickInfoAtPosition;
  Object.defineProperty(layer, 'getQuickInfoAtPosition', {
    enumerable: true,
    value: (sourceFile: ts.SourceFile, checker: ts.TypeChecker, ...rest: unknown[]) => {
      if (tapped !== undefined) tapped = { sourceFile, checker };
      return quickInfo(sourceFile, checker, ...rest);
    },
  });
  require.cache[resolved]!.exports = layer;
  return true;
}

/** Whether tslab's inspect reports its checker here (false when this module loaded after tslab's converter). */
export const fieldsAvailable = installTap();

/** A call or `new` expression, the two kinds of parentheses inspection looks inside. */
export type Call = ts.CallExpression | ts.NewExpression;

/**
 * The innermost call whose argument parentheses hold `position` in `source`. A call still being typed has no `)`:
 * its parentheses reach to the end of the source, trailing spaces too.
 */
export function innermostCall(source: ts.SourceFile, position: number): Call | undefined {
  const text = source.text;
  let found: Call | undefined;
  const visit = (node: ts.Node): void => {
    const end = text.charAt(node.end - 1) === ')' ? node.end - 1 : text.length;
    if ((ts.isCallExpression(node) || ts.isNewExpression(node)) && node.arguments && node.arguments.pos <= position && position <= end) found = node;
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The end of the name a call calls (`lab.trainRun(` gives the end of `trainRun`): where tslab's inspect finds it. */
export function calleeEnd(call: Call): number {
  return ts.isPropertyAccessExpression(call.expression) ? call.expression.name.end : call.expression.end;
}

/** A node the parser made up for what is not written yet (`{ steps:|`): it has no text. */
function missing(node: ts.Node): boolean {
  return node.getStart() >= node.end;
}

/**
 * Whether `position` is at a place of the call's own rather than on something inside its arguments: between or after
 * them (`f(|`, `f(1, |`), on a field name of an object literal passed to it (`{ ste|ps: 5 }`, `{ steps|`), or at a
 * field with no value yet (`{ steps:|`). There the user is writing the call, so inspection shows the call, with its
 * options' fields, not what tslab finds under the cursor (the one field; `any` after a trailing comma).
 */
export function atCallSlot(call: Call, position: number): boolean {
  const arg = (call.arguments ?? []).find((a) => !missing(a) && a.getStart() <= position && position <= a.end);
  if (!arg) return true;
  if (!ts.isObjectLiteralExpression(arg)) return false;
  return arg.properties.some((p) => {
    if (!p.name || position < p.name.getStart() || position > p.end) return false;
    return position <= p.name.end || (ts.isPropertyAssignment(p) && missing(p.initializer));
  });
}

/**
 * Whether a parameter's type is an options object: an object type with properties, no call or construct signature,
 * not a class instance and no methods. A method marks a data object (src/data/image.ts's ImageDataset) or a built-in
 * (Array, Map, Promise), whose members are not options to fill in.
 */
function isOptionsType(checker: ts.TypeChecker, type: ts.Type): boolean {
  const parts = type.isIntersection() ? type.types : [type];
  if (!parts.every((t) => (t.flags & ts.TypeFlags.Object) !== 0)) return false;
  if (checker.getSignaturesOfType(type, ts.SignatureKind.Call).length > 0) return false;
  if (checker.getSignaturesOfType(type, ts.SignatureKind.Construct).length > 0) return false;
  if (parts.some((t) => ((t.getSymbol()?.flags ?? 0) & ts.SymbolFlags.Class) !== 0)) return false;
  const properties = checker.getPropertiesOfType(type);
  if (properties.length === 0) return false;
  return !properties.some((p) => (p.getDeclarations() ?? []).some((d) => ts.isMethodSignature(d) || ts.isMethodDeclaration(d)));
}

/**
 * The part of a field's doc comment shown on its line: the first sentence, and the first one that states a default
 * when the first does not (the lab's doc comments say "Default 8." or "(default 'runs')"), plus a JSDoc `@default`.
 */
function docSummary(doc: string, defaultTag?: string): string {
  const sentences = doc.replace(/\s+/g, ' ').trim().split(/(?<=[.!?])\s+(?=[A-Z])/).filter((s) => s.length > 0);
  const shown = sentences.slice(0, 1);
  const stating = sentences.find((s) => /\bdefaults?\b/i.test(s));
  if (stating && !shown.some((s) => /\bdefaults?\b/i.test(s))) shown.push(stating);
  if (defaultTag) shown.push(`Default ${defaultTag.replace(/\s+/g, ' ').trim()}.`);
  return shown.join(' ');
}

/**
 * A field's or parameter's type as its declaration writes it (`steps?: number` reads `number`, not `number |
 * undefined`), which keeps the names of aliases: `model?: DeepPartial<TransfusionConfig>` rather than the dozens of
 * nested fields the checker would print for it (DeepPartial, src/config.ts, is a conditional type, whose alias the
 * checker does not keep). The checker's name for it where nothing is written (an inferred or mapped type).
 */
function declaredType(checker: ts.TypeChecker, symbol: ts.Symbol, type: () => ts.Type, at: ts.Node): string {
  for (const d of symbol.getDeclarations() ?? []) {
    if ((ts.isPropertySignature(d) || ts.isPropertyDeclaration(d) || ts.isParameter(d)) && d.type) return d.type.getText().replace(/\s+/g, ' ');
  }
  return checker.typeToString(type(), at);
}

/** One line of the field list. */
function fieldLine(checker: ts.TypeChecker, field: ts.Symbol, at: ts.Node): string {
  const optional = (field.flags & ts.SymbolFlags.Optional) !== 0 ? '?' : '';
  const defaultTag = field.getJsDocTags(checker).find((t) => t.name === 'default' || t.name === 'defaultValue');
  const doc = docSummary(ts.displayPartsToString(field.getDocumentationComment(checker)), defaultTag?.text ? ts.displayPartsToString(defaultTag.text) : undefined);
  const type = declaredType(checker, field, () => checker.getTypeOfSymbolAtLocation(field, at), at);
  return `  ${field.getName()}${optional}: ${type};${doc ? `  // ${doc}` : ''}`;
}

/**
 * The field list of the options object taken by the call around `cursor` in the program tslab inspected (the first
 * parameter whose type is one, see isOptionsType), or null when it takes none.
 */
function optionFields({ sourceFile, checker }: Tapped, code: string, cursor: number): string | null {
  if (!sourceFile.text.endsWith(code)) return null;
  // tslab compiles the cell behind a one-line prefix that makes it a module (`export {};`).
  const call = innermostCall(sourceFile, cursor + sourceFile.text.length - code.length);
  if (!call) return null;
  // The signature the arguments so far resolve to; while they match no overload yet (`lab.trainRun({ steps: ` lacks
  // the required name), the declared ones in order, the first being the one the tooltip's signature line shows.
  const resolved = checker.getResolvedSignature(call);
  const declared = checker.getSignaturesOfType(checker.getTypeAtLocation(call.expression), ts.SignatureKind.Call);
  for (const signature of [resolved, ...declared]) {
    for (const parameter of signature?.getParameters() ?? []) {
      const type = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(parameter, call));
      if (!isOptionsType(checker, type)) continue;
      const lines = checker.getPropertiesOfType(type).map((field) => fieldLine(checker, field, call));
      return [`${parameter.getName()}: ${declaredType(checker, parameter, () => type, call)} {`, ...lines, '}'].join('\n');
    }
  }
  return null;
}

/**
 * Run tslab's inspect of `code` (`inspect`, at the callee of the call around `cursor`) and, when it found the callee,
 * read the field list of that call's options object through the checker tslab used: null when there is none, or
 * when this module loaded too late to see the checker (see the file comment).
 */
export function inspectCall<R extends { readonly found: boolean }>(inspect: () => R, code: string, cursor: number): { inspected: R; fields: string | null } {
  tapped = null;
  try {
    const inspected = inspect();
    return { inspected, fields: inspected.found && tapped ? optionFields(tapped, code, cursor) : null };
  } finally {
    tapped = undefined;
  }
}
